/**
 * Resilience benchmark (`npx tsx bench/resilience.ts`), separate from `npm run bench`:
 *
 *  1. cache-hit turn server time: `accept` called → transport `done` called, for first
 *     messages answered from the Redis reply cache (target p50 ≤ 1 ms, p99 ≤ 3 ms);
 *  2. rate-limit check cost: the check `accept` runs (user + global budgets in Redis) vs
 *     no limiter, alternating in the same run (target: p99 added ≤ 1 ms);
 *  3. throughput with the primary provider answering 500s once its breaker is open, vs
 *     healthy (target ≥ 80 %).
 *
 * BENCH_CACHE_LOCAL_TTL_MS sets the server's CACHE_LOCAL_TTL_MS for the cache-hit figures (0: every
 * lookup reads Redis), for an A/B of the in-process copy of hits.
 *
 * The server runs in this process (createApp, real PostgreSQL and Redis, real SDKs against
 * the local fake providers); a `bench` channel transport records when each reply is done,
 * so the figures are server time without the socket.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config/config.js';
import type { FinishedReply, ReplyTarget, ReplyTransport } from '../src/turn/reply-transport.js';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { createLogger } from '../src/observability/logger.js';
import { RateLimiter } from '../src/infra/rate-limiter.js';
import { createApp, type App } from '../src/app/create-app.js';
import { startFakeAnthropicServer } from '../test/fakes/fake-anthropic-server.js';
import { startFakeOpenAIServer, type FakeProviderServer } from '../test/fakes/fake-openai-server.js';
import { createBenchDatabase } from './bench-database.js';
import { dropRedisPrefix, REDIS_URL } from './bench-redis.js';
import { distribution } from './percentiles.js';

const CHANNEL = 'bench';

/** Resolves a waiter when the pipeline hands a reply to the channel. */
class RecordingTransport implements ReplyTransport {
  readonly channel = CHANNEL;
  readonly #waiting = new Map<string, (reply: FinishedReply) => void>();
  readonly #early = new Map<string, FinishedReply>();

  async done(target: ReplyTarget, reply: FinishedReply): Promise<void> {
    const resolve = this.#waiting.get(target.messageId);
    if (resolve) {
      this.#waiting.delete(target.messageId);
      resolve(reply);
    } else this.#early.set(target.messageId, reply);
  }

  waitFor(messageId: string): Promise<FinishedReply> {
    const early = this.#early.get(messageId);
    if (early) {
      this.#early.delete(messageId);
      return Promise.resolve(early);
    }
    return new Promise((resolve) => this.#waiting.set(messageId, resolve));
  }
}

interface Stack {
  app: App;
  transport: RecordingTransport;
  stop(): Promise<void>;
}

async function startStack(env: Record<string, string>): Promise<Stack> {
  const database = await createBenchDatabase();
  const prefix = `bench-res-${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: '/tmp',
    RATE_LIMIT_USER_PER_MINUTE: '0',
    RATE_LIMIT_IP_PER_MINUTE: '0',
    RATE_LIMIT_GLOBAL_PER_SECOND: '0',
    FOLLOW_UP_ENABLED: 'false',
    ...env,
  });
  const app = await createApp(config, { logger: createLogger({ level: 'silent' }) });
  await app.listen(0, '127.0.0.1');
  const transport = new RecordingTransport();
  app.transports.register(transport);
  return {
    app,
    transport,
    async stop() {
      await app.close();
      await database.drop();
      await dropRedisPrefix(prefix);
    },
  };
}

let users = 0;
async function turn(stack: Stack, text: string): Promise<{ ackMs: number; doneMs: number; reply: FinishedReply }> {
  const started = performance.now();
  const accepted = await stack.app.intake.accept({ channel: CHANNEL, externalUserId: `u${++users}`, text });
  const ackMs = performance.now() - started;
  const reply = await stack.transport.waitFor(accepted.messageId);
  return { ackMs, doneMs: performance.now() - started, reply };
}

/**
 * Cache hits on a fresh database (it grows from empty during the run, with no planner
 * statistics yet), then the same after ANALYZE: the steady state autovacuum keeps a
 * production database in. On the fresh database PostgreSQL plans the turn's statements
 * for empty tables (sequential scans) and keeps those plans while the tables grow.
 */
async function cacheHits(openai: FakeProviderServer, samples: number) {
  const stack = await startStack({ OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', CACHE_TTL_S: '600', ...(process.env.BENCH_CACHE_LOCAL_TTL_MS ? { CACHE_LOCAL_TTL_MS: process.env.BENCH_CACHE_LOCAL_TTL_MS } : {}) });
  try {
    await turn(stack, 'What are your opening hours?');
    const measure = async () => {
      const times: number[] = [];
      for (let i = 0; i < samples; i++) {
        const { doneMs, reply } = await turn(stack, 'What are your opening hours?');
        if (!reply.cached) throw new Error('expected a cache hit');
        if (i >= 20) times.push(doneMs); // the first few warm the JIT and pools
      }
      return distribution(times);
    };
    const fresh = await measure();
    await stack.app.database.db.execute(sql`analyze`);
    const steady = await measure();
    return { fresh, steady };
  } finally {
    await stack.stop();
  }
}

/** The check itself, as accept runs it (user + global budgets in Redis), against no limiter at all. */
async function limiterCost(samples: number) {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  await redis.connect();
  const prefix = `bench-rl-${randomBytes(4).toString('hex')}`;
  const logger = createLogger({ level: 'silent' });
  const on = new RateLimiter({ userPerMinute: 1_000_000, ipPerMinute: 1_000_000, globalPerSecond: 1_000_000, prefix }, { redis, logger });
  const off = new RateLimiter({ userPerMinute: 0, ipPerMinute: 0, globalPerSecond: 0, prefix }, { redis, logger });
  const measure = async (limiter: RateLimiter) => {
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      const started = performance.now();
      await limiter.consume([
        { scope: 'user', key: `web:u${i % 50}` },
        { scope: 'global', key: 'all' },
      ]);
      if (i >= 50) times.push(performance.now() - started);
    }
    return times;
  };
  try {
    // Alternating rounds, so load drift on a shared machine hits both sides alike.
    const onTimes: number[] = [];
    const offTimes: number[] = [];
    for (let round = 0; round < 4; round++) {
      onTimes.push(...(await measure(on)));
      offTimes.push(...(await measure(off)));
    }
    return { on: distribution(onTimes), off: distribution(offTimes) };
  } finally {
    await dropRedisPrefix(prefix);
    redis.disconnect();
  }
}

async function throughput(stack: Stack, seconds: number, concurrency: number): Promise<number> {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await turn(stack, `throughput ${done}`);
        done++;
      }
    }),
  );
  return done / seconds;
}

async function breakerThroughput(openai: FakeProviderServer, anthropic: FakeProviderServer, seconds: number, concurrency: number) {
  const stack = await startStack({
    OPENAI_API_KEY: 'sk-bench',
    OPENAI_BASE_URL: openai.url,
    ANTHROPIC_API_KEY: 'sk-ant-bench',
    ANTHROPIC_BASE_URL: anthropic.url,
    LLM_PROVIDERS: 'openai,anthropic',
    CACHE_TTL_S: '0',
    LLM_RETRIES: '0',
    BREAKER_WINDOW_MS: '2000',
    BREAKER_HALF_OPEN_AFTER_MS: '600000',
  });
  try {
    await throughput(stack, 1, concurrency); // warm-up
    const healthy = await throughput(stack, seconds, concurrency);
    openai.setResponder(() => ({ error: { status: 500 } }));
    // Let the healthy calls leave the breaker's window, then trip it: the failures before
    // it opens are not part of the steady state measured.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const openaiState = () => stack.app.metrics.breakerStates().find((entry) => entry.name.startsWith('openai:'))?.state;
    for (let i = 0; i < 200 && openaiState() !== 'open'; i++) await turn(stack, `trip ${i}`);
    if (openaiState() !== 'open') throw new Error('the breaker did not open');
    const withOpenBreaker = await throughput(stack, seconds, concurrency);
    openai.setResponder(undefined);
    return { healthy, withOpenBreaker, ratio: withOpenBreaker / healthy };
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const [openai, anthropic] = await Promise.all([
    startFakeOpenAIServer({ recordRequests: false }),
    startFakeAnthropicServer({ recordRequests: false }),
  ]);
  try {
    const cache = await cacheHits(openai, 1020);
    const limiter = await limiterCost(1050);
    const breaker = await breakerThroughput(openai, anthropic, 5, 16);
    const addedP99 = Math.round((limiter.on.p99 - limiter.off.p99) * 1000) / 1000;
    const addedP50 = Math.round((limiter.on.p50 - limiter.off.p50) * 1000) / 1000;
    const pass = (ok: boolean) => (ok ? 'pass' : 'FAIL');
    console.log(`## Resilience (bench/resilience.ts, ${new Date().toISOString()})

| measure | figure | target | |
| --- | --- | --- | --- |
| cache-hit turn, accept → done (server time), fresh database | p50 ${cache.fresh.p50} ms, p99 ${cache.fresh.p99} ms (n=${cache.fresh.count}) | | |
| cache-hit turn, accept → done (server time), after ANALYZE (steady state) | p50 ${cache.steady.p50} ms, p99 ${cache.steady.p99} ms (n=${cache.steady.count}) | p50 ≤ 1 ms, p99 ≤ 3 ms | ${pass(cache.steady.p50 <= 1 && cache.steady.p99 <= 3)} |
| rate-limit check, limiters off | p50 ${limiter.off.p50} ms, p99 ${limiter.off.p99} ms | | |
| rate-limit check, on (user + global budgets in Redis) | p50 ${limiter.on.p50} ms, p99 ${limiter.on.p99} ms (n=${limiter.on.count}) | | |
| added by the rate-limit check | p50 ${addedP50} ms, p99 ${addedP99} ms | p99 ≤ 1 ms | ${pass(addedP99 <= 1)} |
| messages/s healthy (16 concurrent) | ${breaker.healthy.toFixed(1)} | | |
| messages/s, primary returning 500s, breaker open | ${breaker.withOpenBreaker.toFixed(1)} (${(breaker.ratio * 100).toFixed(0)} %) | ≥ 80 % | ${pass(breaker.ratio >= 0.8)} |
`);
  } finally {
    await Promise.all([openai.close(), anthropic.close()]);
  }
}

await main();
process.exit(0);
