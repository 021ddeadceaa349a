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
import { refuseIfEmbeddedInUse, runCli, withCliDatabase } from '../admin/cli-support.js';
import { loadConfig } from '../config/config.js';
import { openCredentialVault } from './credential-vault.js';
import { MasterKeys } from './master-keys.js';

/** PGlite is opened by one process at a time: rows re-wrapped here would not be seen by a running server. */
const WRITTEN = { what: 'credentials re-wrapped' };

async function main(): Promise<void> {
  const config = loadConfig();
  // Key problems first: a bad SECRETS_MASTER_KEY needs no database to be reported.
  MasterKeys.fromConfig(config);
  await refuseIfEmbeddedInUse(config, WRITTEN);
  await withCliDatabase(config, 'secrets:rotate', WRITTEN, async (database) => {
    const vault = openCredentialVault(config, database.db);
    // Every key id must open with the configured keys before anything is rewritten: one clear message instead of a failed row.
    await vault.verifyAtStart();
    const { rewrapped, skipped, keyId } = await vault.rotate();
    console.log(`secrets:rotate: ${rewrapped} credentials re-wrapped under key id ${keyId}, ${skipped} already under it`);
  });
}

runCli('secrets:rotate', main);
