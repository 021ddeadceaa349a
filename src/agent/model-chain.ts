import type { ChatModel, ChatRequest, FinishReason, TokenUsage, ToolCallRequest } from './chat-model.js';
import { ProviderError, SwitchboardError } from '../errors.js';
import type { Logger } from '../logger.js';

/** One provider attempt within a turn, stored on the message for the admin log. */
export interface ProviderAttempt {
  provider: string;
  model: string;
  step: number;
  outcome: 'ok' | 'error';
  errorKind?: string;
  status?: number;
  ms: number;
}

export interface StepResult {
  text: string;
  toolCalls: ToolCallRequest[];
  usage: TokenUsage;
  finishReason: FinishReason;
  model: ChatModel;
}

export interface StepCallbacks {
  onTextDelta(delta: string): void;
  /** The step failed after streaming text: whatever of it was shown must be discarded. */
  onDiscard(): void;
}

/** The state of one turn across its steps: which model answers and what was tried. */
export interface TurnProgress {
  modelIndex: number;
  attempts: ProviderAttempt[];
}

export class AllProvidersFailedError extends SwitchboardError {
  override readonly name = 'AllProvidersFailedError';
  constructor(
    readonly attempts: ProviderAttempt[],
    readonly lastError: unknown,
  ) {
    super('provider_error', attempts.length === 0 ? 'no LLM provider is configured' : 'every LLM provider failed', {
      cause: lastError,
    });
  }
}

/**
 * The providers in LLM_PROVIDERS order. A step goes to the turn's current model;
 * when it fails, the same step moves to the next model with the same messages, so
 * tool calls already made are not made again. This is the seam where retry and
 * circuit-breaker policies wrap each attempt.
 */
export class ModelChain {
  constructor(
    readonly models: readonly ChatModel[],
    private readonly logger: Logger,
  ) {}

  get isEmpty(): boolean {
    return this.models.length === 0;
  }

  startTurn(): TurnProgress {
    return { modelIndex: 0, attempts: [] };
  }

  async runStep(request: ChatRequest, step: number, progress: TurnProgress, callbacks: StepCallbacks): Promise<StepResult> {
    let lastError: unknown;
    for (; progress.modelIndex < this.models.length; progress.modelIndex++) {
      const model = this.models[progress.modelIndex]!;
      const started = performance.now();
      let streamedText = false;
      try {
        const result = await streamOneStep(model, request, (delta) => {
          streamedText = true;
          callbacks.onTextDelta(delta);
        });
        progress.attempts.push({ provider: model.provider, model: model.model, step, outcome: 'ok', ms: elapsed(started) });
        return result;
      } catch (error) {
        if (request.signal?.aborted) throw error;
        lastError = error;
        const providerError = error instanceof ProviderError ? error : undefined;
        progress.attempts.push({
          provider: model.provider,
          model: model.model,
          step,
          outcome: 'error',
          errorKind: providerError?.kind ?? 'unexpected',
          ...(providerError?.status !== undefined && { status: providerError.status }),
          ms: elapsed(started),
        });
        this.logger.warn({ err: error, provider: model.provider, model: model.model }, 'provider attempt failed');
        if (streamedText) callbacks.onDiscard();
      }
    }
    throw new AllProvidersFailedError(progress.attempts, lastError);
  }
}

async function streamOneStep(
  model: ChatModel,
  request: ChatRequest,
  onTextDelta: (delta: string) => void,
): Promise<StepResult> {
  let text = '';
  const toolCalls: ToolCallRequest[] = [];
  for await (const event of model.stream(request)) {
    switch (event.type) {
      case 'text-delta':
        text += event.delta;
        onTextDelta(event.delta);
        break;
      case 'tool-call':
        toolCalls.push(event.call);
        break;
      case 'finish':
        return { text, toolCalls, usage: event.usage, finishReason: event.reason, model };
    }
  }
  throw new ProviderError({ provider: model.provider, kind: 'invalid_response', message: 'stream ended without a finish event' });
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
