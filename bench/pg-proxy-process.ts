/**
 * A counting TCP proxy between the server and PostgreSQL, in a process of its own (its CPU is
 * measured apart; the bench process's event loop times the clients and must not carry this
 * traffic). pg_stat_statements is not preloaded on the bench machine, so statements are counted on
 * the wire: every frontend message after the startup packet, by type (Q simple query and E execute
 * are statements). An SSL or GSSAPI encryption request is refused ('N'), as PostgreSQL itself may,
 * so the stream stays readable; a cancel request is passed through uncounted.
 *
 * It also makes idle backends publish their statistics on request (see `flush` in
 * pg-proxy-protocol.ts): PostgreSQL 15 backends keep pending counts until their next transaction a
 * second after the last publish, or their exit, so `pg_stat_database.xact_commit` lags otherwise.
 *
 *   node --import tsx bench/pg-proxy-process.ts --target=127.0.0.1:5432
 */
import { createServer, connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import type { FromPgProxy, PgWireCounts, ToPgProxy } from './pg-proxy-protocol.js';

const { values } = parseArgs({ options: { target: { type: 'string', default: '127.0.0.1:5432' } } });
const [targetHost, targetPort] = (() => {
  const match = /^(.*):(\d+)$/.exec(values.target);
  if (!match) throw new Error(`--target: expected host:port, got ${values.target}`);
  return [match[1]!, Number(match[2])] as const;
})();

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Frontend messages of the extended protocol: until the next Sync, a transaction may be open. */
const EXTENDED = new Set(['P', 'B', 'D', 'E', 'C']);
const READY_FOR_QUERY = 0x5a; // 'Z'
/** Backend messages that may arrive at any time (notice, notification, parameter status): never the answer to a query. */
const ASYNCHRONOUS = new Set([0x4e, 0x41, 0x53]);
/** The proxy's own transaction: an empty simple query (one commit, answered by EmptyQueryResponse and ReadyForQuery). */
const EMPTY_QUERY = Buffer.from([0x51, 0, 0, 0, 5, 0]);

const counts: PgWireCounts = { messages: {}, statements: 0, roundTrips: 0, commits: 0, rollbacks: 0, connections: 0, encryptionRefused: 0, injectedQueries: 0 };
const ERROR_RESPONSE = 0x45; // 'E'
const COMMAND_COMPLETE = 0x43; // 'C'

/** What one request cycle (up to a Sync, or one simple query) was: did it start a transaction command? The proxy's own and the startup are apart. */
type Cycle = 'startup' | 'proxy' | 'work' | 'empty';

interface Connection {
  client: Socket;
  upstream: Socket;
  phase: 'startup' | 'typed' | 'raw';
  startup: Buffer;
  /** Frontend parser: bytes of the current message's body still to come, and a header split across chunks. */
  frontRemaining: number;
  frontHeader: Buffer;
  /** Backend parser: the same, plus whether the current message is being dropped (the answer to the proxy's own query). */
  backRemaining: number;
  backHeader: Buffer;
  backDropping: boolean;
  backStatusNext: boolean;
  /** The type of the backend message being read, and the start of a CommandComplete's tag. */
  backType: number;
  backTag: string;
  /** Request cycles sent and not yet answered by their ReadyForQuery, oldest first. */
  cycles: Cycle[];
  /** Extended-protocol messages since the last Sync that start a transaction command (Parse, Bind, Describe, Execute). */
  cycleWork: boolean;
  /** In the cycle being answered: an ErrorResponse, or a ROLLBACK tag (also what COMMIT of a failed block answers). */
  cycleFailed: boolean;
  /** ReadyForQuery messages still owed to the client (startup, each Sync, each simple query). */
  outstanding: number;
  /** ReadyForQuery messages owed to the proxy's own queries: their answers are swallowed. */
  swallow: number;
  /** Extended-protocol messages since the last Sync: a Sync now would end the client's batch. */
  extendedOpen: boolean;
  /** The transaction status of the last ReadyForQuery ('I' idle, 'T' in a transaction, 'E' failed). */
  status: string;
  lastActivity: number;
}

const connections = new Set<Connection>();

const server = createServer((client) => {
  counts.connections++;
  const upstream = connect(targetPort, targetHost);
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  const connection: Connection = {
    client,
    upstream,
    phase: 'startup',
    startup: Buffer.alloc(0),
    frontRemaining: 0,
    frontHeader: Buffer.alloc(0),
    backRemaining: 0,
    backHeader: Buffer.alloc(0),
    backDropping: false,
    backStatusNext: false,
    backType: 0,
    backTag: '',
    cycles: [],
    cycleWork: false,
    cycleFailed: false,
    outstanding: 0,
    swallow: 0,
    extendedOpen: false,
    status: 'I',
    lastActivity: performance.now(),
  };
  connections.add(connection);
  const close = () => {
    connections.delete(connection);
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  client.on('data', (chunk: Buffer) => {
    connection.lastActivity = performance.now();
    const forward = fromClient(connection, chunk);
    if (forward.length > 0 && !upstream.write(forward)) {
      client.pause();
      upstream.once('drain', () => client.resume());
    }
  });
  upstream.on('data', (chunk: Buffer) => {
    connection.lastActivity = performance.now();
    const forward = fromServer(connection, chunk);
    if (forward.length > 0 && !client.write(forward)) {
      upstream.pause();
      client.once('drain', () => upstream.resume());
    }
  });
});

/** Parses what the client sent (counting it) and returns the bytes to pass on. */
function fromClient(connection: Connection, chunk: Buffer): Buffer {
  if (connection.phase === 'raw') return chunk;
  if (connection.phase === 'startup') {
    connection.startup = Buffer.concat([connection.startup, chunk]);
    const parts: Buffer[] = [];
    while (connection.phase === 'startup' && connection.startup.length >= 8) {
      const length = connection.startup.readInt32BE(0);
      if (connection.startup.length < length) break;
      const code = connection.startup.readInt32BE(4);
      const message = connection.startup.subarray(0, length);
      connection.startup = connection.startup.subarray(length);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        counts.encryptionRefused++;
        connection.client.write('N');
        continue;
      }
      parts.push(message);
      // A cancel request has a connection of its own and no protocol after it.
      connection.phase = code === CANCEL_REQUEST ? 'raw' : 'typed';
      if (connection.phase === 'typed') {
        connection.outstanding = 1;
        connection.cycles.push('startup');
      }
    }
    if (connection.phase === 'startup') return Buffer.concat(parts);
    const rest = connection.startup;
    connection.startup = Buffer.alloc(0);
    if (connection.phase === 'typed' && rest.length > 0) countFrontend(connection, rest);
    return Buffer.concat([...parts, rest]);
  }
  countFrontend(connection, chunk);
  return chunk;
}

function countFrontend(connection: Connection, chunk: Buffer): void {
  let at = 0;
  while (at < chunk.length) {
    if (connection.frontRemaining > 0) {
      const take = Math.min(connection.frontRemaining, chunk.length - at);
      connection.frontRemaining -= take;
      at += take;
      continue;
    }
    const need = 5 - connection.frontHeader.length;
    const piece = chunk.subarray(at, at + need);
    at += piece.length;
    connection.frontHeader = connection.frontHeader.length === 0 ? Buffer.from(piece) : Buffer.concat([connection.frontHeader, piece]);
    if (connection.frontHeader.length < 5) break;
    const type = String.fromCharCode(connection.frontHeader[0]!);
    connection.frontRemaining = connection.frontHeader.readInt32BE(1) - 4;
    connection.frontHeader = Buffer.alloc(0);
    counts.messages[type] = (counts.messages[type] ?? 0) + 1;
    if (type === 'Q' || type === 'E') counts.statements++;
    if (type === 'Q' || type === 'S') {
      counts.roundTrips++;
      connection.outstanding++;
      connection.extendedOpen = false;
      connection.cycles.push(type === 'Q' || connection.cycleWork ? 'work' : 'empty');
      connection.cycleWork = false;
    } else if (EXTENDED.has(type)) {
      connection.extendedOpen = true;
      if (type !== 'C') connection.cycleWork = true;
    }
  }
}

/** Parses what PostgreSQL sent, tracking ReadyForQuery, and returns the bytes to pass on (without the proxy's own). */
function fromServer(connection: Connection, chunk: Buffer): Buffer {
  if (connection.phase !== 'typed') return chunk;
  const out: Buffer[] = [];
  let at = 0;
  while (at < chunk.length) {
    if (connection.backRemaining > 0) {
      const take = Math.min(connection.backRemaining, chunk.length - at);
      if (connection.backStatusNext) {
        readyForQuery(connection, String.fromCharCode(chunk[at]!));
        connection.backStatusNext = false;
      }
      if (connection.backType === COMMAND_COMPLETE && connection.backTag.length < 8) {
        connection.backTag += chunk.subarray(at, at + Math.min(take, 8)).toString('latin1');
        if (connection.backRemaining - take === 0 && connection.backTag.startsWith('ROLLBACK')) connection.cycleFailed = true;
      }
      if (!connection.backDropping) out.push(chunk.subarray(at, at + take));
      connection.backRemaining -= take;
      at += take;
      continue;
    }
    const need = 5 - connection.backHeader.length;
    const piece = chunk.subarray(at, at + need);
    at += piece.length;
    connection.backHeader = connection.backHeader.length === 0 ? Buffer.from(piece) : Buffer.concat([connection.backHeader, piece]);
    if (connection.backHeader.length < 5) break;
    const header = connection.backHeader;
    connection.backHeader = Buffer.alloc(0);
    connection.backRemaining = header.readInt32BE(1) - 4;
    connection.backDropping = false;
    const type = header[0]!;
    connection.backType = type;
    connection.backTag = '';
    if (type === ERROR_RESPONSE) connection.cycleFailed = true;
    if (type === READY_FOR_QUERY) {
      connection.outstanding = Math.max(0, connection.outstanding - 1);
      connection.backStatusNext = connection.backRemaining > 0;
    }
    // While the proxy's own query is answered, its answer is dropped, up to and with its ReadyForQuery.
    if (connection.swallow > 0 && !ASYNCHRONOUS.has(type)) {
      if (type === READY_FOR_QUERY) connection.swallow--;
      connection.backDropping = true;
      continue;
    }
    out.push(header);
  }
  return out.length === 1 ? out[0]! : Buffer.concat(out);
}

/**
 * A ReadyForQuery ends the oldest cycle. It committed a transaction when it ends outside a block
 * ('I') without an error or a rollback, having started one (any work) or ended an open block ('T'):
 * the transactions pg_stat_database counts as xact_commit, for this connection.
 */
function readyForQuery(connection: Connection, status: string): void {
  const cycle = connection.cycles.shift();
  const before = connection.status;
  connection.status = status;
  const failed = connection.cycleFailed;
  connection.cycleFailed = false;
  if (cycle === 'startup' || cycle === 'proxy' || status !== 'I') return;
  if (cycle !== 'work' && before !== 'T' && before !== 'E') return;
  if (failed || before === 'E') counts.rollbacks++;
  else counts.commits++;
}

function quiet(connection: Connection, quietMs: number): boolean {
  return (
    connection.phase === 'typed' &&
    connection.outstanding === 0 &&
    connection.swallow === 0 &&
    connection.frontRemaining === 0 &&
    connection.frontHeader.length === 0 &&
    !connection.extendedOpen &&
    connection.status === 'I' &&
    performance.now() - connection.lastActivity >= quietMs
  );
}

async function flush(quietMs: number, timeoutMs: number): Promise<{ injected: number; busy: number }> {
  const deadline = performance.now() + timeoutMs;
  const pending = new Set([...connections].filter((connection) => connection.phase === 'typed'));
  let injected = 0;
  while (pending.size > 0 && performance.now() < deadline) {
    let waitedOn = false;
    for (const connection of pending) {
      if (!connections.has(connection)) {
        pending.delete(connection);
        continue;
      }
      if (!quiet(connection, quietMs)) continue;
      connection.swallow++;
      connection.outstanding++;
      connection.cycles.push('proxy');
      counts.injectedQueries++;
      connection.upstream.write(EMPTY_QUERY);
      pending.delete(connection);
      injected++;
      // One backend at a time: backends publishing at once contend for the database's shared entry,
      // and one that cannot take its lock at once keeps its counts for later.
      while (connections.has(connection) && connection.swallow > 0 && performance.now() < deadline + 2_000) {
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      waitedOn = true;
    }
    if (pending.size > 0 && !waitedOn) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { injected, busy: pending.size };
}

const send = (message: FromPgProxy) => process.send?.(message);

process.on('message', (message: ToPgProxy) => {
  if (message.type === 'snapshot') send({ type: 'counts', counts: structuredClone(counts) });
  else if (message.type === 'flush') void flush(message.quietMs, message.timeoutMs).then((result) => send({ type: 'flushed', ...result }));
});
function stop(): void {
  server.close(() => process.exit(0));
  for (const connection of connections) {
    connection.client.destroy();
    connection.upstream.destroy();
  }
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('disconnect', stop);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(JSON.stringify({ port, target: values.target }));
  send({ type: 'ready', port });
});
