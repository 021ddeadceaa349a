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
  | 'forbidden'
  | 'password_login_disabled'
  | 'sso_refused'
  | 'signature_missing'
  | 'signature_invalid'
  | 'signature_expired'
  | 'not_in_human_mode'
  | 'not_held'
  | 'already_taken'
  | 'already_set_up'
  | 'slug_taken'
  | 'workspace_not_found'
  | 'identity_taken'
  | 'default_not_suspendable'
  | 'rate_limited'
  | 'payload_too_large'
  | 'provider_error'
  | 'tool_error'
  | 'delivery_error'
  | 'turn_already_completed'
  | 'config_invalid'
  | 'credential_unreadable'
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
  // The caller's role does not allow the action (a viewer taking a conversation over).
  forbidden: 403,
  // ADMIN_PASSWORD_LOGIN=false: the console signs in through single sign-on only.
  password_login_disabled: 403,
  // The identity provider's answer did not admit this person (state, code, ID token, email, domain): see SsoLoginRefusedError.
  sso_refused: 403,
  // A signed webhook (Stripe) without a signature, with one that matches no secret, or one too old to replay.
  signature_missing: 400,
  signature_invalid: 400,
  signature_expired: 400,
  // Handoff conflicts: the conversation is not in the state the operator's action needs.
  not_in_human_mode: 409,
  not_held: 409,
  already_taken: 409,
  // The first-run setup, once any admin account exists.
  already_set_up: 409,
  // Workspace management: another workspace has this slug, or this channel identity is bound to another workspace; the default workspace always serves.
  slug_taken: 409,
  workspace_not_found: 404,
  identity_taken: 409,
  default_not_suspendable: 409,
  rate_limited: 429,
  payload_too_large: 413,
  provider_error: 502,
  tool_error: 502,
  delivery_error: 502,
  turn_already_completed: 409,
  // A bad setting is our fault, never the client's.
  config_invalid: 500,
  // Stored workspace credentials that no configured master key opens, or that were altered.
  credential_unreadable: 500,
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

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterMs?: number | undefined }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.httpStatus = STATUS_BY_CODE[code];
    this.retryAfterMs = options?.retryAfterMs;
  }

  toJSON(): { code: ErrorCode; message: string; retryAfterMs?: number } {
    return { code: this.code, message: this.message, ...(this.retryAfterMs !== undefined && { retryAfterMs: this.retryAfterMs }) };
  }
}
