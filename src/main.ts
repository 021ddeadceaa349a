import { loadConfigOrExit } from './config/config.js';

/** Entry point: `npm start`. Reads the environment, starts the server, shuts down gracefully on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  // Loaded after the config is known good, so a bad setting fails fast without loading every SDK.
  const { createApp } = await import('./app/create-app.js');
  const app = await createApp(config);
  const address = await app.listen();
  app.logger.info({ address, database: app.database.kind, role: config.SWITCHBOARD_ROLE }, 'Switchboard listening');

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.logger.info({ signal }, 'shutting down: finishing turns in flight');
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

await main();
