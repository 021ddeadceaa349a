import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { io as connect } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { REDIS_TEST_URL, deleteRedisKeys } from './helpers/test-database.js';

/**
 * The web session over socket.io's Redis Streams adapter (connection state recovery on), as every
 * scaled-out web instance runs it: a worker of the same deployment runs alongside, so the server
 * is never alone and its broadcasts go through the stream (test/socket-emit-counts.test.ts covers
 * a lone instance).
 */
describe('web sessions with the Redis adapter', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;
  let worker: RunningApp;
  let redis: Redis;
  const prefix = `test-websession-${randomBytes(5).toString('hex')}`;
  const sockets: ClientSocket[] = [];

  const client = async (auth: Record<string, unknown> = {}) => {
    const connected = await connectClient(server.url, auth);
    sockets.push(connected.socket);
    return connected;
  };

  /** Every value stored under the deployment's prefix: stream entries and string keys. */
  const everythingInRedis = async (): Promise<string> => {
    const dump: unknown[] = [];
    for (const key of await redis.keys(`${prefix}:*`)) {
      const type = await redis.type(key);
      if (type === 'stream') dump.push(await redis.xrange(key, '-', '+'));
      else if (type === 'string') dump.push(await redis.get(key));
    }
    return JSON.stringify(dump);
  };

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    redis = new Redis(REDIS_TEST_URL);
    server = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', REDIS_URL: REDIS_TEST_URL, REDIS_PREFIX: prefix });
    worker = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: prefix,
      DATABASE_URL: server.database!.url,
      SWITCHBOARD_ROLE: 'worker',
    });
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.disconnect();
    openai.reset();
  });
  afterAll(async () => {
    await worker?.stop();
    await server?.stop();
    await openai?.close();
    await deleteRedisKeys(redis, `${prefix}:`);
    redis.disconnect();
  });

  it('never writes a session token into Redis, while replies still go through the shared stream', async () => {
    const first = await client();
    const { reply } = await sendAndCollect(first.socket, 'hello');
    expect(reply.done.text).toBe('echo: hello');
    const again = await client({ token: first.session.token });
    expect(again.session).toEqual(first.session);
    const fresh = await client();

    const stored = await everythingInRedis();
    // The reply was broadcast through the adapter's stream (so a dropped client can recover it)…
    expect(JSON.stringify(await redis.xrange(`${prefix}:socket.io`, '-', '+'))).toContain('echo: hello');
    // …but no `session` event, with its raw token, ever was.
    for (const token of [first.session.token, fresh.session.token]) expect(stored).not.toContain(token);
  });

  it('sends each socket only its own session, even when many connect at once', async () => {
    const owner = await client();
    await sendAndCollect(owner.socket, 'mine');
    const crowd = await Promise.all([
      client({ token: owner.session.token }),
      ...Array.from({ length: 20 }, () => client()),
      client({ token: owner.session.token }),
    ]);
    const sessionsSeen = crowd.map((connected) => {
      const seen: unknown[] = [];
      connected.socket.on('session', (session) => seen.push(session));
      return seen;
    });
    expect(crowd[0]!.session).toEqual(owner.session);
    expect(crowd.at(-1)!.session).toEqual(owner.session);
    const strangers = crowd.slice(1, -1).map((connected) => connected.session);
    expect(new Set(strangers.map((session) => session.conversationId)).size).toBe(20);
    for (const session of strangers) {
      expect(session.conversationId).not.toBe(owner.session.conversationId);
      expect(session.token).not.toBe(owner.session.token);
    }
    // One `session` per connect, and none arrives later for another socket.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(sessionsSeen.flat()).toEqual([]);
  });

  it('a client whose session was never persisted (the instance crashed) costs one EXISTS, then resumes through the token', async () => {
    const owner = await client();
    await sendAndCollect(owner.socket, 'before the crash');
    owner.socket.disconnect();
    const socket = connect(server.url, {
      transports: ['websocket'],
      reconnectionDelay: 1000,
      reconnectionDelayMax: 1000,
      randomizationFactor: 0,
      auth: (callback) => callback({ token: owner.session.token }),
    });
    sockets.push(socket);
    await new Promise((resolve) => socket.once('session', resolve));
    // The client now holds a recovery offset (the `session` carries one); its transport drops, and the
    // session the server persists for it is removed, as if the instance had been killed instead.
    socket.io.engine.close();
    const sessionKeyPrefix = `${prefix}:sio:session:`;
    let persisted: string[] = [];
    for (let tries = 0; persisted.length === 0 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      persisted = await redis.keys(`${sessionKeyPrefix}*`);
    }
    expect(persisted).toHaveLength(1);
    await redis.del(...persisted);
    const monitor = await redis.monitor();
    const commands: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((arg) => arg.startsWith(prefix))) commands.push(args.join(' '));
    });
    try {
      const resumed = await new Promise<{ conversationId: string; token: string }>((resolve) => socket.once('session', resolve));
      expect(socket.recovered).toBe(false);
      expect(resumed).toEqual(owner.session);
      // The miss is settled by EXISTS alone: no GET/DEL of the key, no XRANGE of the stream.
      const attempts = commands.filter((command) => command.includes(sessionKeyPrefix) || command.startsWith('xrange'));
      expect(attempts).toEqual([`exists ${persisted[0]}`]);
    } finally {
      monitor.disconnect();
    }
  });

  it('a client that drops before its first reply still recovers it, on an instance started after the stream had entries', async () => {
    // A second instance of the same deployment (database, Redis, queue): its stream reader starts at the stream's end.
    const second = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: prefix,
      DATABASE_URL: server.database!.url,
    });
    try {
      openai.push({ text: 'sent while you were away', delayMs: 800 });
      const socket = connect(second.url, { transports: ['websocket'], reconnectionDelay: 1200, reconnectionDelayMax: 1200, randomizationFactor: 0 });
      sockets.push(socket);
      await new Promise((resolve) => socket.once('session', resolve));
      const dones: unknown[] = [];
      socket.on('reply.done', (payload) => dones.push(payload));
      const ack = await socket.timeout(5000).emitWithAck('message', { text: 'are you there?', clientMessageId: 'recover-1' });
      expect(ack.ok).toBe(true);
      socket.io.engine.close();
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      expect(socket.recovered).toBe(true);
      const deadline = Date.now() + 5000;
      while (dones.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(dones).toEqual([{ messageId: ack.messageId, text: 'sent while you were away', fallback: false, cached: false, toolCalls: [], author: 'agent' }]);
    } finally {
      for (const socket of sockets.splice(0)) socket.disconnect();
      await second.stop();
    }
  });
});
