import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '../src/errors/index.js';
import { RateLimiter, RateLimitedError } from '../src/infra/rate-limiter.js';
import { createLogger } from '../src/observability/logger.js';
import { handleHttpError } from '../src/server/error-handler.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/private-redis.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';
import { REDIS_TEST_URL, deleteRedisKeys } from './helpers/test-database.js';
import { listMessages } from './helpers/store-queries.js';

const send = (socket: any, text: string) =>
  socket.timeout(5000).emitWithAck('message', { text, clientMessageId: `m-${randomBytes(4).toString('hex')}` });

describe('rate limits shared by two instances through Redis', () => {
  let openai: FakeProviderServer;
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    const env = {
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: `test-rl-${randomBytes(5).toString('hex')}`,
      RATE_LIMIT_IP_PER_MINUTE: '3',
      RATE_LIMIT_USER_PER_MINUTE: '2',
    };
    first = await startTestApp(env);
    // One deployment: the same database and the same Redis prefix.
    second = await startTestApp({ ...env, DATABASE_URL: first.config.DATABASE_URL!.reveal() });
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await openai?.close();
  });

  it('counts one web IP across both instances and refuses the excess with rate_limited and retryAfterMs, calling no model', async () => {
    const a = await connectClient(first.url);
    const b = await connectClient(second.url);
    const c = await connectClient(second.url);
    try {
      // Either instance's worker may run a turn (one queue), so wait for the answers in the shared database.
      const acks = [await send(a.socket, 'one'), await send(b.socket, 'two'), await send(c.socket, 'three')];
      expect(acks.map((ack) => ack.ok)).toEqual([true, true, true]);
      const deadline = Date.now() + 5000;
      const answered = async () => {
        const rows = await Promise.all(acks.map((ack) => first.app.store.messages.getMessage(ack.messageId)));
        return rows.every((row) => row?.status === 'answered');
      };
      while (!(await answered()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const calls = openai.requests.length;
      expect(calls).toBe(3);

      const refused = await send(a.socket, 'four');
      expect(refused).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
      expect(refused.error.retryAfterMs).toBeGreaterThan(0);
      expect(refused.error.retryAfterMs).toBeLessThanOrEqual(60_000);
      expect(await send(c.socket, 'five')).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(openai.requests).toHaveLength(calls);
      // A refused message stores nothing.
      expect((await listMessages(first.app.database.db, a.session.conversationId)).map((row) => row.text)).toEqual(['one', 'echo: one']);
    } finally {
      for (const client of [a, b, c]) client.socket.disconnect();
    }
  });

  it('exports refusals in /metrics by scope', async () => {
    const body = await (await fetch(`${second.url}/metrics`)).text();
    expect(body).toMatch(/switchboard_rate_limited_total\{scope="ip"\} [1-9]/);
  });
});

describe('per-user and global budgets', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      RATE_LIMIT_USER_PER_MINUTE: '2',
      RATE_LIMIT_IP_PER_MINUTE: '0',
      RATE_LIMIT_GLOBAL_PER_SECOND: '0',
    });
  });
  afterAll(async () => {
    await server?.stop();
    await openai?.close();
  });

  it('limits one flooding user (in-memory without Redis) while another user is still answered', async () => {
    const flooder = await connectClient(server.url);
    const other = await connectClient(server.url);
    try {
      const { ack: first } = await sendAndCollect(flooder.socket, 'a', 'flood-a');
      await sendAndCollect(flooder.socket, 'b');
      expect(await send(flooder.socket, 'c')).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
      // A resend of a message already accepted (a reconnect, a channel retry) is a duplicate, not over the limit.
      const resent = await flooder.socket.timeout(5000).emitWithAck('message', { text: 'a', clientMessageId: 'flood-a' });
      expect(resent).toEqual({ ok: true, messageId: first.messageId, duplicate: true });
      expect((await sendAndCollect(other.socket, 'still here')).reply.done.text).toBe('echo: still here');
    } finally {
      flooder.socket.disconnect();
      other.socket.disconnect();
    }
  });
});

describe('global ceiling', () => {
  it('refuses messages past RATE_LIMIT_GLOBAL_PER_SECOND whoever sends them', async () => {
    const server = await startTestApp({ RATE_LIMIT_GLOBAL_PER_SECOND: '2', RATE_LIMIT_IP_PER_MINUTE: '0' });
    const clients = await Promise.all([1, 2, 3].map(() => connectClient(server.url)));
    try {
      const acks = [];
      for (const client of clients) acks.push(await send(client.socket, 'hi'));
      expect(acks.map((ack) => (ack.ok ? 'ok' : ack.error.code))).toEqual(['ok', 'ok', 'rate_limited']);
      expect(acks[2].error.retryAfterMs).toBeLessThanOrEqual(1000);
      // The refused visitor's first message left no conversation row behind (the budget is taken first).
      expect(await server.app.store.conversations.getConversation(clients[2]!.session.conversationId)).toBeUndefined();
      expect(await server.app.store.conversations.getConversation(clients[0]!.session.conversationId)).toBeDefined();
    } finally {
      for (const client of clients) client.socket.disconnect();
      await server.stop();
    }
  });
});

describe('all of a message\'s budgets in one script call', () => {
  let redis: Redis;
  const prefix = `test-rl-script-${randomBytes(5).toString('hex')}`;
  const key = (scope: string, id: string) => `${prefix}:rl:${scope}:${id}`;

  beforeAll(async () => {
    redis = new Redis(REDIS_TEST_URL);
    // Until the client is ready, the limiter counts in memory.
    await redis.ping();
  });
  afterAll(async () => {
    await deleteRedisKeys(redis, `${prefix}:`);
    redis.disconnect();
  });

  it('takes a point from each budget in order and stops at the first one spent: the budgets after it are not charged', async () => {
    const limiter = new RateLimiter({ ipPerMinute: 1, userPerMinute: 1, globalPerSecond: 0, prefix }, { redis, logger: createLogger({ level: 'silent' }) });
    await limiter.consume([
      { scope: 'ip', key: '203.0.113.7' },
      { scope: 'user', key: 'web:a' },
    ]);
    expect(await redis.get(key('ip', '203.0.113.7'))).toBe('1');
    expect(await redis.pttl(key('ip', '203.0.113.7'))).toBeGreaterThan(55_000);

    // Refused per IP: the person's budget is not touched (a flood from one address eats no one else's).
    const perIp = await limiter.consume([{ scope: 'ip', key: '203.0.113.7' }, { scope: 'user', key: 'web:b' }]).catch((error: unknown) => error);
    expect(perIp).toBeInstanceOf(RateLimitedError);
    expect(perIp).toMatchObject({ code: 'rate_limited', scope: 'ip' });
    expect((perIp as RateLimitedError).retryAfterMs).toBeGreaterThan(55_000);
    expect(await redis.exists(key('user', 'web:b'))).toBe(0);

    // Refused per person: the budgets before it were charged.
    const perUser = await limiter.consume([{ scope: 'ip', key: '203.0.113.8' }, { scope: 'user', key: 'web:a' }]).catch((error: unknown) => error);
    expect(perUser).toMatchObject({ code: 'rate_limited', scope: 'user' });
    expect(await redis.get(key('ip', '203.0.113.8'))).toBe('1');
  });
});

describe('HTTP endpoints', () => {
  it('answer a rate_limited error with 429 and Retry-After in whole seconds', async () => {
    const http = Fastify();
    http.setErrorHandler(handleHttpError);
    http.post('/hook', async () => {
      throw new SwitchboardError('rate_limited', 'too many messages', { retryAfterMs: 1500 });
    });
    const response = await http.inject({ method: 'POST', url: '/hook' });
    expect(response.statusCode).toBe(429);
    expect(response.headers['retry-after']).toBe('2');
    expect(response.json()).toEqual({ error: { code: 'rate_limited', message: 'too many messages', retryAfterMs: 1500 } });
    await http.close();
  });
});

describe('Redis stopped mid-test', () => {
  let redis: PrivateRedis;
  let openai: FakeProviderServer;
  let server: RunningApp;

  beforeAll(async () => {
    [redis, openai] = await Promise.all([startPrivateRedis(), startFakeOpenAIServer()]);
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      REDIS_URL: redis.url,
      RATE_LIMIT_USER_PER_MINUTE: '4',
      RATE_LIMIT_IP_PER_MINUTE: '0',
      SHUTDOWN_TIMEOUT_MS: '2000',
    });
  });
  afterAll(async () => {
    await server?.stop();
    await redis?.kill();
    await openai?.close();
  });

  it('keeps answering (in-process turns, cache misses) and keeps limiting with the in-memory insurance limiter', async () => {
    const { socket, session } = await connectClient(server.url);
    try {
      expect(server.app.spine.dispatcher.kind).toBe('bullmq');
      expect((await sendAndCollect(socket, 'before')).reply.done.text).toBe('echo: before');
      await redis.kill();

      for (const text of ['after 1', 'after 2', 'after 3', 'after 4']) {
        const { ack, reply } = await sendAndCollect(socket, text);
        expect(ack.ok).toBe(true);
        expect(reply.done).toMatchObject({ text: `echo: ${text}`, fallback: false, cached: false });
      }
      expect(await send(socket, 'flood')).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
      const rows = await listMessages(server.app.database.db, session.conversationId);
      expect(rows.filter((row) => row.role === 'user').map((row) => row.status)).toEqual(Array(5).fill('answered'));
    } finally {
      socket.disconnect();
    }
  }, 30_000);
});
