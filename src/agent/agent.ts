import type { ChatMessage, ToolCallRequest, ToolSpec } from './chat-model.js';
import type { ModelChain, ProviderAttempt, StepCallbacks } from './model-chain.js';

export interface ToolCallSummary {
  name: string;
  status: string;
}

export interface ExecutedToolCall extends ToolCallSummary {
  content: string;
  isError: boolean;
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
}

export interface AgentTurnResult {
  text: string;
  provider: string;
  model: string;
  steps: number;
  stoppedBy: 'answer' | 'step-limit';
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
    const result = await chain.runStep(
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
    if (result.toolCalls.length === 0) {
      return { ...base, text: joinTexts(keptTexts), steps: step + 1, stoppedBy: 'answer', toolCalls, attempts: progress.attempts, inputTokens, outputTokens };
    }

    messages.push({ role: 'assistant', content: result.text, toolCalls: result.toolCalls });
    for (const call of result.toolCalls) {
      const executed = await input.executeTool(call, { step, ...base });
      toolCalls.push({ name: executed.name, status: executed.status });
      messages.push({ role: 'tool', toolCallId: call.id, toolName: call.name, content: executed.content, isError: executed.isError });
    }

    if (step === input.maxSteps - 1) {
      const text = joinTexts(keptTexts);
      if (!text) input.stream.onTextDelta(STEP_LIMIT_REPLY);
      return { ...base, text: text || STEP_LIMIT_REPLY, steps: step + 1, stoppedBy: 'step-limit', toolCalls, attempts: progress.attempts, inputTokens, outputTokens };
    }
  }
  throw new Error('unreachable: maxSteps must be at least 1');
}

function joinTexts(texts: string[]): string {
  return texts.filter((text) => text.length > 0).join(STEP_SEPARATOR);
}
