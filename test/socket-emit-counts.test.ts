import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSocketServer } from '../src/channels/web/socket-server.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/private-redis.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/** Write syscalls this process has made so far (all its threads). */
const writeSyscalls = () => Number(/^syscw: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** What socket.io costs per web turn: syscalls to the client, and Redis commands (a private redis-server, MONITOR). */
describe('socket.io emits: writes to the client, and the Redis stream only when another instance runs', () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.disconnect();
  });

  it('writes what a connection is sent in one event-loop turn with one syscall, in order', async () => {
    const http = createServer();
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const io = createSocketServer<Server>(http, {});
    io.on('connection', (socket) => void socket.join('room'));
    try {
      const client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
      sockets.push(client);
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      const received: unknown[] = [];
      client.onAny((event: string, value: unknown) => received.push([event, value]));
      // The fewest of three tries: anything else of this process (the test runner's own IPC) writes at times.
      let fewest = Number.POSITIVE_INFINITY;
      for (let attempt = 0; attempt < 3; attempt++) {
        const before = writeSyscalls();
        for (let i = 0; i < 5; i++) io.to('room').emit('tick', i);
        await nextTurn();
        await nextTurn();
        fewest = Math.min(fewest, writeSyscalls() - before);
      }
      expect(fewest).toBe(1);
      await waitFor(() => received.length === 15, 'every event');
      expect(received).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4].map((i) => ['tick', i]));
    } finally {
      await new Promise<void>((resolve) => io.close(() => resolve()));
    }
  });

  describe('with the Redis adapter (REDIS_URL, all-in-one)', () => {
    let redis: PrivateRedis;
    let probe: Redis;
    let openai: FakeProviderServer;
    let alone: RunningApp;
    const prefix = `emits-${randomBytes(4).toString('hex')}`;
    const stream = `${prefix}:socket.io`;
    const env = () => ({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      // One visitor sends many messages here: the budgets would answer them instead of a turn.
      RATE_LIMIT_USER_PER_MINUTE: '0',
      RATE_LIMIT_IP_PER_MINUTE: '0',
    });

    /** Every command Redis received while `run` ran (MONITOR: it reports in order, so an ECHO sent after marks the end). */
    const commandsDuring = async (run: () => Promise<void>): Promise<string[][]> => {
      const monitor = await probe.monitor();
      const seen: string[][] = [];
      const marker = `end-${randomBytes(4).toString('hex')}`;
      const ended = new Promise<void>((resolve) =>
        monitor.on('monitor', (_time: string, args: string[]) => {
          if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) resolve();
          else seen.push(args);
        }),
      );
      try {
        await run();
        await probe.echo(marker);
        await ended;
      } finally {
        monitor.disconnect();
      }
      return seen;
    };
    const named = (commands: string[][], name: string) => commands.filter((args) => args[0]!.toLowerCase() === name);
    const addsToStream = (commands: string[][]) => named(commands, 'xadd').filter((args) => args[1] === stream);

    beforeAll(async () => {
      [redis, openai] = await Promise.all([startPrivateRedis(), startFakeOpenAIServer()]);
      probe = new Redis(redis.url);
      alone = await startTestApp(env());
    });
    afterAll(async () => {
      await alone?.stop();
      await openai?.close();
      probe?.disconnect();
      await redis?.kill();
    });

    it('alone, a turn’s replies stay in the process: no XADD, no PUBSUB, and at most four frames to the client', async () => {
      const { socket } = await connectClient(alone.url);
      sockets.push(socket);
      await sendAndCollect(socket, 'warm up');
      let frames = 0;
      socket.io.engine.on('packet', () => frames++);
      const turns = 5;
      const commands = await commandsDuring(async () => {
        for (let i = 0; i < turns; i++) {
          const { reply } = await sendAndCollect(socket, `turn ${i}`);
          expect(reply.done.text).toBe(`echo: turn ${i}`);
          expect(reply.deltas.join('')).toBe(`echo: turn ${i}`);
        }
      });
      expect(addsToStream(commands)).toEqual([]);
      // The live feed asks whether another instance could watch: answered without a command.
      expect([...named(commands, 'pubsub'), ...named(commands, 'publish')]).toEqual([]);
      // The adapter's reader reads nothing back (at most its 5 s block ran out once meanwhile).
      expect(named(commands, 'xread').length).toBeLessThanOrEqual(1);
      // The ack, the first delta, the rest of the text, reply.done.
      expect(frames).toBeLessThanOrEqual(4 * turns);
    });

    it('alone, a client that drops gets what it missed from this process on reconnecting, with no Redis command', async () => {
      openai.push({ text: 'sent while you were away', delayMs: 800 });
      const socket = connect(alone.url, { transports: ['websocket'], reconnectionDelay: 1200, reconnectionDelayMax: 1200, randomizationFactor: 0 });
      sockets.push(socket);
      await new Promise((resolve) => socket.once('session', resolve));
      const dones: unknown[] = [];
      socket.on('reply.done', (payload) => dones.push(payload));
      let messageId = '';
      const commands = await commandsDuring(async () => {
        const ack = await socket.timeout(5000).emitWithAck('message', { text: 'are you there?', clientMessageId: 'away-1' });
        expect(ack.ok).toBe(true);
        messageId = ack.messageId;
        // Dropped before any reply event: its offset is the one `session` carried.
        socket.io.engine.close();
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        expect(socket.recovered).toBe(true);
        await waitFor(() => dones.length > 0, 'the missed reply');
      });
      expect(dones).toEqual([{ messageId, text: 'sent while you were away', fallback: false, cached: false, toolCalls: [], author: 'agent' }]);
      const recoveryCommands = commands.filter((args) => args.some((arg) => arg.startsWith(`${prefix}:sio:session:`) || arg === stream) && args[0] !== 'xread');
      expect(recoveryCommands).toEqual([]);
    });

    it('with another instance, broadcasts take the stream and reach its visitors; alone again once it stops', async () => {
      // A web instance of the same deployment: it only enqueues, so the turn runs on the first one.
      const web = await startTestApp({ ...env(), DATABASE_URL: alone.database!.url, SWITCHBOARD_ROLE: 'web' });
      try {
        const visitor = await connectClient(web.url);
        sockets.push(visitor.socket);
        let reply: Awaited<ReturnType<typeof sendAndCollect>>['reply'] | undefined;
        const commands = await commandsDuring(async () => {
          ({ reply } = await sendAndCollect(visitor.socket, 'across instances'));
        });
        expect(reply!.done.text).toBe('echo: across instances');
        expect(reply!.deltas.join('')).toBe('echo: across instances');
        const added = addsToStream(commands).map((args) => args.join(' '));
        expect(added.some((entry) => entry.includes('reply.done') && entry.includes('echo: across instances'))).toBe(true);
      } finally {
        await web.stop();
      }
      // Its goodbye has the first instance count again: alone, well before the periodic recount.
      const { socket } = await connectClient(alone.url);
      sockets.push(socket);
      await waitFor(
        async () => {
          let text = '';
          const commands = await commandsDuring(async () => void ({ text } = (await sendAndCollect(socket, 'alone again')).reply.done));
          expect(text).toBe('echo: alone again');
          return addsToStream(commands).length === 0;
        },
        'the first instance alone again',
        2000,
      );
    });
  });
});
