/**
 * One error family with stable codes. `httpStatus` is mapped here, once; the HTTP
 * error handler and the socket acks read it instead of guessing.
 */
export type ErrorCode =
  | 'invalid_payload'
  | 'empty_message'
  | 'message_too_long'
  | 'not_found'
  | 'unauthorized'
  | 'csrf_invalid'
  | 'rate_limited'
  | 'payload_too_large'
  | 'provider_error'
  | 'tool_error'
  | 'unavailable'
  | 'shutting_down'
  | 'internal_error';

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  invalid_payload: 400,
  empty_message: 400,
  message_too_long: 413,
  not_found: 404,
  unauthorized: 401,
  csrf_invalid: 403,
  rate_limited: 429,
  payload_too_large: 413,
  provider_error: 502,
  tool_error: 502,
  unavailable: 503,
  shutting_down: 503,
  internal_error: 500,
};

export class SwitchboardError extends Error {
  override readonly name: string = 'SwitchboardError';
  readonly code: ErrorCode;
  readonly httpStatus: number;
  /** For `rate_limited` (and any code a client may retry): when trying again can succeed. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.httpStatus = STATUS_BY_CODE[code];
    this.retryAfterMs = options?.retryAfterMs;
  }

  toJSON(): { code: ErrorCode; message: string; retryAfterMs?: number } {
    return { code: this.code, message: this.message, ...(this.retryAfterMs !== undefined && { retryAfterMs: this.retryAfterMs }) };
  }
}

export type ProviderFailureKind =
  | 'auth'
  | 'bad_request'
  | 'not_found'
  | 'rate_limited'
  | 'timeout'
  | 'server'
  | 'network'
  | 'aborted'
  | 'invalid_response';

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
  readonly retryAfterMs: number | undefined;

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
    return ['rate_limited', 'timeout', 'server', 'network'].includes(this.kind);
  }
}

/** Thrown by a tool handler for a failure the model should read (not a bug). */
export class ToolExecutionError extends SwitchboardError {
  override readonly name = 'ToolExecutionError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('tool_error', message, options);
  }
}
