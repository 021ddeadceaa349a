import { createHmac } from 'node:crypto';
import type { Config } from '../config/config.js';
import { ConfigError } from '../errors/index.js';

/** A master key and its public fingerprint, the `key_id` stored with every row it wraps. */
export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

const KEY_BYTES = 32;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
// 32 bytes are 43 base64 characters and one `=` of padding (optional); url-safe letters accepted too.
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;
const HOW_TO = 'expected 32 random bytes as base64 (44 characters) or as 64 hex characters; make one with `openssl rand -base64 32`';

/**
 * The key id is an HMAC of a fixed label under the key: it tells keys apart (and names the one
 * a row needs) without revealing anything about the key, unlike a prefix or a plain hash of it.
 */
export function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key).update('switchboard workspace credentials key id').digest('hex').slice(0, 16);
}

function decodeKey(text: string, variable: string): MasterKey {
  const value = text.trim();
  const key = HEX_KEY.test(value) ? Buffer.from(value, 'hex') : BASE64_KEY.test(value) ? Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64') : undefined;
  if (key?.length !== KEY_BYTES) throw new ConfigError(`Invalid configuration: ${variable}: ${HOW_TO}`);
  return { id: keyIdOf(key), key };
}

/**
 * The master keys of this process: `current` seals (SECRETS_MASTER_KEY), and every one of them,
 * the previous ones too (SECRETS_MASTER_KEY_PREVIOUS), opens what it sealed. During a rotation
 * both are configured until `npm run secrets:rotate` has re-wrapped every row under the new one.
 */
export class MasterKeys {
  readonly #byId: ReadonlyMap<string, MasterKey>;

  private constructor(
    readonly current: MasterKey | undefined,
    previous: readonly MasterKey[],
  ) {
    this.#byId = new Map([...previous, ...(current ? [current] : [])].map((key) => [key.id, key]));
  }

  /** Throws a ConfigError naming the variable for a key that is not 32 bytes of base64 or hex. */
  static fromConfig(config: Pick<Config, 'SECRETS_MASTER_KEY' | 'SECRETS_MASTER_KEY_PREVIOUS'>): MasterKeys {
    const current = config.SECRETS_MASTER_KEY ? decodeKey(config.SECRETS_MASTER_KEY.reveal(), 'SECRETS_MASTER_KEY') : undefined;
    const previousTexts = config.SECRETS_MASTER_KEY_PREVIOUS?.reveal().split(',').map((text) => text.trim()).filter(Boolean) ?? [];
    if (!current && previousTexts.length > 0) {
      throw new ConfigError('Invalid configuration: SECRETS_MASTER_KEY: required when SECRETS_MASTER_KEY_PREVIOUS is set (the new key seals, the previous ones only open)');
    }
    const previous = previousTexts.map((text, index) =>
      decodeKey(text, previousTexts.length > 1 ? `SECRETS_MASTER_KEY_PREVIOUS (key ${index + 1} of ${previousTexts.length})` : 'SECRETS_MASTER_KEY_PREVIOUS'),
    );
    return new MasterKeys(current, previous);
  }

  find(keyId: string): MasterKey | undefined {
    return this.#byId.get(keyId);
  }

  get ids(): string[] {
    return [...this.#byId.keys()];
  }
}
