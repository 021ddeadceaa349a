/**
 * `npx tsx bench/reconnect-storm.ts`: BENCH_STORM_CLIENTS (5000) socket.io clients on one web
 * process (`SWITCHBOARD_ROLE=web`, PostgreSQL + a private redis-server); the web process is killed
 * (SIGKILL) and started again on the same port; every client reconnects on its own (socket.io-client
 * reconnection, default backoff) and gets its `session` again. Reports how many came back and the
 * p50/p95/max time from the restarted server listening to each client's `session`.
 * BENCH_STORM_DELAY_MAX_MS sets the clients' reconnectionDelayMax (default 5000, socket.io's and the widget's).
 */
import { spawn } from 'node:child_process';
import { io as connect, type Socket } from 'socket.io-client';
import { startAppProcess, type AppProcess } from '../test/helpers/app-process.js';
import { freePort, startPrivateRedis } from '../test/helpers/private-redis.js';
import { createTestDatabase } from '../test/helpers/test-database.js';

const CLIENTS = Number(process.env.BENCH_STORM_CLIENTS ?? 5000);
const BATCH = 250;
/** socket.io-client's reconnectionDelayMax (its default, 5000, is what the widget uses). */
const DELAY_MAX_MS = Number(process.env.BENCH_STORM_DELAY_MAX_MS ?? 5000);
const ROOT = new URL('..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function migrate(databaseUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/migrate.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl }, stdio: 'ignore' });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited ${code}`))));
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

const [redis, database, port] = await Promise.all([startPrivateRedis(), createTestDatabase(), freePort()]);
const env = {
  DATABASE_URL: database.url,
  REDIS_URL: redis.url,
  SWITCHBOARD_ROLE: 'web',
  PORT: String(port),
  RATE_LIMIT_IP_PER_MINUTE: '0',
};
let web: AppProcess | undefined;
const sockets: Socket[] = [];
try {
  await migrate(database.url);
  web = await startAppProcess(env);
  const sessionAt = new Map<Socket, number>();
  for (let i = 0; i < CLIENTS; i += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, CLIENTS - i) }, async () => {
        const socket = connect(web!.url, { transports: ['websocket'], forceNew: true, reconnectionDelayMax: DELAY_MAX_MS });
        socket.on('session', () => sessionAt.set(socket, Date.now()));
        sockets.push(socket);
        await new Promise((resolve, reject) => {
          socket.once('session', resolve);
          socket.once('connect_error', reject);
        });
      }),
    );
  }
  console.log(`${sockets.length} clients connected`);
  sessionAt.clear();
  await web.kill();
  await sleep(500);
  web = await startAppProcess(env);
  const listening = Date.now();
  const deadline = listening + 60_000;
  while (sessionAt.size < CLIENTS && Date.now() < deadline) await sleep(100);
  const times = [...sessionAt.values()].map((at) => Math.max(0, at - listening)).sort((a, b) => a - b);
  console.log(
    `reconnected ${times.length}/${CLIENTS} (${((100 * times.length) / CLIENTS).toFixed(1)} %) after the restart: ` +
      `p50 ${percentile(times, 50)} ms, p95 ${percentile(times, 95)} ms, max ${times.at(-1)} ms (from the new process listening; reconnectionDelayMax ${DELAY_MAX_MS} ms)`,
  );
} finally {
  for (const socket of sockets) socket.disconnect();
  await web?.kill();
  await redis.kill();
  await database.drop();
}
