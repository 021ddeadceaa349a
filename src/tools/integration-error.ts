import { TRANSIENT_KINDS, ToolExecutionError, type OutboundErrorKind } from '../errors/index.js';

export type IntegrationFailureKind = OutboundErrorKind;

/**
 * An integration (Google, HubSpot, ...) call failed. Each client maps its SDK's errors
 * into this, so the retry policy and the model see one shape. The message is written
 * for the model and the admin log: it never carries the SDK's raw response (which may
 * hold tokens or personal data), so there is deliberately no `cause`.
 */
export class IntegrationError extends ToolExecutionError {
  readonly integration: string;
  readonly kind: IntegrationFailureKind;
  readonly status: number | undefined;

  constructor(init: { integration: string; kind: IntegrationFailureKind; message: string; status?: number }) {
    super(`${init.integration}: ${init.message}`);
    this.integration = init.integration;
    this.kind = init.kind;
    this.status = init.status;
  }

  get retryable(): boolean {
    // A 409 (`conflict`) is not retried: on an idempotent create it means the record already exists.
    return TRANSIENT_KINDS.has(this.kind);
  }
}

/** Readable text for each kind, shared by the clients so the model sees consistent wording. */
export function describeFailure(kind: IntegrationFailureKind, status?: number): string {
  switch (kind) {
    case 'auth':
      return 'the service rejected our credentials or permissions (a configuration problem on our side)';
    case 'not_found':
      return 'the service could not find what was asked for';
    case 'conflict':
      return 'the service reported a conflict with an existing record';
    case 'bad_request':
      return 'the service rejected the request as invalid';
    case 'rate_limited':
      return 'the service is rate limiting us or the quota is used up; try again later';
    case 'timeout':
      return 'the service did not answer in time; try again shortly';
    case 'server':
      return `the service had an internal error${status ? ` (HTTP ${status})` : ''}; try again later`;
    case 'network':
      return 'the service could not be reached (network error); try again shortly';
  }
}

/** HTTP status → kind: the one map every outbound edge shares. */
export { kindForStatus } from '../errors/index.js';
