import { and, asc, eq, sql } from 'drizzle-orm';
import type { Config } from '../config/config.js';
import { ConfigError, CredentialUnreadableError, MasterKeyMissingError } from '../errors/index.js';
import type { Db } from '../store/database.js';
import { workspaceCredentials } from '../store/schema.js';
import { isIntegrationName, parseCredentials, type CredentialValues, type IntegrationName, type IntegrationValues } from './integrations.js';
import { MasterKeys } from './master-keys.js';
import { maskValues } from './masking.js';
import { SecretBox, type SealedRecord } from './secret-box.js';

export interface MaskedCredential {
  integration: IntegrationName;
  masked: Record<string, string>;
  updatedAt: Date;
}

export interface RotationResult {
  /** Rows whose data key is now wrapped by SECRETS_MASTER_KEY. */
  rewrapped: number;
  /** Rows that already were. */
  skipped: number;
  keyId: string;
}

/** The row's identity, bound into both AES-GCM layers: a row copied to another workspace or integration does not open. */
const aadOf = (workspaceId: string, integration: string) => `${workspaceId}|${integration}`;

/**
 * A workspace's credentials per integration, sealed in `workspace_credentials`. Reads are decrypted
 * once per workspace and kept in memory until a write here or `invalidate` (which the workspace
 * directory calls when another instance announces a change).
 */
export class CredentialVault {
  /** Workspace id → its decrypted credentials; the promise itself is cached so concurrent turns share one read. */
  readonly #cache = new Map<string, Promise<ReadonlyMap<IntegrationName, CredentialValues>>>();

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  /** Validates (a CredentialInvalidError names the field, never the value), seals and stores; replaces what was stored. */
  async put<Name extends IntegrationName>(workspaceId: string, integration: Name, input: unknown): Promise<void> {
    const values = parseCredentials(integration, input);
    const sealed = this.box.seal(JSON.stringify(values), aadOf(workspaceId, integration));
    const masked = maskValues(integration, values);
    this.#cache.delete(workspaceId);
    await this.db
      .insert(workspaceCredentials)
      .values({ workspaceId, integration, ...sealed, masked })
      .onConflictDoUpdate({
        target: [workspaceCredentials.workspaceId, workspaceCredentials.integration],
        set: { ...sealed, masked, updatedAt: sql`now()` },
      });
    this.#cache.delete(workspaceId); // a read that started during the write must not stay cached
  }

  async get<Name extends IntegrationName>(workspaceId: string, integration: Name): Promise<IntegrationValues<Name> | undefined> {
    return (await this.all(workspaceId)).get(integration) as IntegrationValues<Name> | undefined;
  }

  /** Every integration the workspace stored, decrypted: what credentialOverlay takes. */
  all(workspaceId: string): Promise<ReadonlyMap<IntegrationName, CredentialValues>> {
    let loading = this.#cache.get(workspaceId);
    if (!loading) {
      loading = this.#load(workspaceId);
      this.#cache.set(workspaceId, loading);
      loading.catch(() => {
        if (this.#cache.get(workspaceId) === loading) this.#cache.delete(workspaceId);
      });
    }
    return loading;
  }

  async delete(workspaceId: string, integration: IntegrationName): Promise<boolean> {
    this.#cache.delete(workspaceId);
    const removed = await this.db
      .delete(workspaceCredentials)
      .where(and(eq(workspaceCredentials.workspaceId, workspaceId), eq(workspaceCredentials.integration, integration)))
      .returning({ integration: workspaceCredentials.integration });
    this.#cache.delete(workspaceId);
    return removed.length > 0;
  }

  /** Drops the decrypted copies of one workspace, or of all. */
  invalidate(workspaceId?: string): void {
    if (workspaceId === undefined) this.#cache.clear();
    else this.#cache.delete(workspaceId);
  }

  /** For the console: which integrations are stored, masked. Opens nothing, so it works without a master key. */
  async listMasked(workspaceId: string): Promise<MaskedCredential[]> {
    const rows = await this.db
      .select({ integration: workspaceCredentials.integration, masked: workspaceCredentials.masked, updatedAt: workspaceCredentials.updatedAt })
      .from(workspaceCredentials)
      .where(eq(workspaceCredentials.workspaceId, workspaceId))
      .orderBy(asc(workspaceCredentials.integration));
    return rows.filter((row): row is MaskedCredential => isIntegrationName(row.integration));
  }

  /**
   * At start-up: every master key id in the table must open a row with the configured keys. One row per
   * key id is opened for real (an id can match while the key does not: a row altered by hand). Fails
   * with a ConfigError that says what to set, instead of failing turn by turn later.
   */
  async verifyAtStart(): Promise<void> {
    const groups = await this.db
      .select({ keyId: workspaceCredentials.keyId, rows: sql<number>`count(*)::int` })
      .from(workspaceCredentials)
      .groupBy(workspaceCredentials.keyId);
    if (groups.length === 0) return;
    const total = groups.reduce((sum, group) => sum + Number(group.rows), 0);
    if (this.box.currentKeyId === undefined) {
      throw new ConfigError(
        `SECRETS_MASTER_KEY is not set, but ${total} workspace credentials are stored (key id ${groups.map((group) => group.keyId).join(', ')}): set it to the key they were sealed with`,
      );
    }
    const failed: { keyId: string; rows: number; reason: string }[] = [];
    for (const group of groups) {
      const [row] = await this.db.select().from(workspaceCredentials).where(eq(workspaceCredentials.keyId, group.keyId)).limit(1);
      if (!row) continue; // deleted meanwhile
      try {
        this.box.open(row, aadOf(row.workspaceId, row.integration));
      } catch (error) {
        if (!(error instanceof CredentialUnreadableError)) throw error;
        failed.push({ keyId: group.keyId, rows: Number(group.rows), reason: error.reason });
      }
    }
    if (failed.length === 0) return;
    const count = failed.reduce((sum, group) => sum + group.rows, 0);
    const ids = failed.map((group) => group.keyId).join(', ');
    if (failed.every((group) => group.reason === 'not_authentic')) {
      throw new ConfigError(`the stored workspace credentials under key id ${ids} do not authenticate with the key of that id: a row was altered; delete it and store it again`);
    }
    throw new ConfigError(
      `SECRETS_MASTER_KEY does not open the ${count} stored credentials (key id ${ids}): set it to the key they were sealed with, or put that key in SECRETS_MASTER_KEY_PREVIOUS while rotating`,
    );
  }

  /**
   * Re-wraps every row's data key with SECRETS_MASTER_KEY, in one transaction (all rows or none);
   * the ciphertext stays as it is. Rows already under that key are skipped, so running it twice is harmless.
   */
  async rotate(): Promise<RotationResult> {
    const keyId = this.box.currentKeyId;
    if (keyId === undefined) throw new MasterKeyMissingError('stored');
    const result = await this.db.transaction(async (tx) => {
      const rows = await tx.select().from(workspaceCredentials).for('update');
      let rewrapped = 0;
      for (const row of rows) {
        if (row.keyId === keyId) continue;
        const next = this.box.rewrap(row, aadOf(row.workspaceId, row.integration));
        await tx
          .update(workspaceCredentials)
          .set({ keyId: next.keyId, wrappedKey: next.wrappedKey })
          .where(and(eq(workspaceCredentials.workspaceId, row.workspaceId), eq(workspaceCredentials.integration, row.integration)));
        rewrapped++;
      }
      return { rewrapped, skipped: rows.length - rewrapped };
    });
    this.#cache.clear();
    return { ...result, keyId };
  }

  async #load(workspaceId: string): Promise<ReadonlyMap<IntegrationName, CredentialValues>> {
    const rows = await this.db.select().from(workspaceCredentials).where(eq(workspaceCredentials.workspaceId, workspaceId));
    const values = new Map<IntegrationName, CredentialValues>();
    for (const row of rows) {
      if (!isIntegrationName(row.integration)) continue; // an integration this version no longer knows
      values.set(row.integration, Object.freeze(JSON.parse(this.box.open(row as SealedRecord, aadOf(workspaceId, row.integration))) as CredentialValues));
    }
    return values;
  }
}

/** The vault of this process, with the master keys from the config (a ConfigError for a key that is not 32 bytes). */
export function openCredentialVault(config: Pick<Config, 'SECRETS_MASTER_KEY' | 'SECRETS_MASTER_KEY_PREVIOUS'>, db: Db): CredentialVault {
  return new CredentialVault(db, new SecretBox(MasterKeys.fromConfig(config)));
}
