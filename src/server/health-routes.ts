import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Database } from '../store/database.js';

const READY_CHECK_TIMEOUT_MS = 2000;

/** `/health`: the process is up. `/ready`: it can serve (database, and Redis when configured, answer). */
export function registerHealthRoutes(
  http: FastifyInstance,
  deps: { database: Database; redis: Redis | undefined; isShuttingDown: () => boolean },
): void {
  http.get('/health', async () => ({ status: 'ok' }));

  http.get('/ready', async (_request, reply) => {
    const [database, redis] = await Promise.all([
      check(() => deps.database.ping()),
      deps.redis ? check(() => deps.redis!.ping()) : Promise.resolve('not_configured' as const),
    ]);
    const shuttingDown = deps.isShuttingDown();
    const ready = database === 'ok' && redis !== 'down' && !shuttingDown;
    return reply
      .status(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not_ready', checks: { database, redis, shuttingDown } });
  });
}

async function check(probe: () => Promise<unknown>): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'down'>((resolve) => {
    timer = setTimeout(() => resolve('down'), READY_CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([probe().then(() => 'ok' as const, () => 'down' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
