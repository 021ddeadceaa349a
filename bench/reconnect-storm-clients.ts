/**
 * One client process of bench/reconnect-storm.ts: holds its share of the socket.io clients, so their
 * CPU is a separate process the bench can measure (and not the bench's own event loop timing them).
 * Each client behaves like the widget: it presents the latest token it was given on every
 * (re)connect and relies on socket.io-client's own reconnection and backoff.
 */
import { createHash } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { io as connect, type Socket } from 'socket.io-client';
import type { ClientOutcome, FirstSession, FromClients, ToClients } from './reconnect-storm-protocol.js';

const BATCH = 250;

interface Client {
  socket: Socket;
  token?: string;
  conversationId?: string;
  outcome?: ClientOutcome;
  lastAttemptAt?: number;
}

const clients: Client[] = [];
const eventLoopDelay = monitorEventLoopDelay({ resolution: 10 });
let marked = false;
let reconnected = 0;

const send = (message: FromClients) => process.send!(message);

process.on('message', (message: ToClients) => {
  switch (message.type) {
    case 'connect':
      void openClients(message).then((sessions) => send({ type: 'connected', sessions }));
      break;
    case 'mark':
      marked = true;
      reconnected = 0;
      for (const client of clients) client.outcome = { attempts: 0, resumed: false, failures: [] };
      startProgress();
      eventLoopDelay.enable();
      break;
    case 'report':
      eventLoopDelay.disable();
      send({
        type: 'report',
        outcomes: clients.map((client) => client.outcome ?? { attempts: 0, resumed: false, failures: [] }),
        eventLoopDelayMs: { p99: Math.round(eventLoopDelay.percentile(99) / 1e6), max: Math.round(eventLoopDelay.max / 1e6) },
      });
      break;
    case 'close':
      for (const client of clients) client.socket.disconnect();
      process.disconnect();
      break;
  }
});

/** A few messages a second, not one per session: the IPC must not cost the clients CPU in the storm. */
function startProgress(): void {
  let reported = 0;
  const timer = setInterval(() => {
    if (reconnected === reported) return;
    reported = reconnected;
    send({ type: 'progress', reconnected });
  }, 50);
  timer.unref();
}

async function openClients(options: Extract<ToClients, { type: 'connect' }>): Promise<FirstSession[]> {
  const sessions: FirstSession[] = [];
  for (let i = 0; i < options.count; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, options.count - i) }, () => openClient(options));
    sessions.push(...(await Promise.all(batch)));
  }
  return sessions;
}

function openClient(options: Extract<ToClients, { type: 'connect' }>): Promise<FirstSession> {
  const client: Client = {} as Client;
  client.socket = connect(options.url, {
    transports: options.transports,
    forceNew: true,
    reconnectionDelayMax: options.delayMaxMs,
    // As the widget does: every reconnect presents the latest token the server issued.
    auth: (callback) => callback(client.token ? { token: client.token } : {}),
  });
  clients.push(client);
  client.socket.io.on('reconnect_attempt', () => {
    if (!client.outcome) return;
    client.outcome.attempts++;
    client.lastAttemptAt = Date.now();
  });
  client.socket.io.on('reconnect_error', (error) => {
    if (!client.outcome || client.lastAttemptAt === undefined) return;
    const cause = (error as Error & { description?: { message?: string } }).description?.message;
    client.outcome.failures.push({ attemptAt: client.lastAttemptAt, failedAt: Date.now(), error: cause ?? error.message });
  });
  client.socket.on('session', (session: { conversationId: string; token: string }) => {
    const at = Date.now();
    if (marked && client.outcome && client.outcome.sessionAt === undefined) {
      client.outcome.sessionAt = at;
      if (client.lastAttemptAt !== undefined) client.outcome.attemptAt = client.lastAttemptAt;
      client.outcome.resumed = session.conversationId === client.conversationId;
      reconnected++;
    }
    client.token = session.token;
    client.conversationId = session.conversationId;
  });
  return new Promise((resolve, reject) => {
    client.socket.once('session', (session: { conversationId: string; token: string }) =>
      resolve({ conversationId: session.conversationId, tokenHash: createHash('sha256').update(session.token).digest('hex') }),
    );
    client.socket.once('connect_error', reject);
  });
}
