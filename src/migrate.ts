import { loadConfigOrExit } from './config/config.js';
import { openDatabase } from './store/database.js';

/**
 * `npm run migrate`: applies the committed migrations once per deploy, before web and
 * worker instances start (they run with migrations off, so they never race on them).
 */
async function migrate(): Promise<void> {
  const config = loadConfigOrExit();
  const database = await openDatabase({ url: config.DATABASE_URL?.reveal(), dataDir: config.DATA_DIR });
  try {
    await database.migrate();
    console.log(JSON.stringify({ level: 'info', database: database.kind, msg: 'migrations applied' }));
  } finally {
    await database.close();
  }
}

await migrate();
