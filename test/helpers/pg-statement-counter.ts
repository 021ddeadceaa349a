import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** One statement the server was asked to run, as the client sent it. */
export interface SentStatement {
  /** The SQL (for a prepared statement, the text it was prepared with; `?` when the proxy never saw its Parse). */
  sql: string;
  /** `extended`: Bind/Execute (postgres.js with parameters); `simple`: a Query message (may hold several statements). */
  protocol: 'extended' | 'simple';
}

export interface PgStatementWindow {
  statements: SentStatement[];
  /** Sync messages: the client's round trips in the extended protocol (each ends a pipeline of statements). */
  syncs: number;
}

/**
 * A TCP proxy between the server under test and PostgreSQL that counts what the server
 * asks PostgreSQL to run: each Execute ('E') and each simple Query ('Q') after a connection's
 * startup, with the SQL it belongs to (from the Parse 'P' and Bind 'B' messages before it).
 * Point the app's DATABASE_URL at `url(database)`. Only the client → server direction is read;
 * bytes pass through untouched. TLS is not supported (the local test server needs none).
 */
export class PgStatementCounter {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;
  #statements: SentStatement[] = [];
  #syncs = 0;

  private constructor(private readonly target: { host: string; port: number }) {
    this.#server = createServer((client) => this.relay(client));
  }

  /** Listens on a free port of 127.0.0.1 in front of `targetUrl`'s host and port. */
  static async start(targetUrl: string): Promise<PgStatementCounter> {
    const target = new URL(targetUrl);
    const counter = new PgStatementCounter({ host: target.hostname, port: Number(target.port || 5432) });
    await new Promise<void>((resolve) => counter.#server.listen(0, '127.0.0.1', resolve));
    counter.#port = (counter.#server.address() as { port: number }).port;
    return counter;
  }

  /** `databaseUrl` with its host and port replaced by the proxy's. */
  url(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.#port);
    return url.toString();
  }

  /** Starts a fresh window: counts from now. */
  window(): void {
    this.#statements = [];
    this.#syncs = 0;
  }

  read(): PgStatementWindow {
    return { statements: [...this.#statements], syncs: this.#syncs };
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const upstream = createConnection(this.target);
    this.#sockets.add(client).add(upstream);
    const parse = this.frontendParser();
    client.on('data', (chunk) => {
      parse(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }

  /** Reads the frontend messages of one connection: untyped startup packets, then typed messages. */
  private frontendParser(): (chunk: Buffer) => void {
    let buffered = Buffer.alloc(0);
    let started = false;
    /** Prepared statement name → SQL; '' is the unnamed statement. */
    const prepared = new Map<string, string>();
    let bound = '';
    return (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (!started) {
          if (buffered.length < 8) return;
          const length = buffered.readInt32BE(0);
          if (buffered.length < length) return;
          const code = buffered.readInt32BE(4);
          buffered = buffered.subarray(length);
          // SSLRequest (80877103) and GSSENCRequest (80877104) come before the startup packet.
          if (code !== 80877103 && code !== 80877104) started = true;
          continue;
        }
        if (buffered.length < 5) return;
        const type = String.fromCharCode(buffered[0]!);
        const length = buffered.readInt32BE(1);
        if (buffered.length < 1 + length) return;
        const body = buffered.subarray(5, 1 + length);
        buffered = buffered.subarray(1 + length);
        if (type === 'P') {
          const [name, sql] = cStrings(body, 2);
          prepared.set(name!, sql!);
        } else if (type === 'B') {
          bound = cStrings(body, 2)[1]!;
        } else if (type === 'E') {
          this.#statements.push({ sql: prepared.get(bound) ?? '?', protocol: 'extended' });
        } else if (type === 'Q') {
          this.#statements.push({ sql: cStrings(body, 1)[0]!, protocol: 'simple' });
        } else if (type === 'S') {
          this.#syncs++;
        }
      }
    };
  }
}

/** The first `count` NUL-terminated strings of a message body. */
function cStrings(body: Buffer, count: number): string[] {
  const strings: string[] = [];
  let start = 0;
  while (strings.length < count) {
    const end = body.indexOf(0, start);
    if (end < 0) break;
    strings.push(body.toString('utf8', start, end));
    start = end + 1;
  }
  return strings;
}

/** A short label for a statement: a prepared statement's first words, e.g. `with created as ( insert into conversations`. */
export function statementLabel(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim().slice(0, 70);
}
