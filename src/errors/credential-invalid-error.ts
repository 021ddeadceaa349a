import { SwitchboardError } from './switchboard-error.js';

/** One problem with a stored credential's field: the field's name and what is wrong, never the value. */
export interface CredentialIssue {
  field: string;
  message: string;
}

/** Credentials given for a workspace do not fit their integration. The message names fields, never values (they are secrets). */
export class CredentialInvalidError extends SwitchboardError {
  override readonly name = 'CredentialInvalidError';
  constructor(
    readonly integration: string,
    readonly issues: readonly CredentialIssue[],
  ) {
    super('invalid_payload', `${integration} credentials: ${issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ')}`);
  }
}
