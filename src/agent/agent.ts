import type { ChatMessage, TokenUsage, ToolCallRequest, ToolSpec } from './chat-model.js';
import { AllProvidersFailedError, type ModelChain, type ProviderAttempt, type StepCallbacks } from './model-chain.js';
import type { ModelPrices } from './model-prices.js';
import { RepeatedCallGuard } from './repeated-call-guard.js';

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
  executeTool(call: ToolCallRequest, context: ToolCallContext): Promise<ExecutedToolCall>;
  /**
   * Records a call the turn refused without running it (the same call again, see
   * repeated-call-guard.ts) and returns what the model reads; without it the model reads `error` as is.
   */
  refuseTool?(call: ToolCallRequest, context: ToolCallContext, error: string): Promise<ExecutedToolCall>;
  /** Prices each model call (MODEL_PRICES); without it the turn's cost is null (its tokens are still counted). */
  prices?: ModelPrices;
  /** Told of each model call this run made (not of steps replayed from the journal): the cost metrics. */
  onModelCall?(call: ModelCall): void;
  /**
   * What the turn may still spend (the tightest budget's headroom): no further model call starts once
   * the turn's priced calls cost that much, and the reply closes with `reply`.
   */
  budget?: { remainingUsd: number; reply: string };
  /** Text as it streams. After a provider switch the client is told to discard, then given the kept text again. */
  stream: StepCallbacks;
  /** The turn's journal: steps an earlier run recorded are replayed, not asked again; new tool-asking steps are recorded. */
  journal?: StepJournal;
}

export interface ToolCallContext {
  step: number;
  provider: string;
  model: string;
}

/** One model call's tokens and what they cost (null: the model has no price). */
export interface ModelCall extends TokenUsage {
  provider: string;
  model: string;
  costUsd: number | null;
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
  /** `handoff`: a tool ended the turn (request_human); `budget`: the turn's budget was spent before a further model call. */
  stoppedBy: 'answer' | 'step-limit' | 'handoff' | 'budget';
  toolCalls: ToolCallSummary[];
  attempts: ProviderAttempt[];
  inputTokens: number;
  outputTokens: number;
  /** USD of the turn's model calls, each at its own model's price; null when none of them has a price. */
  costUsd: number | null;
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
  const repeats = new RepeatedCallGuard();
  let inputTokens = 0;
  let outputTokens = 0;
  let costUsd: number | null = null;
  const totals = () => ({ toolCalls, attempts: progress.attempts, inputTokens, outputTokens, costUsd });
  /** Closes the reply with a text of the turn's own (request_human's notice, the budget reply). */
  const closeWith = (ending: string) => {
    input.stream.onTextDelta(keptTexts.some((text) => text.length > 0) ? `${STEP_SEPARATOR}${ending}` : ending);
    keptTexts.push(ending);
    return joinTexts(keptTexts);
  };
  let last = { provider: '', model: '' };

  for (let step = 0; step < input.maxSteps; step++) {
    // Text from earlier steps is already on the client; a separator keeps steps readable.
    let needsSeparator = keptTexts.some((text) => text.length > 0);
    const replayed = input.journal?.recorded(step);
    if (!replayed && input.budget && step > 0 && (costUsd ?? 0) >= input.budget.remainingUsd) {
      // The budget was checked before the turn; a turn that spends it stops before its next call.
      return { ...last, text: closeWith(input.budget.reply), steps: step, stoppedBy: 'budget', ...totals() };
    }
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
    ).catch((error: unknown) => {
      // The steps before this one were paid for: the fallback record keeps what they used.
      if (error instanceof AllProvidersFailedError && step > 0) error.spent = { inputTokens, outputTokens, costUsd };
      throw error;
    });
    inputTokens += result.usage.inputTokens;
    outputTokens += result.usage.outputTokens;
    keptTexts.push(result.text);

    const base = { provider: result.model.provider, model: result.model.model };
    last = base;
    // Each call at its own model's price: a fallback mid-turn is priced as the model that answered.
    const callCost = input.prices?.costOf(base.provider, base.model, result.usage) ?? null;
    if (callCost !== null) costUsd = (costUsd ?? 0) + callCost;
    if (!replayed) input.onModelCall?.({ ...base, ...result.usage, costUsd: callCost });
    if (!replayed && result.toolCalls.length > 0) {
      await input.journal?.record(step, { text: result.text, toolCalls: result.toolCalls, ...base, ...result.usage });
    }
    if (result.toolCalls.length === 0) {
      return { ...base, text: joinTexts(keptTexts), steps: step + 1, stoppedBy: 'answer', ...totals() };
    }

    messages.push({ role: 'assistant', content: result.text, toolCalls: result.toolCalls });
    const endings: string[] = [];
    for (const call of result.toolCalls) {
      const repeated = repeats.admit(call);
      const executed = repeated
        ? await refuse(input, call, { step, ...base }, repeated)
        : await input.executeTool(call, { step, ...base });
      toolCalls.push({ name: executed.name, status: executed.status });
      messages.push({ role: 'tool', toolCallId: call.id, toolName: call.name, content: executed.content, isError: executed.isError });
      if (executed.endTurn) endings.push(executed.endTurn);
    }
    if (endings.length > 0) {
      // The conversation went to a person: no further model call; the reply closes with the tool's text.
      return { ...base, text: closeWith(endings.join(STEP_SEPARATOR)), steps: step + 1, stoppedBy: 'handoff', ...totals() };
    }

    if (step === input.maxSteps - 1) {
      const text = joinTexts(keptTexts);
      if (!text) input.stream.onTextDelta(STEP_LIMIT_REPLY);
      return { ...base, text: text || STEP_LIMIT_REPLY, steps: step + 1, stoppedBy: 'step-limit', ...totals() };
    }
  }
  throw new Error('unreachable: maxSteps must be at least 1');
}

/** A call the guard refused: recorded when the caller can, and read by the model as a tool error either way. */
async function refuse(input: AgentTurnInput, call: ToolCallRequest, context: ToolCallContext, error: string): Promise<ExecutedToolCall> {
  if (input.refuseTool) return input.refuseTool(call, context, error);
  return { name: call.name, status: 'refused', content: JSON.stringify({ error }), isError: true };
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
