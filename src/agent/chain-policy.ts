import {
  CircuitState,
  ExponentialBackoff,
  SamplingBreaker,
  circuitBreaker,
  decorrelatedJitterGenerator,
  handleWhen,
  retry,
  type CircuitBreakerPolicy,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
  type RetryPolicy,
} from 'cockatiel';
import { ProviderError } from '../errors/index.js';

/** How hard the chain tries each provider, and how long a person waits at most. */
export interface ChainPolicySettings {
  /** Extra attempts on the same provider after a retryable failure, per step. */
  retries: number;
  /** Provider calls per turn at most, across steps, providers and retries. */
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxDelayMs: number;
  /** An attempt that produces no event within this long is abandoned. */
  firstTokenTimeoutMs: number;
  /** One provider call from request to finish. */
  attemptTimeoutMs: number;
  /** The whole turn, every step included. */
  turnTimeoutMs: number;
  /**
   * A step (the first from the turn's start) that has no first token from any provider
   * by then gives up, so the person gets the fallback reply within this bound.
   */
  fallbackAfterMs: number;
  breaker: {
    failureRatio: number;
    windowMs: number;
    /** Fewer calls than this in the window never open the breaker. */
    minRequests: number;
    halfOpenAfterMs: number;
  };
}

export const DEFAULT_CHAIN_POLICY: ChainPolicySettings = {
  retries: 1,
  maxAttempts: 6,
  retryBaseMs: 200,
  retryMaxDelayMs: 2000,
  firstTokenTimeoutMs: 2500,
  attemptTimeoutMs: 60_000,
  turnTimeoutMs: 120_000,
  fallbackAfterMs: 5000,
  breaker: { failureRatio: 0.5, windowMs: 30_000, minRequests: 5, halfOpenAfterMs: 15_000 },
};

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

export function breakerStateName(state: CircuitState): BreakerState {
  return STATE_NAMES[state];
}

/**
 * Failures that say something about the provider's health. A bad request is about
 * our request and an abort is ours; neither should stop traffic to a healthy provider.
 */
export function countsAgainstProvider(error: unknown): boolean {
  return error instanceof ProviderError && error.kind !== 'bad_request' && error.kind !== 'aborted';
}

/** One breaker per provider+model, so a 429 on one never stops traffic to another. */
export function createProviderBreaker(settings: ChainPolicySettings['breaker']): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(countsAgainstProvider), {
    halfOpenAfter: settings.halfOpenAfterMs,
    breaker: new SamplingBreaker({
      threshold: settings.failureRatio,
      duration: settings.windowMs,
      // cockatiel counts "enough traffic" as a rate over the window.
      minimumRps: settings.minRequests / (settings.windowMs / 1000),
    }),
  });
}

/** Timeouts the chain itself called (the provider went silent), as opposed to a provider's own 408. */
const silentProviders = new WeakSet<ProviderError>();

/**
 * A provider that sent nothing in time. Not retried on the same provider: a hang
 * tends to repeat and the person is waiting, so the step moves to the next provider.
 */
export function providerWentSilent(provider: string, message: string): ProviderError {
  const error = new ProviderError({ provider, kind: 'timeout', message });
  silentProviders.add(error);
  return error;
}

/**
 * The retry policy for one step on one provider: retryable failures only (408/409/429/5xx,
 * timeouts, network), and only while the step still has time and the turn has attempts left.
 */
export function createStepRetry(
  settings: ChainPolicySettings,
  budget: { remainingMs(): number; attemptsLeft(): number },
): RetryPolicy {
  const worthRetrying = (error: Error) =>
    error instanceof ProviderError &&
    error.retryable &&
    !silentProviders.has(error) &&
    budget.attemptsLeft() > 0 &&
    (error.retryAfterMs ?? 0) < budget.remainingMs();
  return retry(handleWhen(worthRetrying), {
    maxAttempts: settings.retries,
    backoff: new RetryAfterBackoff(
      new ExponentialBackoff({
        generator: decorrelatedJitterGenerator,
        initialDelay: settings.retryBaseMs,
        maxDelay: settings.retryMaxDelayMs,
      }),
      budget.remainingMs,
    ),
  });
}

/**
 * Jittered exponential backoff that waits at least as long as the provider asked
 * (retry-after / retry-after-ms) and never past the step's deadline.
 */
class RetryAfterBackoff implements IBackoffFactory<IRetryBackoffContext<unknown>> {
  constructor(
    private readonly inner: IBackoffFactory<unknown>,
    private readonly remainingMs: () => number,
  ) {}

  next(context: IRetryBackoffContext<unknown>): IBackoff<IRetryBackoffContext<unknown>> {
    const jittered = this.inner.next(context);
    const failure = 'error' in context.result ? context.result.error : undefined;
    const asked = failure instanceof ProviderError ? (failure.retryAfterMs ?? 0) : 0;
    const duration = Math.max(0, Math.min(Math.max(jittered.duration, asked), this.remainingMs()));
    return { duration, next: (nextContext) => new RetryAfterBackoff(jittered, this.remainingMs).next(nextContext) };
  }
}
