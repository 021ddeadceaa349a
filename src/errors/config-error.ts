import { SwitchboardError } from './switchboard-error.js';

/** A setting is missing or invalid. The message names the variable and never echoes its value (it may be a secret). */
export class ConfigError extends SwitchboardError {
  override readonly name = 'ConfigError';
  constructor(message: string) {
    super('config_invalid', message);
  }
}
