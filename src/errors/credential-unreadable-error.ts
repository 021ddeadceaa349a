import { SwitchboardError } from './switchboard-error.js';

/**
 * `unknown_key`: no configured master key has this key id (SECRETS_MASTER_KEY changed without the
 * old one in SECRETS_MASTER_KEY_PREVIOUS). `not_authentic`: AES-GCM refused the row: it was altered,
 * or copied from another workspace or integration (the row's identity is bound in as associated data).
 */
export type CredentialUnreadableReason = 'unknown_key' | 'not_authentic';

/** Stored credentials that cannot be decrypted. Says which row and why, never anything from inside it. */
export class CredentialUnreadableError extends SwitchboardError {
  override readonly name = 'CredentialUnreadableError';
  constructor(
    readonly reason: CredentialUnreadableReason,
    readonly keyId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('credential_unreadable', message, options);
  }
}
