import type { ChatModel, ChatRequest, FinishReason, TokenUsage, ToolCallRequest } from './chat-model.js';
import { BrokenCircuitError, CircuitState, IsolatedCircuitError, type CircuitBreakerPolicy } from 'cockatiel';
import { ProviderError, SwitchboardError } from '../errors/index.js';
import type { Logger } from '../observability/logger.js';
import {
  DEFAULT_CHAIN_POLICY,
  breakerStateName,
  createProviderBreaker,
  createStepRetry,
  providerWentSilent,
  type BreakerState,
  type ChainPolicySettings,
} from './chain-policy.js';

/** One provider attempt within a turn, stored on the message for the admin log. */
export interface ProviderAttempt {
  provider: string;
  model: string;
  step: number;
  /** `skipped`: the provider's circuit breaker is open, so it was not called. */
  outcome: 'ok' | 'error' | 'skipped';
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
  /** Provider calls made so far (skipped providers are not calls). */
  calls: number;
  startedAt: number;
  deadline: number;
}

export type ChainFailureReason = 'all_providers_failed' | 'attempt_budget_exhausted' | 'fallback_deadline' | 'turn_timeout';

export class AllProvidersFailedError extends SwitchboardError {
  override readonly name = 'AllProvidersFailedError';
  /** What the turn's earlier steps used before this one failed (set by the tool loop): their calls were paid for. */
  spent?: { inputTokens: number; outputTokens: number; costUsd: number | null };
  constructor(
    readonly attempts: ProviderAttempt[],
    readonly lastError: unknown,
    readonly reason: ChainFailureReason = 'all_providers_failed',
  ) {
    super('provider_error', attempts.length === 0 ? 'no LLM provider is configured' : 'every LLM provider failed', {
      cause: lastError,
    });
  }
}

/** The turn ran out of attempts or time: stop trying every provider, not just this one. */
class BudgetSpentError extends SwitchboardError {
  override readonly name = 'BudgetSpentError';
  constructor(readonly reason: Exclude<ChainFailureReason, 'all_providers_failed'>) {
    super('provider_error', reason);
  }
}

export interface ProviderHealth {
  provider: string;
  model: string;
  breaker: BreakerState;
}

interface ChainEntry {
  model: ChatModel;
  breaker: CircuitBreakerPolicy;
}

/**
 * The providers in LLM_PROVIDERS order. A step goes to the turn's current model;
 * when it fails, the same step moves to the next model with the same messages, so
 * tool calls already made are not made again.
 *
 * This is the one retry owner (the SDKs' own retries are off): each call runs
 * through the provider's circuit breaker, retryable failures are retried with
 * jittered backoff that honours retry-after, and every call has a first-token and
 * a total timeout. A step that has no first token by FALLBACK_AFTER_MS gives up,
 * so the person gets the fallback reply in bounded time even when providers hang.
 */
export class ModelChain {
  readonly #entries: ChainEntry[];

  private readonly policy: ChainPolicySettings;
  /** An injectable clock, for deadlines and breakers in tests. */
  private readonly now: () => number;

  constructor(
    readonly models: readonly ChatModel[],
    private readonly logger: Logger,
    options: { policy?: ChainPolicySettings; now?: () => number } = {},
  ) {
    const policy = options.policy ?? DEFAULT_CHAIN_POLICY;
    this.policy = policy;
    this.now = options.now ?? Date.now;
    this.#entries = models.map((model) => {
      const breaker = createProviderBreaker(policy.breaker);
      const where = { provider: model.provider, model: model.model };
      breaker.onBreak(() => logger.warn(where, 'circuit breaker opened: provider gets no traffic until it half-opens'));
      breaker.onHalfOpen(() => logger.info(where, 'circuit breaker half-open: trying one call'));
      breaker.onReset(() => logger.info(where, 'circuit breaker closed'));
      return { model, breaker };
    });
  }

  get isEmpty(): boolean {
    return this.models.length === 0;
  }

  /** Breaker state per provider+model, for readiness, the admin console and tests. */
  health(): ProviderHealth[] {
    return this.#entries.map(({ model, breaker }) => ({
      provider: model.provider,
      model: model.model,
      breaker: this.effectiveState(breaker),
    }));
  }

  /** True when some provider would take a call now (closed, or open long enough to half-open). */
  get anyAvailable(): boolean {
    return this.health().some((entry) => entry.breaker !== 'open' && entry.breaker !== 'isolated');
  }

  startTurn(): TurnProgress {
    const startedAt = this.now();
    return { modelIndex: 0, attempts: [], calls: 0, startedAt, deadline: startedAt + this.policy.turnTimeoutMs };
  }

  async runStep(request: ChatRequest, step: number, progress: TurnProgress, callbacks: StepCallbacks): Promise<StepResult> {
    // The first step's bound counts from the turn's start: that is what the person waits for.
    const stepStart = step === 0 ? progress.startedAt : this.now();
    const stepDeadline = Math.min(stepStart + this.policy.fallbackAfterMs, progress.deadline);
    let lastError: unknown;
    for (; progress.modelIndex < this.#entries.length; progress.modelIndex++) {
      const { model, breaker } = this.#entries[progress.modelIndex]!;
      // One trial call is under way: cockatiel would make this turn wait for it; move on instead.
      if (breaker.state === CircuitState.HalfOpen) {
        progress.attempts.push({ provider: model.provider, model: model.model, step, outcome: 'skipped', errorKind: 'circuit_half_open', ms: 0 });
        continue;
      }
      const budget = {
        remainingMs: () => stepDeadline - this.now(),
        attemptsLeft: () => this.policy.maxAttempts - progress.calls,
      };
      const stepRetry = createStepRetry(this.policy, budget);
      try {
        return await stepRetry.execute(() =>
          breaker.execute(() => {
            if (budget.attemptsLeft() <= 0) throw new BudgetSpentError('attempt_budget_exhausted');
            if (budget.remainingMs() <= 0) {
              throw new BudgetSpentError(this.now() >= progress.deadline ? 'turn_timeout' : 'fallback_deadline');
            }
            progress.calls++;
            return this.attempt(model, request, step, progress, callbacks, stepDeadline);
          }),
        );
      } catch (error) {
        if (request.signal?.aborted) throw error;
        if (error instanceof BudgetSpentError) throw new AllProvidersFailedError(progress.attempts, lastError, error.reason);
        if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) {
          progress.attempts.push({ provider: model.provider, model: model.model, step, outcome: 'skipped', errorKind: 'circuit_open', ms: 0 });
          lastError ??= error;
          continue;
        }
        lastError = error;
      }
    }
    const spent = progress.calls >= this.policy.maxAttempts;
    throw new AllProvidersFailedError(progress.attempts, lastError, spent ? 'attempt_budget_exhausted' : 'all_providers_failed');
  }

  private async attempt(
    model: ChatModel,
    request: ChatRequest,
    step: number,
    progress: TurnProgress,
    callbacks: StepCallbacks,
    stepDeadline: number,
  ): Promise<StepResult> {
    const started = performance.now();
    const now = this.now();
    let streamedText = false;
    try {
      const result = await streamOneStep(
        model,
        request,
        (delta) => {
          streamedText = true;
          callbacks.onTextDelta(delta);
        },
        {
          firstTokenMs: Math.min(this.policy.firstTokenTimeoutMs, stepDeadline - now),
          totalMs: Math.min(this.policy.attemptTimeoutMs, progress.deadline - now),
        },
      );
      progress.attempts.push({ provider: model.provider, model: model.model, step, outcome: 'ok', ms: elapsed(started) });
      return result;
    } catch (error) {
      if (request.signal?.aborted) throw error;
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
      const where = { err: error, provider: model.provider, model: model.model };
      if (providerError?.kind === 'auth') this.logger.error(where, 'provider rejected our credentials: check its API key and account (configuration error)');
      else this.logger.warn(where, 'provider attempt failed');
      if (streamedText) callbacks.onDiscard();
      throw error;
    }
  }

  private effectiveState(breaker: CircuitBreakerPolicy): BreakerState {
    // cockatiel moves Open → HalfOpen lazily on the next call; report what that call would see.
    const state = breakerStateName(breaker.state);
    if (state !== 'open') return state;
    const snapshot = breaker.toJSON() as { ownState?: { openedAt?: number } };
    const openedAt = snapshot.ownState?.openedAt;
    return openedAt !== undefined && Date.now() - openedAt >= this.policy.breaker.halfOpenAfterMs ? 'half-open' : 'open';
  }
}

/**
 * Streams one model call. Its own abort signal fires on the first-token or total
 * timeout (or the caller's signal), and every read races that signal, so a
 * provider that ignores aborts still cannot hold the turn past its bound.
 */
async function streamOneStep(
  model: ChatModel,
  request: ChatRequest,
  onTextDelta: (delta: string) => void,
  limits: { firstTokenMs: number; totalMs: number },
): Promise<StepResult> {
  const controller = new AbortController();
  let timedOut: ProviderError | undefined;
  const timeOut = (message: string) => {
    timedOut ??= providerWentSilent(model.provider, message);
    controller.abort(timedOut);
  };
  const firstToken = setTimeout(() => timeOut(`no response within ${Math.max(0, limits.firstTokenMs)} ms`), Math.max(0, limits.firstTokenMs));
  const total = setTimeout(() => timeOut(`response not finished within ${Math.max(0, limits.totalMs)} ms`), Math.max(0, limits.totalMs));
  const forwardAbort = () => controller.abort(request.signal?.reason);
  request.signal?.addEventListener('abort', forwardAbort, { once: true });
  if (request.signal?.aborted) forwardAbort();
  const aborted = new Promise<never>((_resolve, reject) => {
    const fail = () => reject(timedOut ?? new ProviderError({ provider: model.provider, kind: 'aborted', message: 'request aborted' }));
    if (controller.signal.aborted) fail();
    else controller.signal.addEventListener('abort', fail, { once: true });
  });
  aborted.catch(() => {});

  const iterator = model.stream({ ...request, signal: controller.signal })[Symbol.asyncIterator]();
  let finished = false;
  let text = '';
  const toolCalls: ToolCallRequest[] = [];
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) break;
      clearTimeout(firstToken);
      const event = next.value;
      switch (event.type) {
        case 'text-delta':
          text += event.delta;
          onTextDelta(event.delta);
          break;
        case 'tool-call':
          toolCalls.push(event.call);
          break;
        case 'finish':
          finished = true;
          return { text, toolCalls, usage: event.usage, finishReason: event.reason, model };
      }
    }
  } catch (error) {
    throw timedOut ?? error;
  } finally {
    clearTimeout(firstToken);
    clearTimeout(total);
    request.signal?.removeEventListener('abort', forwardAbort);
    if (!finished) {
      controller.abort(timedOut);
      void iterator.return?.()?.catch(() => {});
    }
  }
  throw new ProviderError({ provider: model.provider, kind: 'invalid_response', message: 'stream ended without a finish event' });
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
