import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { z } from 'zod';

/** What the callback needs to finish the sign-in the start route began, kept by the browser. */
export interface LoginTransaction {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** The redirect URI sent to the provider; the token request must repeat it exactly. */
  redirectUri: string;
  /** Epoch ms. */
  expiresAt: number;
}

const transactionSchema = z
  .object({
    state: z.string().min(16).max(200),
    nonce: z.string().min(16).max(200),
    codeVerifier: z.string().min(43).max(128),
    redirectUri: z.url(),
    expiresAt: z.number().int(),
  })
  .strict();

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals a login transaction into a cookie value with AES-256-GCM (secret and tamper-proof), under
 * a key derived from the client secret: every instance behind a load balancer shares it, so the
 * callback may land on another instance than the start. `now` is injectable for tests.
 */
export class LoginTransactionSealer {
  readonly #key: Buffer;

  constructor(
    secret: string,
    private readonly now: () => number = Date.now,
  ) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'switchboard', 'admin-oidc-login-transaction', 32));
  }

  seal(transaction: LoginTransaction): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(transaction), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** The transaction, or undefined when the value is missing, forged, for another key or expired. */
  open(value: string | undefined): LoginTransaction | undefined {
    if (!value || value.length > 4096) return undefined;
    const raw = Buffer.from(value, 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      const parsed = transactionSchema.safeParse(JSON.parse(text));
      return parsed.success && parsed.data.expiresAt > this.now() ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}
