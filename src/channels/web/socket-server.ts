import type { Server as HttpServer } from 'node:http';
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
  return io as S;
}
