import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CredentialUnreadableError, MasterKeyMissingError } from '../errors/index.js';
import type { MasterKey, MasterKeys } from './master-keys.js';

/** What is stored for one sealed value: the wrapping master key's id, the wrapped data key, the ciphertext. */
export interface SealedRecord {
  keyId: string;
  /** The data key under the master key: base64 iv | tag | ciphertext. */
  wrappedKey: string;
  /** The plaintext under the data key: base64 iv | tag | ciphertext. */
  ciphertext: string;
}

const IV_BYTES = 12; // GCM's native nonce size
const TAG_BYTES = 16;

function encrypt(key: Buffer, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Undefined when GCM refuses: the bytes, the key or the associated data are not the ones sealed together. */
function decrypt(key: Buffer, sealed: string, aad: string): Buffer | undefined {
  const bytes = Buffer.from(sealed, 'base64');
  if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/**
 * AES-256-GCM envelope encryption: each value gets a fresh random data key, and only that data key
 * is sealed by the master key, so a rotation re-wraps 32 bytes per row and never touches the
 * ciphertext. `aad` (the row's identity, e.g. `workspaceId|integration`) is authenticated by both
 * layers: a row copied under another workspace or integration does not open.
 */
export class SecretBox {
  constructor(private readonly keys: MasterKeys) {}

  /** The id new seals carry; undefined without SECRETS_MASTER_KEY. */
  get currentKeyId(): string | undefined {
    return this.keys.current?.id;
  }

  seal(plaintext: string, aad: string): SealedRecord {
    const master = this.#current('stored');
    const dataKey = randomBytes(32);
    try {
      return { keyId: master.id, wrappedKey: encrypt(master.key, dataKey, aad), ciphertext: encrypt(dataKey, Buffer.from(plaintext, 'utf8'), aad) };
    } finally {
      dataKey.fill(0);
    }
  }

  open(record: SealedRecord, aad: string): string {
    const dataKey = this.#unwrap(record, aad);
    try {
      const plaintext = decrypt(dataKey, record.ciphertext, aad);
      if (!plaintext) throw this.#notAuthentic(record, aad);
      return plaintext.toString('utf8');
    } finally {
      dataKey.fill(0);
    }
  }

  /** The same record with its data key wrapped by the current master key (the ciphertext is kept as it is). */
  rewrap(record: SealedRecord, aad: string): SealedRecord {
    const master = this.#current('stored');
    const dataKey = this.#unwrap(record, aad);
    try {
      return { keyId: master.id, wrappedKey: encrypt(master.key, dataKey, aad), ciphertext: record.ciphertext };
    } finally {
      dataKey.fill(0);
    }
  }

  #current(action: 'stored' | 'read'): MasterKey {
    if (!this.keys.current) throw new MasterKeyMissingError(action);
    return this.keys.current;
  }

  #unwrap(record: SealedRecord, aad: string): Buffer {
    this.#current('read');
    const master = this.keys.find(record.keyId);
    if (!master) {
      throw new CredentialUnreadableError(
        'unknown_key',
        record.keyId,
        `${aad}: sealed with master key id ${record.keyId}, which is neither SECRETS_MASTER_KEY nor in SECRETS_MASTER_KEY_PREVIOUS`,
      );
    }
    const dataKey = decrypt(master.key, record.wrappedKey, aad);
    if (!dataKey) throw this.#notAuthentic(record, aad);
    return dataKey;
  }

  #notAuthentic(record: SealedRecord, aad: string): CredentialUnreadableError {
    return new CredentialUnreadableError(
      'not_authentic',
      record.keyId,
      `${aad}: the stored credentials do not authenticate (altered, or copied from another workspace or integration)`,
    );
  }
}
