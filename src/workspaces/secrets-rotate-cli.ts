/**
 * Re-wraps every workspace credential's data key with the current master key:
 *
 *   1. SECRETS_MASTER_KEY=<new> SECRETS_MASTER_KEY_PREVIOUS=<old> on every instance (both open, the new one seals)
 *   2. npm run secrets:rotate                 (same DATABASE_URL / DATA_DIR and keys as the server)
 *   3. remove SECRETS_MASTER_KEY_PREVIOUS
 *
 * All rows or none (one transaction); rows already under the new key are skipped, so it can run
 * again. Exit codes: 0 done, 2 a setting or key problem (the message says what to set), 3 the
 * embedded database is open in a running server (stop it first, as for admin:create), 1 anything else.
 */
import { loadConfig, type Config } from '../config/config.js';
import { SwitchboardError } from '../errors/index.js';
import { openDatabase } from '../store/database.js';
import { embeddedDatabaseHolder, EmbeddedDatabaseBusyError, lockEmbeddedDatabase, type LockHolder } from '../store/embedded-lock.js';
import { openCredentialVault } from './credential-vault.js';
import { MasterKeys } from './master-keys.js';

/** PGlite is opened by one process at a time: rows re-wrapped here would not be seen by a running server. */
class DatabaseInUseError extends Error {
  constructor(config: Config, holder: LockHolder) {
    super(
      `the embedded database in ${config.DATA_DIR} is open in another process (${holder.holder}, pid ${holder.pid}${holder.url ? `, ${holder.url}` : ''}): ` +
        'stop the server first, run this command again, then start the server.',
    );
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  // Key problems first: a bad SECRETS_MASTER_KEY needs no database to be reported.
  MasterKeys.fromConfig(config);
  const running = config.DATABASE_URL ? undefined : await embeddedDatabaseHolder(config.DATA_DIR);
  if (running) throw new DatabaseInUseError(config, running);
  const lock = config.DATABASE_URL
    ? undefined
    : await lockEmbeddedDatabase(config.DATA_DIR, 'secrets:rotate').catch((error: unknown) => {
        throw error instanceof EmbeddedDatabaseBusyError ? new DatabaseInUseError(config, error.holder) : error;
      });
  const database = await openDatabase({ url: config.DATABASE_URL?.reveal(), dataDir: config.DATA_DIR, maxConnections: 1 }).catch((error: unknown) => {
    lock?.release();
    throw error;
  });
  try {
    await database.migrate();
    const vault = openCredentialVault(config, database.db);
    // Every key id must open with the configured keys before anything is rewritten: one clear message instead of a failed row.
    await vault.verifyAtStart();
    const { rewrapped, skipped, keyId } = await vault.rotate();
    console.log(`secrets:rotate: ${rewrapped} credentials re-wrapped under key id ${keyId}, ${skipped} already under it`);
  } finally {
    await database.close();
    lock?.release();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const inUse = error instanceof DatabaseInUseError;
    // ConfigError, MasterKeyMissingError, CredentialUnreadableError: the message says what to set, and never holds a secret.
    const known = inUse || error instanceof SwitchboardError;
    console.error(`secrets:rotate: ${known ? (error as Error).message : 'failed'}`);
    if (!known) console.error(error);
    process.exit(inUse ? 3 : known ? 2 : 1);
  },
);
