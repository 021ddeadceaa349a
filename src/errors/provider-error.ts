import type { OutboundErrorKind } from './outbound-error.js';
import { SwitchboardError } from './switchboard-error.js';

/** The outbound kinds, plus two only a model call has: our own abort, and an answer we cannot read. */
export type ProviderFailureKind = OutboundErrorKind | 'aborted' | 'invalid_response';

/**
 * Worth another attempt on the same provider. `conflict` is in: a provider's 409 is a
 * transient lock conflict (see outbound-error.ts). 400/401/403/404 never are.
 */
const RETRYABLE: ReadonlySet<ProviderFailureKind> = new Set(['rate_limited', 'timeout', 'server', 'network', 'conflict']);

/**
 * A provider call failed. Providers map their SDK's errors into this so the agent
 * (and the retry/fallback policy) never branches on a specific SDK.
 */
export class ProviderError extends SwitchboardError {
  override readonly name = 'ProviderError';
  readonly provider: string;
  readonly kind: ProviderFailureKind;
  readonly status: number | undefined;
  /** From retry-after / retry-after-ms, when the provider sent one. */
  override readonly retryAfterMs: number | undefined;

  constructor(init: {
    provider: string;
    kind: ProviderFailureKind;
    message: string;
    status?: number;
    retryAfterMs?: number;
    cause?: unknown;
  }) {
    super('provider_error', `${init.provider}: ${init.message}`, { cause: init.cause });
    this.provider = init.provider;
    this.kind = init.kind;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
  }

  /** 408/409/429/5xx, timeouts and network errors are worth another attempt; 400/401/403/404 never are. */
  get retryable(): boolean {
    return RETRYABLE.has(this.kind);
  }
}
