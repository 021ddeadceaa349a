import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { PgStatementCounter, statementLabel, type PgStatementWindow } from './helpers/pg-statement-counter.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/private-redis.js';
import { byPart, idlePolling, RedisCommandCounter, run, total, type SentCommand } from './helpers/redis-command-counter.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';
import { createTestDatabase, POSTGRES_ADMIN_URL, type TestDatabase } from './helpers/test-database.js';

/**
 * What one message costs in Redis commands and PostgreSQL statements (issue #21), counted, not
 * timed: regression guards that hold on any machine. One all-in-one server (REDIS_URL set, no
 * tools, default rate limits) on a private redis-server only it talks to (MONITOR and INFO
 * commandstats), with PostgreSQL behind a proxy that counts the statements the server sends.
 */
describe('per-message counts (all-in-one, REDIS_URL set, no tools)', () => {
  let redis: PrivateRedis;
  let openai: FakeProviderServer;
  let database: TestDatabase;
  let pg: PgStatementCounter;
  let commands: RedisCommandCounter;
  let server: RunningApp;

  beforeAll(async () => {
    [redis, openai, database] = await Promise.all([startPrivateRedis(), startFakeOpenAIServer(), createTestDatabase()]);
    pg = await PgStatementCounter.start(POSTGRES_ADMIN_URL);
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      REDIS_URL: redis.url,
      DATABASE_URL: pg.url(database.url),
      // Every lookup reads Redis: the dearest hit (an answer another instance cached).
      CACHE_LOCAL_TTL_MS: '0',
      // The background sweeps (every QUEUE_LOCK_MS / 2) stay out of the few seconds counted here.
      QUEUE_LOCK_MS: '300000',
    });
    commands = new RedisCommandCounter(redis.url);
    await commands.start();
  });
  afterAll(async () => {
    await server?.stop();
    await commands?.stop();
    await pg?.close();
    await database?.drop();
    await openai?.close();
    await redis?.kill();
  });

  interface Counted<T> {
    result: T;
    /** The commands the message made the server send (the pollers' idle rounds left out: see idlePolling). */
    redis: SentCommand[];
    /** The statements of the message (the type lookup postgres.js runs once per new connection left out). */
    statements: string[];
  }

  /** Counts what `send` makes the server send, until Redis has been quiet for a moment after it. */
  const count = async <T>(label: string, send: () => Promise<T>): Promise<Counted<T>> => {
    await commands.quiet();
    await commands.window();
    pg.window();
    const result = await send();
    await commands.quiet();
    const window = await commands.read();
    const idle = idlePolling(window.commands);
    const counted = { result, redis: window.commands.filter((command) => !idle.has(command)), statements: perMessage(pg.read()) };
    console.log(
      `${label}: Redis ${counted.redis.length} sent / ${run(counted.redis)} run (with scripts' own calls), PostgreSQL ${counted.statements.length}\n` +
        `  by part ${JSON.stringify(byPart(counted.redis))}\n` +
        (idle.size > 0 ? `  idle polling, not counted: ${JSON.stringify(byPart([...idle]))}\n` : '') +
        `  INFO commandstats: ${total(window.executed)} ${JSON.stringify(window.executed)}\n` +
        counted.statements.map((sql) => `  sql: ${statementLabel(sql)}`).join('\n'),
    );
    return counted;
  };

  /** The commands of one part, by command. */
  const sentBy = (counted: Counted<unknown>, part: string) => byPart(counted.redis)[part]?.sent;

  /** A first message from a new visitor (a new conversation), the case the reply cache answers. */
  const firstMessage = async (label: string, text: string) => {
    const { socket } = await connectClient(server.url);
    try {
      return await count(label, () => sendAndCollect(socket, text));
    } finally {
      socket.disconnect();
    }
  };

  it('a cache hit: at most 2 Redis commands and 1 PostgreSQL statement', async () => {
    openai.push({ text: 'We open at nine.' });
    const miss = await firstMessage('first message, cache miss', 'When do you open?');
    expect(miss.result.reply.done).toMatchObject({ text: 'We open at nine.', cached: false });

    const hits = [];
    for (const text of ['when do you open?', 'When do you OPEN?', '  when  do you open? ']) {
      const hit = await firstMessage('first message, cache hit', text);
      expect(hit.result.reply.done).toMatchObject({ text: 'We open at nine.', cached: true });
      // The whole turn in one statement: the conversation, the message and its cached answer.
      expect(hit.statements).toHaveLength(1);
      // Ours: the budgets (one script) and the lookup (one GET), no PTTL.
      expect(sentBy(hit, 'rate limits')).toEqual({ evalsha: 1 });
      expect(sentBy(hit, 'reply cache')).toEqual({ get: 1 });
      hits.push(hit);
    }
    expect(openai.requests).toHaveLength(1);
    // The whole hit, every part (the socket.io adapter's stream included): at most 2 commands each.
    for (const hit of hits) expect(hit.redis.length, JSON.stringify(byPart(hit.redis))).toBeLessThanOrEqual(2);
  });

  it('rate limits: one EVALSHA for all the budgets a web message is checked against (IP, person, global)', async () => {
    const { socket } = await connectClient(server.url);
    try {
      for (const text of ['the first message', 'a second one']) {
        const counted = await count(`rate limits of "${text}"`, () => sendAndCollect(socket, text));
        const budgetCalls = counted.redis.filter(({ args }) => args.join(' ').includes(':rl:'));
        expect(budgetCalls).toHaveLength(1);
        const [command, , numberOfKeys, ...rest] = budgetCalls[0]!.args;
        // ioredis sends a script's body once per connection (EVAL), its hash after that.
        expect(['eval', 'evalsha']).toContain(command!.toLowerCase());
        if (text === 'a second one') expect(command!.toLowerCase()).toBe('evalsha');
        expect(numberOfKeys).toBe('3');
        expect(rest.slice(0, 3).map((key) => key.split(':rl:')[1]!.split(':')[0])).toEqual(['ip', 'user', 'global']);
      }
    } finally {
      socket.disconnect();
    }
  });

  it('a web turn: at most 20 Redis commands and 4 PostgreSQL statements', async () => {
    const { socket } = await connectClient(server.url);
    try {
      const first = await count('web turn 1 (a first message: cache miss)', () => sendAndCollect(socket, 'hello'));
      // Ours: the budgets (one script call), the lookup and, after the answer, the store.
      expect(total(sentBy(first, 'rate limits') ?? {})).toBe(1);
      expect(sentBy(first, 'reply cache')).toEqual({ get: 1, set: 1 });
      const turns: Counted<unknown>[] = [first];
      for (let index = 2; index <= 5; index++) {
        const counted = await count(`web turn ${index}`, () => sendAndCollect(socket, `message ${index}`));
        expect(counted.result.reply.done.text).toBe(`echo: message ${index}`);
        // Ours: one script for the budgets; a message with history never looks the cache up.
        expect(sentBy(counted, 'rate limits')).toEqual({ evalsha: 1 });
        expect(sentBy(counted, 'reply cache')).toBeUndefined();
        turns.push(counted);
      }
      for (const turn of turns) {
        // accept; start the turn and read its history (alongside); complete it.
        expect(turn.statements.length).toBeLessThanOrEqual(4);
        // Every command Redis ran for the turn, scripts' own calls included (issue #21 counted ~70 on ceedf87).
        expect(run(turn.redis), JSON.stringify(byPart(turn.redis))).toBeLessThanOrEqual(20);
      }
    } finally {
      socket.disconnect();
    }
  });
});

/** Without the type lookup postgres.js runs once on each new connection of its pool. */
function perMessage(window: PgStatementWindow): string[] {
  return window.statements.map((statement) => statement.sql).filter((sql) => !/from pg_catalog\.pg_type/.test(sql));
}
