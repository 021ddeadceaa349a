import type { ChatMessage, ToolCallRequest, ToolSpec } from './chat-model.js';
import type { ModelChain, ProviderAttempt, StepCallbacks } from './model-chain.js';

export interface ToolCallSummary {
  name: string;
  status: string;
}

export interface ExecutedToolCall extends ToolCallSummary {
  content: string;
  isError: boolean;
  /** The call ended the turn (request_human): the reply closes with this text, no further model call. */
  endTurn?: string | undefined;
}

export interface AgentTurnInput {
  system: string;
  history: ChatMessage[];
  tools: ToolSpec[];
  maxSteps: number;
  maxOutputTokens: number;
  signal: AbortSignal;
  executeTool(call: ToolCallRequest, context: { step: number; provider: string; model: string }): Promise<ExecutedToolCall>;
  /** Text as it streams. After a provider switch the client is told to discard, then given the kept text again. */
  stream: StepCallbacks;
  /** The turn's journal: steps an earlier run recorded are replayed, not asked again; new tool-asking steps are recorded. */
  journal?: StepJournal;
}

/** A model step as the model answered it. */
export interface JournaledStep {
  text: string;
  toolCalls: ToolCallRequest[];
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
}

/**
 * Durable steps, as durable-execution engines keep them: a step that asked for tools is
 * recorded before the tools run, and a retried turn replays it (the same calls, the same
 * idempotency keys) instead of asking a model that would answer differently.
 */
export interface StepJournal {
  recorded(step: number): JournaledStep | undefined;
  record(step: number, output: JournaledStep): Promise<void>;
}

export interface AgentTurnResult {
  text: string;
  provider: string;
  model: string;
  steps: number;
  /** `handoff`: a tool ended the turn (request_human). */
  stoppedBy: 'answer' | 'step-limit' | 'handoff';
  toolCalls: ToolCallSummary[];
  attempts: ProviderAttempt[];
  inputTokens: number;
  outputTokens: number;
}

const STEP_SEPARATOR = '\n\n';
export const STEP_LIMIT_REPLY = "I couldn't finish that within the allowed number of steps.";

/**
 * The multi-step tool loop: ask the model; if it asks for tools, run them and feed
 * the results back; stop at a final answer or after `maxSteps` model calls.
 * Throws AllProvidersFailedError (from the chain) when no provider can answer.
 */
export async function runAgentTurn(chain: ModelChain, input: AgentTurnInput): Promise<AgentTurnResult> {
  const messages: ChatMessage[] = [...input.history];
  const progress = chain.startTurn();
  const toolCalls: ToolCallSummary[] = [];
  const keptTexts: string[] = [];
  let inputTokens = 0;
  let outputTokens = 0;

  for (let step = 0; step < input.maxSteps; step++) {
    // Text from earlier steps is already on the client; a separator keeps steps readable.
    let needsSeparator = keptTexts.some((text) => text.length > 0);
    const replayed = input.journal?.recorded(step);
    if (replayed) {
      // Shown again: the client of a retried turn may have dropped what the first run streamed.
      if (replayed.text) input.stream.onTextDelta(needsSeparator ? `${STEP_SEPARATOR}${replayed.text}` : replayed.text);
    }
    const result = replayed ? fromJournal(replayed) : await chain.runStep(
      {
        system: input.system,
        messages,
        tools: input.tools,
        maxOutputTokens: input.maxOutputTokens,
        signal: input.signal,
      },
      step,
      progress,
      {
        onTextDelta: (delta) => {
          if (needsSeparator) {
            input.stream.onTextDelta(STEP_SEPARATOR);
            needsSeparator = false;
          }
          input.stream.onTextDelta(delta);
        },
        onDiscard: () => {
          input.stream.onDiscard();
          const kept = joinTexts(keptTexts);
          if (kept) input.stream.onTextDelta(kept);
          needsSeparator = kept.length > 0;
        },
      },
    );
    inputTokens += result.usage.inputTokens;
    outputTokens += result.usage.outputTokens;
    keptTexts.push(result.text);

    const base = { provider: result.model.provider, model: result.model.model };
    if (!replayed && result.toolCalls.length > 0) {
      await input.journal?.record(step, { text: result.text, toolCalls: result.toolCalls, ...base, ...result.usage });
    }
    if (result.toolCalls.length === 0) {
      return { ...base, text: joinTexts(keptTexts), steps: step + 1, stoppedBy: 'answer', toolCalls, attempts: progress.attempts, inputTokens, outputTokens };
    }

    messages.push({ role: 'assistant', content: result.text, toolCalls: result.toolCalls });
    const endings: string[] = [];
    for (const call of result.toolCalls) {
      const executed = await input.executeTool(call, { step, ...base });
      toolCalls.push({ name: executed.name, status: executed.status });
      messages.push({ role: 'tool', toolCallId: call.id, toolName: call.name, content: executed.content, isError: executed.isError });
      if (executed.endTurn) endings.push(executed.endTurn);
    }
    if (endings.length > 0) {
      // The conversation went to a person: no further model call; the reply closes with the tool's text.
      const ending = endings.join(STEP_SEPARATOR);
      input.stream.onTextDelta(keptTexts.some((text) => text.length > 0) ? `${STEP_SEPARATOR}${ending}` : ending);
      keptTexts.push(ending);
      return { ...base, text: joinTexts(keptTexts), steps: step + 1, stoppedBy: 'handoff', toolCalls, attempts: progress.attempts, inputTokens, outputTokens };
    }

    if (step === input.maxSteps - 1) {
      const text = joinTexts(keptTexts);
      if (!text) input.stream.onTextDelta(STEP_LIMIT_REPLY);
      return { ...base, text: text || STEP_LIMIT_REPLY, steps: step + 1, stoppedBy: 'step-limit', toolCalls, attempts: progress.attempts, inputTokens, outputTokens };
    }
  }
  throw new Error('unreachable: maxSteps must be at least 1');
}

function fromJournal(step: JournaledStep): { text: string; toolCalls: ToolCallRequest[]; usage: { inputTokens: number; outputTokens: number }; model: { provider: string; model: string } } {
  return {
    text: step.text,
    toolCalls: step.toolCalls,
    usage: { inputTokens: step.inputTokens, outputTokens: step.outputTokens },
    model: { provider: step.provider, model: step.model },
  };
}

function joinTexts(texts: string[]): string {
  return texts.filter((text) => text.length > 0).join(STEP_SEPARATOR);
}
