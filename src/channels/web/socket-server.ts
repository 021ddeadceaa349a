import type { Server as HttpServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import cors from 'cors';
import { Server, type ServerOptions } from 'socket.io';
import { boundedParser } from './bounded-parser.js';

/**
 * socket.io's server, with CORS (any origin, no credentials: the widget is embedded on other sites)
 * answered for HTTP long-polling requests only. socket.io's own `cors` option makes it an engine.io
 * middleware, which engine.io also runs on every WebSocket upgrade (a promise chain and a response
 * object per handshake) though browsers apply no CORS to WebSocket: in a reconnect storm, where every
 * visitor upgrades at once, that was ≈ 3 % of the web process's CPU (BENCHMARKS.md, reconnect storm).
 * Long-polling requests, and their preflights, get exactly the headers that option gave them.
 *
 * Each connection writes at most once per event-loop turn (see writeOncePerTurn).
 *
 * Without an HTTP server (a worker), the server is detached: it only broadcasts through the adapter.
 */
export function createSocketServer<S extends Server>(httpServer: HttpServer | undefined, serverOptions: Partial<ServerOptions>): S {
  // A message with too many binary attachments is answered with an error ack, not a dropped connection.
  const options = { parser: boundedParser, ...serverOptions };
  if (!httpServer) return new Server(options) as S;
  const io = new Server(httpServer, options);
  const allowAnyOrigin = cors({ origin: true, credentials: false });
  const handleRequest = io.engine.handleRequest.bind(io.engine);
  io.engine.handleRequest = (request, response) => allowAnyOrigin(request, response, () => handleRequest(request, response));
  io.engine.on('connection', writeOncePerTurn);
  return io as S;
}

/** The parts of engine.io's socket (6.x) that writeOncePerTurn uses; `flush` is private in its types. */
interface EngineSocket {
  flush(): void;
  transport: { name: string; socket?: { _socket?: NetSocket } };
}

/**
 * engine.io writes each packet as it is emitted: one WebSocket frame, one `write` syscall, so the
 * events a turn sends at once (two reply deltas parsed from one read of the provider's stream, a
 * `session` and the CONNECT before it) cost one syscall each, and in this VM a syscall is what a
 * write costs, not its bytes. Here a connection's packets are flushed once per event-loop
 * iteration, in its check phase (`setImmediate`): after the I/O callbacks of the iteration and all
 * the ticks and microtasks they started (a provider's stream is parsed across several: a
 * `process.nextTick` would flush between them), and over WebSocket with the TCP socket corked, so
 * that all the frames go out in one `writev`. No timer: packets leave in the same iteration.
 * Long-polling gains too: the packets of one iteration answer one poll.
 *
 * The TCP socket is ws's (`_socket`, as engine.io itself reaches for ws's `_sender`); without it
 * the frames are still sent, one write each.
 */
function writeOncePerTurn(socket: EngineSocket): void {
  // One shared function and one flag per socket, no closures: with 10,000 idle sockets, three
  // closures each cost ≈ 10 MB of RSS (bench --scenario=idle, 2026-12-07).
  socket.flush = deferredFlush;
}

const flushQueued = Symbol('flushQueued');
type DeferredSocket = EngineSocket & { [flushQueued]?: boolean };

function deferredFlush(this: DeferredSocket): void {
  if (this[flushQueued]) return;
  this[flushQueued] = true;
  setImmediate(flushCorked, this);
}

function flushCorked(socket: DeferredSocket): void {
  socket[flushQueued] = false;
  const tcp = socket.transport.name === 'websocket' ? socket.transport.socket?._socket : undefined;
  tcp?.cork();
  try {
    // engine.io's own flush, from the prototype this socket's `flush` shadows.
    (Object.getPrototypeOf(socket) as EngineSocket).flush.call(socket);
  } finally {
    tcp?.uncork();
  }
}
