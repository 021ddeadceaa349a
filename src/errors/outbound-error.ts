/**
 * How an outbound call failed, the same words at every edge: providers (ProviderError),
 * integrations (IntegrationError) and channel deliveries (DeliveryError).
 */
export type OutboundErrorKind =
  | 'auth'
  | 'not_found'
  | 'conflict'
  | 'bad_request'
  | 'rate_limited'
  | 'timeout'
  | 'server'
  | 'network';

/** The kinds an HTTP status can say; `network` is a failure without one. */
export type StatusKind = Exclude<OutboundErrorKind, 'network'>;

/**
 * HTTP status → kind, the one map for every outbound edge. It says what the answer
 * means, not what to do about it: whether a kind is retried is decided by the edge's
 * retry owner, because the same status means different things there.
 *
 * 409 is `conflict` everywhere. Providers (Anthropic, OpenAI) answer 409 for a transient
 * lock conflict that the same request can get past moments later, and their SDKs retry it,
 * so the model chain retries `conflict` (ProviderError.retryable). An integration's 409 on an
 * idempotent create means the record already exists: retrying cannot help, so integrations
 * do not retry it, and neither do deliveries (a channel API's 409 is not transient).
 *
 * 402 is `auth`: an unpaid account needs a human, just like a revoked key.
 */
export function kindForStatus(status: number): StatusKind {
  if (status === 401 || status === 402 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 408) return 'timeout';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  return 'bad_request';
}

/** Kinds that say "the same call may succeed later" for an edge that never retries a conflict. */
export const TRANSIENT_KINDS: ReadonlySet<OutboundErrorKind> = new Set(['rate_limited', 'timeout', 'server', 'network']);
