/**
 * The floor of the reconnect storm (`BENCH_STORM_SERVER=bare npx tsx bench/reconnect-storm.ts`):
 * a socket.io server with its default options and nothing of Switchboard's (no session lookup,
 * no Redis adapter, no connection-state recovery, no logging), answering each connection with the
 * `session` event the widget waits for. What it costs per handshake is what socket.io, engine.io,
 * ws and the kernel cost on this machine, which no change to Switchboard's own code can go below.
 * The token is the conversation id, so a client comes back to "its" conversation as it does from
 * the real server. Prints the same "Switchboard listening" line the bench waits for.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 0);
const httpServer = createServer();
const io = new Server(httpServer);
io.on('connection', (socket) => {
  const presented = (socket.handshake.auth as { token?: unknown }).token;
  const token = typeof presented === 'string' ? presented : randomUUID();
  socket.emit('session', { conversationId: token, token });
});
// The backlog Switchboard listens with (src/server/app.ts), so no connection waits on a full listen queue here either.
httpServer.listen({ port, host: process.env.HOST ?? '127.0.0.1', backlog: 4096 }, () => {
  const address = httpServer.address() as { port: number };
  console.log(JSON.stringify({ time: Date.now(), address: `http://127.0.0.1:${address.port}`, msg: 'Switchboard listening (bare socket.io)' }));
});
