import { SwitchboardError } from './switchboard-error.js';

/** Workspace credentials were to be stored or read, but SECRETS_MASTER_KEY is not set. */
export class MasterKeyMissingError extends SwitchboardError {
  override readonly name = 'MasterKeyMissingError';
  constructor(action: 'stored' | 'read') {
    super('config_invalid', `SECRETS_MASTER_KEY is not set: credentials cannot be ${action} (make a key with \`openssl rand -base64 32\`)`);
  }
}
