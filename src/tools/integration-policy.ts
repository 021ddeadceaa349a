import {
  ExponentialBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  handleWhen,
  retry,
  timeout,
  wrap,
} from 'cockatiel';
import { IntegrationError } from './integration-error.js';

export interface IntegrationPolicySettings {
  /** Per attempt; the attempt's signal is aborted when it passes. */
  timeoutMs: number;
  /** Retries after the first attempt, for calls that are safe to repeat. */
  maxRetries: number;
  /** First backoff delay; doubles per retry (with jitter), capped at 10 s. */
  retryBaseMs: number;
}

export interface IntegrationCall {
  /** Which integration, for the timeout message ("google calendar"). */
  integration: string;
  /**
   * True only for reads and for writes that carry their own idempotency (a
   * deterministic id, an upsert key): anything else runs once.
   */
  idempotent: boolean;
  /** The tool call's signal: cancels waiting and backoff. */
  signal: AbortSignal;
}

/**
 * The one timeout + retry policy for integration calls (cockatiel). The SDKs' own
 * retries are switched off by each client, so attempts never multiply. Only
 * IntegrationErrors whose kind is worth repeating (429, 5xx, timeouts, network) are
 * retried, and only for calls marked idempotent.
 */
export class IntegrationPolicy {
  constructor(private readonly settings: IntegrationPolicySettings) {}

  async run<T>(call: IntegrationCall, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const perAttempt = timeout(this.settings.timeoutMs, TimeoutStrategy.Aggressive);
    const retries = call.idempotent ? this.settings.maxRetries : 0;
    const retrying = retry(
      // A per-attempt timeout arrives as TaskCancelledError; the caller's own abort is never retried.
      handleWhen(
        (error) =>
          (error instanceof IntegrationError && error.retryable) || (error instanceof TaskCancelledError && !call.signal.aborted),
      ),
      {
        maxAttempts: retries,
        backoff: new ExponentialBackoff({ initialDelay: this.settings.retryBaseMs, maxDelay: 10_000 }),
      },
    );
    const policy = wrap(retrying, perAttempt);
    try {
      return await policy.execute(async ({ signal }) => {
        try {
          return await attempt(signal);
        } catch (error) {
          // A timed-out attempt surfaces as whatever the SDK throws on abort; name it a timeout so it is retried.
          if (signal.aborted && !call.signal.aborted) {
            throw new IntegrationError({ integration: call.integration, kind: 'timeout', message: `no answer within ${this.settings.timeoutMs} ms` });
          }
          throw error;
        }
      }, call.signal);
    } catch (error) {
      if (error instanceof TaskCancelledError) {
        if (call.signal.aborted) throw new IntegrationError({ integration: call.integration, kind: 'timeout', message: 'the call was cancelled before the service answered' });
        throw new IntegrationError({ integration: call.integration, kind: 'timeout', message: `no answer within ${this.settings.timeoutMs} ms` });
      }
      throw error;
    }
  }
}
