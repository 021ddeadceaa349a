import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { createApp, type App, type AppOptions } from '../../src/app/create-app.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export interface RunningApp {
  app: App;
  url: string;
  config: Config;
  database: TestDatabase | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the real server on port 0: real PostgreSQL (a fresh database) unless
 * `embedded` asks for PGlite in a temporary DATA_DIR. `env` is the environment the
 * server would read, so tests configure it exactly as an operator would.
 */
export async function startTestApp(
  env: Record<string, string | undefined> = {},
  options: AppOptions & { embedded?: boolean } = {},
): Promise<RunningApp> {
  const database = options.embedded ? undefined : await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-test-'));
  const config = loadConfig({
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATA_DIR: dataDir,
    ...(database && { DATABASE_URL: database.url }),
    // Apps that share the test Redis must not share queues, caches or rate-limit budgets by accident.
    REDIS_PREFIX: `test-${Math.random().toString(36).slice(2, 10)}`,
    ...env,
  });
  const app = await createApp(config, { logger: createLogger({ level: config.LOG_LEVEL }), ...options });
  const url = await app.listen(0, '127.0.0.1');
  return {
    app,
    url,
    config,
    database,
    async stop() {
      await app.close();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export type ClientSocket = Socket;

/** A real socket.io client; resolves once the server's `session` event arrives. */
export async function connectClient(
  url: string,
  auth: Record<string, unknown> = {},
): Promise<{ socket: ClientSocket; session: { conversationId: string; token: string } }> {
  const socket = connect(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
  const session = await new Promise<{ conversationId: string; token: string }>((resolve, reject) => {
    socket.once('session', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, session };
}

export interface ReplyEvents {
  deltas: string[];
  discards: number;
  done: { messageId: string; text: string; fallback: boolean; cached: boolean; toolCalls: { name: string; status: string }[] };
}

/**
 * Sends a message with an ack and collects the streamed reply until `reply.done`.
 * Events are kept from the moment of sending: a fast turn's events can be read by
 * the client in the same batch as the ack, before the ack's promise resolves.
 */
export async function sendAndCollect(
  socket: ClientSocket,
  text: string,
  clientMessageId = `c-${Math.random().toString(36).slice(2)}`,
  timeoutMs = 10_000,
): Promise<{ ack: any; reply: ReplyEvents }> {
  const events: { type: 'delta' | 'discard' | 'done' | 'error'; payload: any }[] = [];
  let wake: () => void = () => {};
  const record = (type: 'delta' | 'discard' | 'done' | 'error') => (payload: any) => {
    events.push({ type, payload });
    wake();
  };
  const listeners = {
    'reply.delta': record('delta'),
    'reply.discard': record('discard'),
    'reply.done': record('done'),
    'reply.error': record('error'),
  };
  for (const [event, listener] of Object.entries(listeners)) socket.on(event, listener);
  try {
    const ack = await socket.timeout(timeoutMs).emitWithAck('message', { text, clientMessageId });
    if (!ack.ok) return { ack, reply: { deltas: [], discards: 0, done: undefined as never } };
    const mine = () => events.filter((event) => event.payload?.messageId === ack.messageId);
    const deadline = Date.now() + timeoutMs;
    while (!mine().some((event) => event.type === 'done' || event.type === 'error')) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no reply.done within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const deltas: string[] = [];
    let discards = 0;
    let done: ReplyEvents['done'] | undefined;
    for (const event of mine()) {
      if (event.type === 'delta') deltas.push(event.payload.delta);
      else if (event.type === 'discard') {
        discards++;
        deltas.length = 0;
      } else if (event.type === 'error') throw new Error(`reply.error ${event.payload.code}: ${event.payload.message}`);
      else done = event.payload;
    }
    return { ack, reply: { deltas, discards, done: done! } };
  } finally {
    for (const [event, listener] of Object.entries(listeners)) socket.off(event, listener);
  }
}
