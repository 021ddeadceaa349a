import { DelegateBackoff, handleWhen, retry, type RetryPolicy } from 'cockatiel';
import { kindForStatus, SwitchboardError, TRANSIENT_KINDS } from '../errors/index.js';

/**
 * A failed outbound call to a channel's API (Slack Web API, a response_url, Twilio
 * REST). Transports map their SDK's errors into this, so the one retry policy below
 * never branches on a specific SDK.
 */
export class DeliveryError extends SwitchboardError {
  override readonly name = 'DeliveryError';
  /** 429, 5xx and network failures are worth another attempt; 4xx never are. */
  readonly retryable: boolean;
  readonly status: number | undefined;

  constructor(init: { message: string; retryable: boolean; status?: number; retryAfterMs?: number; cause?: unknown }) {
    // retryAfterMs: from the provider's Retry-After, when it sent one.
    super('delivery_error', init.message, { cause: init.cause, retryAfterMs: init.retryAfterMs });
    this.retryable = init.retryable;
    this.status = init.status;
  }
}

export interface DeliveryRetrySettings {
  /** Attempts in total, the first one included. */
  maxAttempts: number;
  /** Delay before the first retry; doubles per attempt (with jitter), capped at `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** No status is a network failure. A 409 is not retried: a channel API's conflict does not pass. */
export const isRetryableStatus = (status: number | undefined): boolean =>
  status === undefined || TRANSIENT_KINDS.has(kindForStatus(status));

/**
 * The one retry policy for outbound channel deliveries: only DeliveryErrors marked
 * retryable are retried, a provider's Retry-After wins over our own backoff (capped),
 * and the SDKs' own retries are switched off where they are built, so attempts never multiply.
 */
export function createDeliveryRetry(settings: DeliveryRetrySettings): RetryPolicy {
  return retry(
    handleWhen((error) => error instanceof DeliveryError && error.retryable),
    {
      maxAttempts: Math.max(0, settings.maxAttempts - 1),
      backoff: new DelegateBackoff((context) => {
        const error = 'error' in context.result ? context.result.error : undefined;
        const hinted = error instanceof DeliveryError ? error.retryAfterMs : undefined;
        if (hinted !== undefined) return Math.min(settings.maxDelayMs, Math.max(0, hinted));
        const exponential = settings.baseDelayMs * 2 ** Math.max(0, context.attempt - 1);
        // Full jitter on the upper half keeps many failing deliveries from retrying in lockstep.
        return Math.min(settings.maxDelayMs, exponential / 2 + Math.random() * (exponential / 2));
      }),
    },
  );
}

/** Runs `send` under the policy and reports how many attempts it took, success or not. */
export async function deliverWithRetry<T>(
  policy: RetryPolicy,
  send: () => Promise<T>,
): Promise<{ ok: true; value: T; attempts: number } | { ok: false; error: unknown; attempts: number }> {
  let attempts = 0;
  try {
    const value = await policy.execute(() => {
      attempts++;
      return send();
    });
    return { ok: true, value, attempts };
  } catch (error) {
    return { ok: false, error, attempts };
  }
}
