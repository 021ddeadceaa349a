import type { ChildProcess } from 'node:child_process';
import { forkModule, stopChild } from './child-processes.js';
import type { FromPgProxy, PgWireCounts } from './pg-proxy-protocol.js';

const PROGRAM = new URL('./pg-proxy-process.ts', import.meta.url).pathname;
const START_TIMEOUT_MS = 30_000;
const REPLY_TIMEOUT_MS = 30_000;
/** A backend publishes its statistics at most once a second: a connection quiet this long has nothing newer unpublished. */
const STATS_QUIET_MS = 1_100;

/** The parent's handle on the counting proxy (bench/pg-proxy-process.ts) in front of one PostgreSQL. */
export class PgProxy {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  static async start(target: { host: string; port: number }): Promise<PgProxy> {
    const child = forkModule(PROGRAM, [`--target=${target.host}:${target.port}`], { env: { PATH: process.env.PATH, NODE_ENV: 'production' } });
    child.stderr?.pipe(process.stderr);
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`PostgreSQL proxy not ready within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.on('message', (message: FromPgProxy) => {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        resolve(message.port);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`PostgreSQL proxy exited with code ${code} before it was ready`));
      });
    });
    child.stdout?.resume();
    return new PgProxy(child, port);
  }

  /** `url` with its host and port replaced by the proxy's. */
  proxiedUrl(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  snapshot(): Promise<PgWireCounts> {
    return this.#request({ type: 'snapshot' }, 'counts').then((message) => message.counts);
  }

  /**
   * Makes every server backend publish its statistics: waits until each connection has been quiet
   * for a second (the server idle), then has the proxy send it an empty query (one transaction of
   * its own, counted in `injectedQueries`). Read `pg_stat_database` after this, and its counts
   * are complete.
   */
  flushStatistics(timeoutMs = 10_000): Promise<{ injected: number; busy: number }> {
    return this.#request({ type: 'flush', quietMs: STATS_QUIET_MS, timeoutMs }, 'flushed');
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 3_000);
  }

  #request<T extends FromPgProxy['type']>(message: object, answer: T): Promise<Extract<FromPgProxy, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`PostgreSQL proxy did not answer ${answer}`)), REPLY_TIMEOUT_MS);
      const onMessage = (reply: FromPgProxy) => {
        if (reply.type !== answer) return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve(reply as Extract<FromPgProxy, { type: T }>);
      };
      this.child.on('message', onMessage);
      this.child.send(message);
    });
  }
}

/** The difference of two snapshots. */
export function wireDelta(before: PgWireCounts, after: PgWireCounts): PgWireCounts {
  const messages: Record<string, number> = {};
  for (const [type, calls] of Object.entries(after.messages)) {
    const delta = calls - (before.messages[type] ?? 0);
    if (delta !== 0) messages[type] = delta;
  }
  return {
    messages,
    statements: after.statements - before.statements,
    roundTrips: after.roundTrips - before.roundTrips,
    commits: after.commits - before.commits,
    rollbacks: after.rollbacks - before.rollbacks,
    connections: after.connections - before.connections,
    encryptionRefused: after.encryptionRefused - before.encryptionRefused,
    injectedQueries: after.injectedQueries - before.injectedQueries,
  };
}
