import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../test/helpers/private-redis.js';

/** The shared Redis, for the tools that do not start their own (channels, resilience) and when BENCH_REDIS_URL is set. */
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SCAN_BATCH = 500;
/** A run writes at most a few hundred thousand keys (queue jobs, cache entries); the loop stops there regardless. */
const MAX_SCAN_ROUNDS = 10_000;
const START_TIMEOUT_MS = 5_000;

/**
 * `npm run bench`'s own redis-server: a free port, no persistence (`--save ''`, `--appendonly no`),
 * started before the first scenario and stopped at the end (also on Ctrl-C and errors). Nothing
 * else talks to it, so `INFO commandstats` deltas are the server's commands (and the bench's own
 * `INFO`, which is left out) and its CPU is the server's Redis work alone.
 */
export interface BenchRedis {
  url: string;
  port: number;
  pid: number;
  /** Calls per command so far (`INFO commandstats`), e.g. { xadd: 12, evalsha: 3 }. */
  commandCalls(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

let running: { child: ChildProcess; redis: BenchRedis } | undefined;

/** The Redis the bench's servers use: the private one once started, else the shared one. */
export function benchRedisUrl(): string {
  return running?.redis.url ?? REDIS_URL;
}

/** The private redis-server's pid (its CPU is measured exactly), or undefined when the shared one is in use. */
export function privateRedisPid(): number | undefined {
  return running?.redis.pid;
}

export function privateRedis(): BenchRedis | undefined {
  return running?.redis;
}

export async function startBenchRedis(): Promise<BenchRedis> {
  if (running) return running.redis;
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => {});
  const url = `redis://127.0.0.1:${port}`;
  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (error) {
      if (child.exitCode !== null || performance.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on port ${port} did not start: ${String(error)} (is redis-server installed?)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      probe.disconnect();
    }
  }
  const stats = new Redis(url, { maxRetriesPerRequest: 1 });
  stats.on('error', () => {});
  const redis: BenchRedis = {
    url,
    port,
    pid: child.pid!,
    async commandCalls() {
      return parseCommandStats(await stats.info('commandstats'));
    },
    async stop() {
      stats.disconnect();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
      running = undefined;
    },
  };
  running = { child, redis };
  return redis;
}

/** For exit paths that cannot wait. */
export function killBenchRedis(): void {
  running?.child.kill('SIGKILL');
}

export function parseCommandStats(info: string): Record<string, number> {
  return Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((match) => [match[1]!, Number(match[2])]));
}

/** Deletes every key under `prefix:` (the server's REDIS_PREFIX for one scenario). Returns how many. */
export async function dropRedisPrefix(prefix: string, url = benchRedisUrl()): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    for (let round = 0; round < MAX_SCAN_ROUNDS; round++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', SCAN_BATCH);
      if (keys.length > 0) deleted += await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}
