import { SwitchboardError } from '../../errors/index.js';

/** Why a single sign-on attempt did not admit the person; written to admin_audit and sent to the console. */
export const SSO_REFUSAL_REASONS = [
  'state_mismatch',
  'idp_error',
  'code_rejected',
  'response_invalid',
  'email_missing',
  'email_unverified',
  'domain_not_allowed',
  'account_conflict',
] as const;
export type SsoRefusalReason = (typeof SSO_REFUSAL_REASONS)[number];

/**
 * A sign-in through the identity provider that was refused: `sso_refused` (403) with the reason.
 * `detail` goes to the audit row only (which claim failed, the provider's error code), never a
 * code, token or secret.
 */
export class SsoLoginRefusedError extends SwitchboardError {
  override readonly name = 'SsoLoginRefusedError';

  constructor(
    readonly reason: SsoRefusalReason,
    message: string,
    readonly detail: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super('sso_refused', message, options);
  }

  override toJSON() {
    return { ...super.toJSON(), reason: this.reason };
  }
}
