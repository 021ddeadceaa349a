import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../src/observability/logger.js';
import { RedisResponseCache } from '../src/infra/response-cache.js';
import { defineTool } from '../src/tools/tool.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';
import { REDIS_TEST_URL, deleteRedisKeys } from './helpers/test-database.js';
import { listMessages } from './helpers/store-queries.js';
import { waitFor } from './helpers/wait-for.js';

const weatherTool = defineTool({
  name: 'get_weather',
  description: 'Current weather for a city.',
  input: z.object({ city: z.string() }).strict(),
  execute: async ({ city }) => ({ city, sky: 'clear' }),
});

describe('the reply cache for first messages', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;
  let redis: Redis;
  const prefix = `test-cache-${randomBytes(5).toString('hex')}`;

  // These tests are about the entries in Redis; the in-process copy of hits is tested below.
  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    redis = new Redis(REDIS_TEST_URL);
    server = await startTestApp(
      { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', REDIS_URL: REDIS_TEST_URL, REDIS_PREFIX: prefix, CACHE_TTL_S: '60', CACHE_LOCAL_TTL_MS: '0' },
      { extraTools: [weatherTool] },
    );
  });
  afterEach(() => openai.reset());
  afterAll(async () => {
    await server?.stop();
    await openai?.close();
    await deleteRedisKeys(redis, `${prefix}:`);
    redis.disconnect();
  });

  const firstMessage = async (text: string) => {
    const { socket, session } = await connectClient(server.url);
    try {
      const result = await sendAndCollect(socket, text);
      return { ...result, conversationId: session.conversationId, socket };
    } finally {
      socket.disconnect();
    }
  };

  it('answers a repeated first message from the cache (normalised text), flags it cached, stores it and counts it', async () => {
    openai.push({ text: 'We open at nine.' });
    const miss = await firstMessage('When do you open?');
    expect(miss.reply.done).toMatchObject({ text: 'We open at nine.', cached: false });
    expect(openai.requests).toHaveLength(1);

    const hit = await firstMessage('  when do   you OPEN? ');
    expect(hit.reply.done).toMatchObject({ text: 'We open at nine.', cached: true, fallback: false });
    expect(openai.requests).toHaveLength(1);
    const [question, answer] = await listMessages(server.app.database.db, hit.conversationId);
    expect(question).toMatchObject({ status: 'answered', cached: true });
    expect(answer).toMatchObject({ role: 'assistant', text: 'We open at nine.', cached: true, provider: 'openai' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_cache_hits_total\{channel="web"\} 1/);
  });

  it('answers a first message from a channel known by identity (SMS-like) from the cache, in one statement, and only a first one', async () => {
    const delivered: { messageId: string; text: string; cached: boolean }[] = [];
    server.app.transports.register({
      channel: 'cache-test',
      async done(target, reply) {
        delivered.push({ messageId: target.messageId, text: reply.text, cached: reply.cached });
      },
    });
    openai.push({ text: 'Parking is free after six.' });
    const person = { channel: 'cache-test', externalUserId: '+15550009999' };
    const miss = await server.app.intake.accept({ ...person, externalUserId: '+15550009998', text: 'Is parking free?' });
    await waitFor(() => delivered.some((entry) => entry.messageId === miss.messageId), 'the first (uncached) reply');

    const hit = await server.app.intake.accept({ ...person, text: 'is parking FREE?', externalMessageId: 'SM-hit-1' });
    await waitFor(() => delivered.some((entry) => entry.messageId === hit.messageId), 'the cached reply');
    expect(delivered.find((entry) => entry.messageId === hit.messageId)).toEqual({ messageId: hit.messageId, text: 'Parking is free after six.', cached: true });
    expect(openai.requests).toHaveLength(1);
    const [question, answer] = await listMessages(server.app.database.db, hit.conversationId);
    expect(question).toMatchObject({ id: hit.messageId, status: 'answered', cached: true, provider: 'openai', attempts: [] });
    expect(answer).toMatchObject({ role: 'assistant', text: 'Parking is free after six.', cached: true, replyToId: hit.messageId });

    // The same words again in that conversation have history now: a model call, not the cache.
    openai.push({ text: 'Still free after six, yes.' });
    const again = await server.app.intake.accept({ ...person, text: 'Is parking free?', externalMessageId: 'SM-hit-2' });
    await waitFor(() => delivered.some((entry) => entry.messageId === again.messageId), 'the reply with history');
    expect(delivered.find((entry) => entry.messageId === again.messageId)).toMatchObject({ text: 'Still free after six, yes.', cached: false });
    expect(openai.requests).toHaveLength(2);
    // A channel's retry of the cached one is a duplicate, not a second answer.
    expect(await server.app.intake.accept({ ...person, text: 'is parking FREE?', externalMessageId: 'SM-hit-1' })).toMatchObject({
      messageId: hit.messageId,
      duplicate: true,
    });
    expect(await listMessages(server.app.database.db, hit.conversationId)).toHaveLength(4);
  });

  it('never uses the cache for a message with history', async () => {
    const { socket } = await connectClient(server.url);
    try {
      openai.push({ text: 'First answer.' });
      await sendAndCollect(socket, 'tell me a fact');
      openai.push({ text: 'A different fact.' });
      const { reply } = await sendAndCollect(socket, 'tell me a fact');
      expect(reply.done).toMatchObject({ text: 'A different fact.', cached: false });
      expect(openai.requests).toHaveLength(2);
    } finally {
      socket.disconnect();
    }
  });

  it('never caches an answer that involved a tool call', async () => {
    openai.push({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] }, { text: 'Clear skies in Oslo.' });
    const first = await firstMessage('weather in oslo?');
    expect(first.reply.done).toMatchObject({ text: 'Clear skies in Oslo.', cached: false });
    openai.push({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] }, { text: 'Still clear in Oslo.' });
    const second = await firstMessage('weather in oslo?');
    expect(second.reply.done).toMatchObject({ text: 'Still clear in Oslo.', cached: false });
    expect(openai.requests).toHaveLength(4);
  });

  it('treats an unreadable cache entry as a miss', async () => {
    // Corrupt every cache entry this app has written, whatever its key.
    for (const entry of await redis.keys(`${prefix}:cache:*`)) await redis.set(entry, '{not json');
    openai.push({ text: 'Fresh answer.' });
    const { reply } = await firstMessage('When do you open?');
    expect(reply.done).toMatchObject({ text: 'Fresh answer.', cached: false });
    expect(openai.requests).toHaveLength(1);
    // The fresh answer replaced the broken entry.
    const again = await firstMessage('when do you open?');
    expect(again.reply.done).toMatchObject({ text: 'Fresh answer.', cached: true });
  });
});

describe('the in-process copy of reply-cache hits, through the web channel (default settings)', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;
  let redis: Redis;
  const prefix = `test-cache-e2e-${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    redis = new Redis(REDIS_TEST_URL);
    server = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', REDIS_URL: REDIS_TEST_URL, REDIS_PREFIX: prefix, CACHE_TTL_S: '60' });
  });
  afterAll(async () => {
    await server?.stop();
    await openai?.close();
    await deleteRedisKeys(redis, `${prefix}:`);
    redis.disconnect();
  });

  it('answers a repeated first question from the process\'s copy, with no Redis entry left to read', async () => {
    const ask = async (text: string) => {
      const { socket, session } = await connectClient(server.url);
      try {
        return { ...(await sendAndCollect(socket, text)), conversationId: session.conversationId };
      } finally {
        socket.disconnect();
      }
    };
    openai.push({ text: 'We deliver on weekdays.' });
    const miss = await ask('Do you deliver?');
    expect(miss.reply.done).toMatchObject({ text: 'We deliver on weekdays.', cached: false });
    // Only this process's copy can answer now.
    const entries = await redis.keys(`${prefix}:cache:*`);
    expect(entries).toHaveLength(1);
    await redis.del(...entries);

    const hit = await ask('do you DELIVER?');
    expect(hit.reply.done).toMatchObject({ text: 'We deliver on weekdays.', cached: true, fallback: false });
    expect(openai.requests).toHaveLength(1);
    const [, answer] = await listMessages(server.app.database.db, hit.conversationId);
    expect(answer).toMatchObject({ role: 'assistant', text: 'We deliver on weekdays.', cached: true });
  });
});

describe('the in-process copy of reply-cache hits', () => {
  let redis: Redis;
  const prefix = `test-cache-local-${randomBytes(5).toString('hex')}`;
  const logger = createLogger({ level: 'silent' });
  const reply = { text: 'We open at nine.', provider: 'openai', model: 'gpt-test' };
  const cacheFor = (ttlSeconds: number, localTtlMs: number) => new RedisResponseCache(redis, { prefix, ttlSeconds, localTtlMs }, logger);
  const redisKey = (key: string) => `${prefix}:cache:${key}`;

  beforeAll(() => {
    redis = new Redis(REDIS_TEST_URL);
  });
  afterAll(async () => {
    await deleteRedisKeys(redis, `${prefix}:`);
    redis.disconnect();
  });

  it('answers a hit from memory, without Redis, for at most the local TTL', async () => {
    const writer = cacheFor(60, 300);
    const reader = cacheFor(60, 300);
    await writer.set('opening-hours', reply);
    expect(await reader.get('opening-hours')).toEqual(reply);
    await redis.del(redisKey('opening-hours'));
    // Gone from Redis, still in this process's copy…
    expect(await reader.get('opening-hours')).toEqual(reply);
    await sleep(350);
    // …until the local TTL has passed.
    expect(await reader.get('opening-hours')).toBeUndefined();
  });

  it('never keeps a local copy past the Redis entry\'s own expiry', async () => {
    const writer = cacheFor(1, 60_000);
    const reader = cacheFor(1, 60_000);
    await writer.set('parking', reply);
    expect(await reader.get('parking')).toEqual(reply);
    await sleep(1100);
    expect(await redis.exists(redisKey('parking'))).toBe(0);
    expect(await reader.get('parking')).toBeUndefined();
  });

  it('keeps hits only: an answer another instance stores after a miss is found on the next lookup', async () => {
    const writer = cacheFor(60, 60_000);
    const reader = cacheFor(60, 60_000);
    expect(await reader.get('returns')).toBeUndefined();
    await writer.set('returns', { ...reply, text: 'Returns within 30 days.' });
    expect(await reader.get('returns')).toEqual({ ...reply, text: 'Returns within 30 days.' });
  });

  it('reads an entry written without its expiry (by an earlier version) as a hit, without keeping it in memory', async () => {
    await redis.set(redisKey('legacy'), JSON.stringify(reply), 'EX', 60);
    const reader = cacheFor(60, 60_000);
    expect(await reader.get('legacy')).toEqual(reply);
    await redis.del(redisKey('legacy'));
    expect(await reader.get('legacy')).toBeUndefined();
  });

  it('with the local copy off (0), every lookup reads Redis', async () => {
    const reader = cacheFor(60, 0);
    await reader.set('delivery', reply);
    expect(await reader.get('delivery')).toEqual(reply);
    await redis.del(redisKey('delivery'));
    expect(await reader.get('delivery')).toBeUndefined();
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
