import { loadConfigOrExit } from './config/config.js';
import { openDatabase } from './store/database.js';
import { EmbeddedDatabaseBusyError, lockEmbeddedDatabase } from './store/embedded-lock.js';

/**
 * `npm run migrate`: applies the committed migrations once per deploy, before web and
 * worker instances start (they run with migrations off, so they never race on them).
 */
async function migrate(): Promise<void> {
  const config = loadConfigOrExit();
  // The embedded database is one process's: migrating it under a running server could corrupt it.
  let lock;
  if (!config.DATABASE_URL) {
    try {
      lock = await lockEmbeddedDatabase(config.DATA_DIR, 'migrate');
    } catch (error) {
      if (!(error instanceof EmbeddedDatabaseBusyError)) throw error;
      console.error(`${error.message}: stop the server first (it applies migrations itself at start-up).`);
      process.exit(3);
    }
  }
  const database = await openDatabase({ url: config.DATABASE_URL?.reveal(), dataDir: config.DATA_DIR });
  try {
    await database.migrate();
    console.log(JSON.stringify({ level: 'info', database: database.kind, msg: 'migrations applied' }));
  } finally {
    await database.close();
    lock?.release();
  }
}

await migrate();
