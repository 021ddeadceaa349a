import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import { openDatabase } from '../src/store/database.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { startAppProcess } from './helpers/app-process.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';
import { createTestDatabase, REDIS_TEST_URL } from './helpers/test-database.js';
import { listMessages, setMessageStatus } from './helpers/store-queries.js';

const prefix = () => `test-queue-${randomBytes(5).toString('hex')}`;

async function dropPrefix(keyPrefix: string): Promise<void> {
  const redis = new Redis(REDIS_TEST_URL);
  try {
    const keys = await redis.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

describe('durable processing with Redis', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;
  const redisPrefix = prefix();

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: redisPrefix,
    });
  });
  afterAll(async () => {
    await server?.stop();
    await openai?.close();
    await dropPrefix(redisPrefix);
  });

  it('stores the message naming this instance, runs it in-process (no BullMQ job), and closes the ledger entry', async () => {
    expect(server.app.spine.dispatcher.kind).toBe('bullmq');
    const owner = server.app.spine.dispatcher.owner;
    expect(owner).toMatch(/^[0-9a-f-]{36}$/);
    const { socket, session } = await connectClient(server.url);
    try {
      const { ack, reply } = await sendAndCollect(socket, 'queued hello', 'dup-1');
      expect(reply.done.text).toBe('echo: queued hello');
      // The all-in-one role runs the turn where it was accepted: BullMQ is for overflow and recovery
      // (test/turn-placement.test.ts); the ledger row names the instance answerable for it.
      const queue = new Queue('turns', { connection: { url: REDIS_TEST_URL }, prefix: `${redisPrefix}:bull` });
      try {
        expect(await queue.getJobState(ack.messageId)).toBe('unknown');
      } finally {
        await queue.close();
      }
      const [question, answer] = await listMessages(server.app.database.db, session.conversationId);
      expect(question).toMatchObject({ status: 'answered', turnOwner: owner });
      expect(answer).toMatchObject({ role: 'assistant', replyToId: ack.messageId });

      // The same delivery again is one job and one answer.
      const again = await socket.timeout(5000).emitWithAck('message', { text: 'queued hello', clientMessageId: 'dup-1' });
      expect(again).toEqual({ ok: true, messageId: ack.messageId, duplicate: true });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(openai.requests).toHaveLength(1);
      expect(await listMessages(server.app.database.db, session.conversationId)).toHaveLength(2);
    } finally {
      socket.disconnect();
    }
  });
});

describe('graceful shutdown with Redis', () => {
  it('finishes the job in flight, refuses new messages, and leaves nothing open in the ledger', async () => {
    const openai = await startFakeOpenAIServer();
    const redisPrefix = prefix();
    const server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: redisPrefix,
    });
    let stopped = false;
    try {
      const { socket, session } = await connectClient(server.url);
      const late = await connectClient(server.url);
      openai.push({ text: 'slow but delivered', delayMs: 600 });
      const inFlight = sendAndCollect(socket, 'take your time');
      while (openai.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      const closing = server.app.close();
      const refused = await late.socket.timeout(2000).emitWithAck('message', { text: 'too late', clientMessageId: 'late' });
      expect(refused).toMatchObject({ ok: false, error: { code: 'shutting_down' } });
      expect((await inFlight).reply.done.text).toBe('slow but delivered');
      await closing;
      stopped = true;
      const check = await openDatabase({ url: server.database!.url, dataDir: '/nonexistent' });
      try {
        const rows = await listMessages(check.db, session.conversationId);
        expect(rows.map((row) => row.status)).toEqual(['answered', 'answered']);
      } finally {
        await check.close();
      }
    } finally {
      if (stopped) await server.database?.drop();
      else await server.stop();
      await openai.close();
      await dropPrefix(redisPrefix);
    }
  });
});

describe('a job that exhausts its retries', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;
  const redisPrefix = prefix();

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: redisPrefix,
      QUEUE_ATTEMPTS: '2',
      FALLBACK_REPLY: 'Sorry, saved for later.',
    });
  });
  afterAll(async () => {
    await server?.stop();
    await openai?.close();
    await dropPrefix(redisPrefix);
  });

  it('ends with the fallback reply and status failed, never silence', async () => {
    // A database that refuses to store any answer: every run of the job fails at its last write.
    const sql = postgres(server.database!.url, { max: 1, onnotice: () => {} });
    await sql.unsafe(`
      create function refuse_answers() returns trigger language plpgsql as $$
      begin
        if new.role = 'assistant' and new.status = 'answered' then raise exception 'disk full (simulated)'; end if;
        return new;
      end $$;
      create trigger refuse_answers before insert on messages for each row execute function refuse_answers();
    `);
    const { socket, session } = await connectClient(server.url);
    try {
      const { ack, reply } = await sendAndCollect(socket, 'will this be lost?', undefined, 15_000);
      expect(reply.done).toMatchObject({ messageId: ack.messageId, text: 'Sorry, saved for later.', fallback: true });
      // Two runs, each reaching the provider, then the failed ending.
      expect(openai.requests).toHaveLength(2);
      const [question, answer] = await listMessages(server.app.database.db, session.conversationId);
      expect(question).toMatchObject({ status: 'failed', fallback: true, fallbackReason: 'turn_failed' });
      expect(answer).toMatchObject({ role: 'assistant', status: 'failed', text: 'Sorry, saved for later.' });
    } finally {
      socket.disconnect();
      await sql.unsafe('drop trigger refuse_answers on messages; drop function refuse_answers();');
      await sql.end();
    }
  }, 20_000);
});

describe('ledger recovery without Redis', () => {
  it('answers, at start-up, a message a previous process accepted but never finished', async () => {
    const openai = await startFakeOpenAIServer();
    const shared = await createTestDatabase();
    const env = { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', DATABASE_URL: shared.url };
    try {
      // A process stored a message and died before its turn ran.
      const database = await openDatabase({ url: shared.url, dataDir: '/nonexistent' });
      await database.migrate();
      const store = createStore(database.db);
      const conversation = await store.conversations.findOrCreateConversation({ channel: 'web', externalUserId: 'visitor:lost' });
      const { message } = await store.messages.acceptMessage({ conversationId: conversation.id, text: 'am I lost?' });
      await setMessageStatus(database.db, message.id, 'processing');

      const restarted = await startTestApp({ ...env, LEDGER_RECOVERY_AFTER_MS: '0' });
      try {
        expect(restarted.app.spine.dispatcher.kind).toBe('in-process');
        const deadline = Date.now() + 5000;
        while ((await store.messages.getMessage(message.id))!.status !== 'answered' && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const rows = await listMessages(database.db, conversation.id);
        expect(rows.map((row) => [row.role, row.status, row.text])).toEqual([
          ['user', 'answered', 'am I lost?'],
          ['assistant', 'answered', 'echo: am I lost?'],
        ]);
      } finally {
        await restarted.stop();
        await database.close();
      }
    } finally {
      await shared.drop();
      await openai.close();
    }
  });
});

describe('a process killed mid-turn', () => {
  it('answers the message exactly once after a restart (the new instance takes the dead one\'s turn over)', async () => {
    const openai = await startFakeOpenAIServer();
    const database = await createTestDatabase();
    const redisPrefix = prefix();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: redisPrefix,
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      QUEUE_LOCK_MS: '1000',
      LLM_FIRST_TOKEN_TIMEOUT_MS: '20000',
      FALLBACK_AFTER_MS: '20000',
    };
    let first = await startAppProcess(env);
    let second: Awaited<ReturnType<typeof startAppProcess>> | undefined;
    try {
      // The first attempt is slow, so the turn is in flight when the worker dies.
      openai.push({ text: 'never delivered', delayMs: 10_000 });
      const { socket, session } = await connectClient(first.url);
      const ack = await socket.timeout(5000).emitWithAck('message', { text: 'survive this', clientMessageId: 'kill-1' });
      expect(ack.ok).toBe(true);
      const deadline = Date.now() + 5000;
      while (openai.requests.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(openai.requests).toHaveLength(1);
      await first.kill();
      socket.disconnect();

      openai.setResponder((body) => ({ text: `answer to ${body.messages.at(-1).content}`, delayMs: 1500 }));
      second = await startAppProcess(env);
      const resumed = await connectClient(second.url, { token: session.token });
      const dones: any[] = [];
      resumed.socket.on('reply.done', (payload) => dones.push(payload));
      const until = Date.now() + 15_000;
      while (dones.length === 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
      // Give a second delivery every chance to show up.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      resumed.socket.disconnect();

      expect(dones).toEqual([
        { messageId: ack.messageId, text: 'answer to survive this', fallback: false, cached: false, toolCalls: [], author: 'agent' },
      ]);
      const check = await openDatabase({ url: database.url, dataDir: '/nonexistent' });
      try {
        const rows = await listMessages(check.db, session.conversationId);
        expect(rows.map((row) => [row.role, row.status])).toEqual([
          ['user', 'answered'],
          ['assistant', 'answered'],
        ]);
      } finally {
        await check.close();
      }
    } finally {
      await first.kill();
      await second?.stop();
      await openai.close();
      await database.drop();
      await dropPrefix(redisPrefix);
    }
    // Two cold starts of the real server on a busy machine.
  }, 180_000);
});
