/**
 * The socket.io floor, for the reconnect storm and for web turns.
 *
 * Reconnect storm (`BENCH_STORM_SERVER=bare npx tsx bench/reconnect-storm.ts`): a socket.io server
 * with its default options and nothing of Switchboard's (no session lookup, no Redis adapter, no
 * connection-state recovery, no logging), answering each connection with the `session` event the
 * widget waits for. What it costs per handshake is what socket.io, engine.io, ws and the kernel cost
 * on this machine, which no change to Switchboard's own code can go below. The token is the
 * conversation id, so a client comes back to "its" conversation as it does from the real server.
 *
 * Web turns (`npm run bench`, serial and load: the echo floor): a `message` gets what Switchboard
 * sends for a turn: the ack `{ ok, messageId }`, then BARE_DELTAS `reply.delta` events (the number a
 * Switchboard turn sent in the same run) and one `reply.done` with the fake provider's text, emitted
 * to the socket (no room: the storm's floor stays as it was), after BARE_REPLY_DELAY_MS (the fake
 * provider's latency in that scenario). Nothing is stored, queued or called.
 *
 * Prints the same "Switchboard listening" line the benches wait for.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { BENCH_REPLY } from './fake-provider-protocol.js';

const port = Number(process.env.PORT ?? 0);
const deltas = Math.max(0, Number(process.env.BARE_DELTAS ?? 1));
const replyDelayMs = Math.max(0, Number(process.env.BARE_REPLY_DELAY_MS ?? 0));
const httpServer = createServer();
const io = new Server(httpServer);

/** The reply text cut into `count` deltas (the text itself when there are none to cut into). */
function cut(text: string, count: number): string[] {
  if (count <= 1) return count === 1 ? [text] : [];
  const size = Math.ceil(text.length / count);
  return Array.from({ length: count }, (_, index) => text.slice(index * size, (index + 1) * size));
}
const pieces = cut(BENCH_REPLY, deltas);

io.on('connection', (socket) => {
  const presented = (socket.handshake.auth as { token?: unknown }).token;
  const token = typeof presented === 'string' ? presented : randomUUID();
  socket.emit('session', { conversationId: token, token });
  socket.on('message', (_payload: unknown, ack?: (answer: unknown) => void) => {
    const messageId = randomUUID();
    if (typeof ack === 'function') ack({ ok: true, messageId });
    const reply = () => {
      for (const delta of pieces) socket.emit('reply.delta', { messageId, delta });
      socket.emit('reply.done', { messageId, text: BENCH_REPLY, fallback: false, cached: false, toolCalls: [], author: 'agent' });
    };
    if (replyDelayMs > 0) setTimeout(reply, replyDelayMs);
    else setImmediate(reply);
  });
});
// The backlog Switchboard listens with (src/server/app.ts), so no connection waits on a full listen queue here either.
httpServer.listen({ port, host: process.env.HOST ?? '127.0.0.1', backlog: 4096 }, () => {
  const address = httpServer.address() as { port: number };
  console.log(JSON.stringify({ time: Date.now(), address: `http://127.0.0.1:${address.port}`, msg: 'Switchboard listening (bare socket.io)' }));
});
process.on('SIGTERM', () => {
  void io.close();
  process.exit(0);
});
