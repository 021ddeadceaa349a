import { randomInt, timingSafeEqual } from 'node:crypto';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Secret } from '../config/secret.js';
import type { Logger } from '../observability/logger.js';
import { digest } from './admin-auth.js';
import type { AdminStore } from './admin-store.js';

/** Where a generated token is also written (mode 0600), for a server whose output is a log collector's. */
const SETUP_TOKEN_FILE = 'admin-setup-token';

/** No 0/o, 1/l/i: read off a terminal and typed without guessing. 20 of 31 letters: about 99 bits. */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** What the start-up banner says about getting the first account. */
export type FirstRunNotice =
  | { open: false }
  | { open: true; token: string | undefined; tokenFile: string | undefined; fromSetting: boolean };

/**
 * The first-run setup: while no admin account exists, whoever holds the setup token may create
 * the first one (an admin) at /admin. The token is generated at each start (or set with
 * ADMIN_SETUP_TOKEN), shown once in the start-up banner and written to DATA_DIR/admin-setup-token;
 * this process keeps only its sha256. It works once, and never after any account exists.
 */
export class FirstRunSetup {
  #digest: Buffer | undefined;
  /** The generated token until the banner takes it; afterwards only the digest is kept. */
  #token: string | undefined;
  #tokenFile: string | undefined;
  #fromSetting = false;
  /** A setup is creating the account right now: a second valid request waits for no token. */
  #claimed = false;

  private constructor(
    private readonly store: AdminStore,
    private readonly logger: Logger,
  ) {}

  /** Opens the setup when the database has no account; otherwise removes a token file left from an earlier start. */
  static async prepare(deps: { store: AdminStore; logger: Logger; dataDir: string; configuredToken?: Secret | undefined }): Promise<FirstRunSetup> {
    const setup = new FirstRunSetup(deps.store, deps.logger);
    const file = join(deps.dataDir, SETUP_TOKEN_FILE);
    if (await deps.store.hasAnyUser()) {
      await unlink(file).catch(() => undefined);
      return setup;
    }
    if (deps.configuredToken) {
      setup.#digest = digest(deps.configuredToken.reveal());
      setup.#fromSetting = true;
      await unlink(file).catch(() => undefined);
      return setup;
    }
    const token = Array.from({ length: 4 }, () => Array.from({ length: 5 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')).join('-');
    setup.#digest = digest(token);
    setup.#token = token;
    try {
      await mkdir(deps.dataDir, { recursive: true });
      await writeFile(file, `${token}\n`, { mode: 0o600 });
      setup.#tokenFile = file;
    } catch (error) {
      deps.logger.warn({ err: error, dataDir: deps.dataDir }, 'could not write the first-run setup token file; the token is only in the start-up banner');
    }
    return setup;
  }

  /** For the start-up banner, once: the generated token itself, then never again. */
  takeNotice(): FirstRunNotice {
    if (!this.#digest) return { open: false };
    const token = this.#token;
    this.#token = undefined;
    return { open: true, token, tokenFile: this.#tokenFile, fromSetting: this.#fromSetting };
  }

  /** Whether the setup is still open: a token and no account yet (one made by `admin:create` closes it too). */
  async isOpen(): Promise<boolean> {
    if (!this.#digest) return false;
    if (await this.store.hasAnyUser()) {
      await this.close();
      return false;
    }
    return true;
  }

  /**
   * Compares in constant time (both sides hashed: equal lengths, no length leak); a match claims
   * the setup until `close` or `unclaim`. `busy`: the right token, while another request uses it.
   */
  claim(candidate: string): 'claimed' | 'wrong' | 'busy' {
    if (!this.#digest || !timingSafeEqual(digest(candidate), this.#digest)) return 'wrong';
    if (this.#claimed) return 'busy';
    this.#claimed = true;
    return 'claimed';
  }

  /** The account could not be created (a database error): the token works again. */
  unclaim(): void {
    this.#claimed = false;
  }

  /** The first account exists: the token is spent and its file removed. */
  async close(): Promise<void> {
    this.#digest = undefined;
    this.#token = undefined;
    this.#claimed = false;
    if (this.#tokenFile) await unlink(this.#tokenFile).catch(() => undefined);
    this.#tokenFile = undefined;
    this.logger.info('first-run setup closed: an admin account exists');
  }
}
