import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/store/database.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { startAppProcess, type AppProcess } from './helpers/app-process.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/private-redis.js';
import { connectClient, sendAndCollect } from './helpers/test-app.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';
import { listMessages } from './helpers/store-queries.js';
import { waitFor } from './helpers/wait-for.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `npm run migrate` as the deploy would run it (`node dist/migrate.js`): once, before any instance starts. */
function runMigrate(env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/migrate.js'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited ${code}:\n${output}`))));
  });
}

/**
 * Two web processes and two worker processes, started the way a deploy starts them
 * (`SWITCHBOARD_ROLE`, migrations once beforehand), over one PostgreSQL database and
 * a private redis-server. Web processes only enqueue; workers run every turn and
 * reach the visitor's socket through the socket.io Redis Streams adapter.
 */
describe('scale-out: 2 web + 2 worker processes', () => {
  let redis: PrivateRedis;
  let openai: FakeProviderServer;
  let database: TestDatabase;
  let check: Database;
  let queue: Queue;
  const children: AppProcess[] = [];
  const sockets: Socket[] = [];
  let webA: AppProcess;
  let webB: AppProcess;
  let workers: AppProcess[];

  beforeAll(async () => {
    [redis, openai, database] = await Promise.all([startPrivateRedis(), startFakeOpenAIServer(), createTestDatabase()]);
    const prefix = `scale-${randomBytes(4).toString('hex')}`;
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      MIGRATE_ON_START: 'false',
      RATE_LIMIT_USER_PER_MINUTE: '4',
      // One turn at a time per worker, so two slow turns in flight are one on each worker.
      QUEUE_CONCURRENCY: '1',
      QUEUE_LOCK_MS: '1000',
      LLM_FIRST_TOKEN_TIMEOUT_MS: '20000',
      FALLBACK_AFTER_MS: '20000',
    };
    await runMigrate({ DATABASE_URL: database.url });
    const start = async (role: 'web' | 'worker') => {
      const child = await startAppProcess({ ...env, SWITCHBOARD_ROLE: role });
      children.push(child);
      return child;
    };
    [webA, webB, ...workers] = await Promise.all([start('web'), start('web'), start('worker'), start('worker')]);
    check = await openDatabase({ url: database.url, dataDir: '/nonexistent' });
    queue = new Queue('turns', { connection: { url: redis.url }, prefix: `${prefix}:bull` });
  }, 75_000); // longer than startAppProcess's own 60 s, which kills a server that never came up

  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    // Every child dies, whatever happened above: a leaked server would outlive the test run.
    await Promise.allSettled(children.map((child) => child.kill()));
    await queue?.close().catch(() => {});
    await check?.close().catch(() => {});
    await openai?.close();
    await redis?.kill();
    await database?.drop();
  }, 30_000);

  const client = async (url: string, auth: Record<string, unknown> = {}) => {
    const connected = await connectClient(url, auth);
    sockets.push(connected.socket);
    return connected;
  };

  it('a client on web A gets the streamed answer a worker produced', async () => {
    const { socket } = await client(webA.url);
    openai.push({ text: 'streamed from a worker process' });
    const { ack, reply } = await sendAndCollect(socket, 'hello A');
    expect(reply.deltas.length).toBeGreaterThan(1);
    expect(reply.deltas.join('')).toBe('streamed from a worker process');
    expect(reply.done).toMatchObject({ messageId: ack.messageId, text: 'streamed from a worker process', fallback: false });
    const job = await queue.getJob(ack.messageId);
    const workerPids = workers.map((worker) => String(worker.child.pid));
    expect(workerPids).toContain(job?.processedBy?.split(':').at(-1));
  });

  it('a client moving from A to B with its token resumes its conversation', async () => {
    const first = await client(webA.url);
    expect((await sendAndCollect(first.socket, 'my name is Ada')).reply.done.text).toBe('echo: my name is Ada');
    first.socket.disconnect();

    const second = await client(webB.url, { token: first.session.token });
    expect(second.session.conversationId).toBe(first.session.conversationId);
    expect((await sendAndCollect(second.socket, 'what is my name?')).reply.done.text).toBe('echo: what is my name?');
    const history = openai.requests.at(-1)!.body.messages.map((message: any) => [message.role, message.content]);
    expect(history).toEqual(
      expect.arrayContaining([
        ['user', 'my name is Ada'],
        ['assistant', 'echo: my name is Ada'],
        ['user', 'what is my name?'],
      ]),
    );
  });

  it('rate limits hold across both web instances (one budget in Redis)', async () => {
    const send = (socket: Socket, text: string) =>
      socket.timeout(5000).emitWithAck('message', { text, clientMessageId: `rl-${Math.random()}` });
    const onA = await client(webA.url);
    // The first message stores the conversation, so the token resumes it on B.
    expect(await send(onA.socket, 'a1')).toMatchObject({ ok: true });
    const onB = await client(webB.url, { token: onA.session.token });
    expect(onB.session.conversationId).toBe(onA.session.conversationId);
    // RATE_LIMIT_USER_PER_MINUTE=4: two messages through each instance spend the whole budget.
    for (const [socket, text] of [[onB.socket, 'b1'], [onA.socket, 'a2'], [onB.socket, 'b2']] as const) {
      expect(await send(socket, text)).toMatchObject({ ok: true });
    }
    expect(await send(onA.socket, 'a3')).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    expect(await send(onB.socket, 'b3')).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
  });

  it('a worker killed mid-turn leaves every message answered exactly once', async () => {
    openai.setResponder((body) => ({ text: `slow answer to ${body.messages.at(-1).content}`, delayMs: 2000 }));
    try {
      const before = openai.requests.length;
      const visitors = await Promise.all([client(webA.url), client(webB.url)]);
      const dones: any[][] = visitors.map(() => []);
      visitors.forEach(({ socket }, i) => socket.on('reply.done', (payload) => dones[i]!.push(payload)));
      const acks = await Promise.all(
        visitors.map(({ socket }, i) => socket.timeout(5000).emitWithAck('message', { text: `survive ${i}`, clientMessageId: `kill-${i}` })),
      );
      expect(acks.every((ack) => ack.ok)).toBe(true);
      // With one turn per worker, both workers now hold one slow turn each.
      await waitFor(() => openai.requests.length - before >= 2, 'both turns to reach the provider', 10_000);
      await workers[0]!.kill();

      await waitFor(() => dones.every((list) => list.length > 0), 'both answers', 20_000);
      await sleep(1500); // room for a second delivery to show up
      dones.forEach((list, i) => {
        expect(list).toEqual([{ messageId: acks[i].messageId, text: `slow answer to survive ${i}`, fallback: false, cached: false, toolCalls: [], author: 'agent' }]);
      });
      for (const [i, { session }] of visitors.entries()) {
        const rows = await listMessages(check.db, session.conversationId);
        expect(rows.map((row) => [row.role, row.status, row.text])).toEqual([
          ['user', 'answered', `survive ${i}`],
          ['assistant', 'answered', `slow answer to survive ${i}`],
        ]);
      }
    } finally {
      openai.setResponder(undefined);
    }
  }, 40_000);

  it('a client that drops for a moment gets the reply it missed (connection state recovery)', async () => {
    openai.push({ text: 'sent while you were away', delayMs: 800 });
    const socket = connect(webB.url, { transports: ['websocket'], reconnectionDelay: 1500, reconnectionDelayMax: 1500, randomizationFactor: 0 });
    sockets.push(socket);
    await new Promise((resolve) => socket.once('session', resolve));
    const dones: any[] = [];
    socket.on('reply.done', (payload) => dones.push(payload));
    const ack = await socket.timeout(5000).emitWithAck('message', { text: 'are you there?', clientMessageId: 'recover-1' });
    expect(ack.ok).toBe(true);
    // Drop the transport as a flaky network would: the client reconnects on its own after 1.5 s.
    socket.io.engine.close();
    await waitFor(() => !socket.connected, 'the drop', 2000);
    await sleep(1000);
    expect(dones).toEqual([]);
    await waitFor(() => socket.connected, 'the reconnect', 5000);
    expect(socket.recovered).toBe(true);
    await waitFor(() => dones.length > 0, 'the missed reply', 3000);
    expect(dones).toEqual([{ messageId: ack.messageId, text: 'sent while you were away', fallback: false, cached: false, toolCalls: [], author: 'agent' }]);
  });

  it('killing web A lets its clients reconnect to B and continue', async () => {
    const onA = await client(webA.url);
    expect((await sendAndCollect(onA.socket, 'before the crash')).reply.done.text).toBe('echo: before the crash');
    await webA.kill();
    await waitFor(() => !onA.socket.connected, 'web A to go', 5000);

    const onB = await client(webB.url, { token: onA.session.token });
    expect(onB.session.conversationId).toBe(onA.session.conversationId);
    expect((await sendAndCollect(onB.socket, 'after the crash')).reply.done.text).toBe('echo: after the crash');
    const rows = await listMessages(check.db, onA.session.conversationId);
    expect(rows.map((row) => row.text)).toEqual(['before the crash', 'echo: before the crash', 'after the crash', 'echo: after the crash']);
  });

  it('stays idle while Redis is down (the adapter\'s stream reader waits instead of spinning)', async () => {
    const cpuTicks = async (pid: number) => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (1/100 s)
    };
    await queue.close();
    await redis.kill();
    await sleep(500);
    const pids = [webB.child.pid!, workers[1]!.child.pid!];
    const before = await Promise.all(pids.map(cpuTicks));
    await sleep(3000);
    const after = await Promise.all(pids.map(cpuTicks));
    // A reader retrying in a tight loop would burn ~300 ticks (a whole core) in 3 s.
    after.forEach((ticks, i) => expect(ticks - before[i]!).toBeLessThan(60));
  });
});
