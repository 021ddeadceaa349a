import { loadConfigOrExit, type Config } from './config/config.js';
import { createStdoutLogger, resolveLogFormat } from './observability/logger.js';
import { EmbeddedDatabaseBusyError, lockEmbeddedDatabase, type EmbeddedDatabaseLock } from './store/embedded-lock.js';

/** Entry point: `npm start`. Reads the environment, starts the server, shuts down gracefully on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const terminal = process.stdout.isTTY === true;
  const format = resolveLogFormat(config.LOG_FORMAT, terminal);
  const logger = await createStdoutLogger({ level: config.LOG_LEVEL, format, colors: terminal });
  const lock = config.DATABASE_URL ? undefined : await lockDataDirOrExit(config);
  // Loaded after the config is known good, so a bad setting fails fast without loading every SDK.
  const [{ createApp }, { startupFacts }, { renderBanner }] = await Promise.all([
    import('./app/create-app.js'),
    import('./app/startup-facts.js'),
    import('./app/startup-banner.js'),
  ]);
  const app = await createApp(config, { logger });
  const address = await app.listen();
  // The generated setup token is handed out once, here, and then only its hash stays in memory.
  const firstRun = app.firstRun?.takeNotice() ?? { open: false };
  const facts = startupFacts({ config, address, mountedChannels: app.channels.list.map((channel) => channel.name), firstRun });
  await lock?.setUrl(facts.demoUrl.replace(/\/$/, ''));
  if (format === 'pretty') {
    app.logger.info({ address, database: app.database.kind, role: config.SWITCHBOARD_ROLE }, 'Switchboard listening');
    process.stdout.write(renderBanner(facts, { setupToken: firstRun.open ? firstRun.token : undefined, colors: terminal, columns: terminal ? process.stdout.columns : undefined }));
  } else {
    // The banner's facts as one line for log collectors: never the setup token, only where to find it.
    app.logger.info({ address, ...facts }, 'Switchboard listening');
  }

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.logger.info({ signal }, 'shutting down: finishing turns in flight');
    app.close().then(
      () => {
        lock?.release();
        process.exit(0);
      },
      (error: unknown) => {
        app.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** One process at a time on the embedded database: a second server (or one started while `admin:create` runs) stops here. */
async function lockDataDirOrExit(config: Config): Promise<EmbeddedDatabaseLock> {
  try {
    return await lockEmbeddedDatabase(config.DATA_DIR, 'server');
  } catch (error) {
    if (!(error instanceof EmbeddedDatabaseBusyError)) throw error;
    const { holder } = error;
    const who = holder.holder === 'server' ? `a Switchboard server${holder.url ? ` at ${holder.url}` : ''}` : holder.holder;
    console.error(
      `Switchboard cannot start: the embedded database in ${config.DATA_DIR} is open in another process (${who}, pid ${holder.pid}).\n` +
        'Only one process can open it at a time. Stop that process first, or set DATA_DIR to another folder, ' +
        'or set DATABASE_URL so several processes share one PostgreSQL.',
    );
    process.exit(1);
  }
}

await main();
