import { randomBytes } from 'node:crypto';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import type { Logger } from '../observability/logger.js';
import { LocalRecovery, type Session } from './local-recovery.js';
import { SocketPeers } from './socket-peers.js';

/** Replies stream as many small deltas: the stream keeps enough entries to replay a recovery window of them. */
const STREAM_MAX_LEN = 100_000;
/** Packets a lone instance keeps per namespace for connection state recovery (within the recovery window). */
const LOCAL_RECOVERY_MAX_PACKETS = 10_000;

/** socket.io's Redis Streams adapter plus the Redis clients it opened, so shutdown can close them all. */
export interface SocketAdapter {
  /** Sets the adapter on the server (before any client connects). */
  install(io: Server): void;
  /**
   * Learns which other instances run and tells them this one does: call before serving sockets.
   * Until it is known, every broadcast goes through the stream.
   */
  start(): Promise<void>;
  /**
   * Where a client that has received nothing yet stands, for connection state recovery: the newest
   * entry of the shared stream this instance knows of, or (alone) the position of its own log. A
   * socket's own events skip the stream; sending this with them still lets the client recover later
   * (see the web channel's `session`).
   */
  latestOffset(): string | undefined;
  close(): Promise<void>;
}

export interface SocketAdapterOptions {
  redisUrl: string;
  /** Same REDIS_PREFIX → same stream: every web instance and worker of one deployment. */
  prefix: string;
}

/**
 * Every broadcast (`io.to(room).emit`) is XADDed to one Redis stream that every
 * instance reads, so a reply produced by a worker reaches the visitor's socket on
 * whichever web instance holds it, and a client that drops for a moment gets the
 * events it missed (connection state recovery) on any instance.
 *
 * Except on a lone instance: when this process serves sockets and knows of no other socket.io
 * server of the deployment (SocketPeers: pub/sub, no command per broadcast), nobody else could
 * deliver or replay a broadcast, so it stays in this process: delivered at once, with no XADD and
 * no XREAD of it by this instance's own reader, and kept for recovery in a LocalRecovery log (as
 * socket.io's in-memory adapter does). A worker's server (detached, no sockets) always publishes.
 * The trade: a client that drops from a lone instance recovers only on that same process; after a
 * restart, or once another instance runs, it connects afresh with its token, and the web channel's
 * `auth.after` catch-up sends the replies stored meanwhile (`session` is sent again).
 *
 * Two connection policies, because the adapter (0.3.1) uses its client two ways:
 * - publishing (XADD, session SET) fails fast while Redis is down: the adapter catches
 *   the failed XADD and still delivers to this instance's own sockets, so an all-in-one
 *   process keeps answering through a Redis outage;
 * - reading (blocking XREAD on `duplicate()`s of that client) must wait for Redis instead:
 *   the adapter re-polls at once after an error, so a fail-fast read client spins on
 *   rejected promises for as long as Redis is unavailable (tried: with the publisher's
 *   options the reader starves the event loop before the server even starts listening).
 */
export function createSocketAdapter(options: SocketAdapterOptions, logger: Logger): SocketAdapter {
  const streamName = `${options.prefix}:socket.io`;
  const sessionKeyPrefix = `${options.prefix}:sio:session:`;
  const opened: Redis[] = [];
  const publisher = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  publisher.on('error', (error) => logger.debug({ err: error }, 'socket.io adapter redis error'));
  opened.push(publisher);
  // The recovery check of every reconnecting client (see install): auto-pipelined, so the checks of
  // all the handshakes read in one event-loop turn go to Redis in one write instead of one each.
  const sessionChecks = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, enableAutoPipelining: true });
  sessionChecks.on('error', (error) => logger.debug({ err: error }, 'socket.io session check redis error'));
  opened.push(sessionChecks);
  // The adapter opens its stream reader and pub/sub client by duplicating the publisher.
  publisher.duplicate = () => {
    const reader = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    opened.push(reader);
    return reader;
  };
  const adapter = createAdapter(publisher, {
    streamName,
    channelPrefix: `${options.prefix}:socket.io`,
    sessionKeyPrefix,
    maxLen: STREAM_MAX_LEN,
    blockTimeInMs: 5000,
  });
  let latestOffset: string | undefined;
  // The reader starts at the stream's end ('$'): learn where that end is once, then follow every entry
  // read. An empty stream (a new deployment, or lone instances only so far) gets a first entry, so
  // that a client has an offset to recover from before any broadcast; readers skip it (no `nsp`).
  publisher.once('ready', () => {
    publisher
      .xrevrange(streamName, '+', '-', 'COUNT', 1)
      .then(([newest]) => newest?.[0] ?? publisher.xadd(streamName, 'MAXLEN', '~', STREAM_MAX_LEN, '*', 'start', '1'))
      .then(
        (offset) => (latestOffset ??= offset ?? undefined),
        (error: unknown) => logger.debug({ err: error }, 'socket.io stream end unknown'),
      );
  });
  const peers = new SocketPeers(options.redisUrl, publisher, `${options.prefix}:socket.io#instances`, logger);
  const logId = randomBytes(6).toString('hex');
  /** Each namespace's log of what it broadcast while alone. */
  const logs = new Map<string, LocalRecovery>();
  const instances: { close(): unknown }[] = [];
  let servesSockets = false;
  /** Broadcasts on their way through the stream: one sent after them must not overtake them by staying here. */
  let publishing = 0;
  let alone = false;
  /** Whether a broadcast now stays in this process; a change starts a new epoch of every log. */
  const staysHere = (): boolean => {
    const now = servesSockets && peers.alone && publishing === 0;
    if (now !== alone) {
      alone = now;
      for (const log of logs.values()) log.newEpoch();
    }
    return now;
  };
  return {
    latestOffset: () => (staysHere() ? logs.get('/')?.checkpoint() : latestOffset),
    start: () => peers.start(),
    install(io) {
      // A detached server (a worker's) has no engine and so no sockets: its broadcasts must reach the web instances.
      servesSockets = (io as { engine?: unknown }).engine !== undefined;
      // A `function`, not an arrow: socket.io calls the adapter factory with `new`.
      const guarded = function (nsp: Parameters<typeof adapter>[0]) {
        const instance = adapter(nsp);
        instances.push(instance);
        const recovery = (nsp as { server: Server }).server._opts.connectionStateRecovery;
        const log = new LocalRecovery(logId, recovery?.maxDisconnectionDuration ?? 0, LOCAL_RECOVERY_MAX_PACKETS);
        logs.set((nsp as { name: string }).name, log);

        const broadcast = instance.broadcast.bind(instance);
        instance.broadcast = (packet, opts) => {
          if (opts.flags?.local) return broadcast(packet, opts);
          if (staysHere()) {
            if (recovery) log.record(packet, opts);
            return broadcast(packet, { ...opts, flags: { ...opts.flags, local: true } });
          }
          publishing++;
          return Promise.resolve(broadcast(packet, opts)).finally(() => publishing--);
        };
        // The live feed asks whether anyone else could watch: the peers know, without PUBSUB NUMSUB.
        const serverCount = instance.serverCount.bind(instance);
        instance.serverCount = () => (peers.others === undefined ? serverCount() : Promise.resolve(1 + peers.others));

        // A dropped socket's session is written with a SET the adapter does not await: while Redis is
        // away that write would reject unhandled, so it is skipped (the client then reconnects fresh).
        // Alone, it is kept in this process with the packets it may miss.
        const persist = instance.persistSession.bind(instance);
        instance.persistSession = (session) => {
          if (staysHere()) log.persist(session);
          else if (publisher.status === 'ready') persist(session);
        };
        // Every client that held a recovery offset tries to recover on reconnect. After a crash none
        // can (a killed process persisted no sessions), and the adapter's attempt costs five commands
        // in two writes (MULTI GET DEL EXEC, XRANGE) per handshake: in a reconnect storm that was ≈ 13 %
        // of the restarted process's CPU (BENCHMARKS.md, reconnect storm). One EXISTS settles the
        // common miss; a session that does exist is restored by the adapter as before (another
        // instance taking it in between makes the adapter's GETDEL miss: the client connects fresh).
        // A miss resolves to no session, as socket.io's in-memory adapter does, rather than throwing:
        // socket.io only logs the reason, and an Error's stack trace per handshake is not free.
        // A session this process kept (alone) is restored from its log, with no command at all.
        const restore = instance.restoreSession.bind(instance);
        const none = null as unknown as Session;
        instance.restoreSession = async (pid, offset) => {
          staysHere();
          const kept = log.restore(pid, offset);
          if (kept !== undefined) return kept ?? none;
          // Only a log could replay from its own offset, and this one has no such session.
          if (LocalRecovery.isLogOffset(offset)) return none;
          if ((await sessionChecks.exists(sessionKeyPrefix + pid)) === 0) return none;
          const restored = await restore(pid, offset);
          // Alone since it was persisted: what was sent here meanwhile is in the log, not in the stream.
          return staysHere() ? (log.appendEpoch(restored) ?? none) : restored;
        };
        const onRawMessage = instance.onRawMessage.bind(instance);
        instance.onRawMessage = (message, offset) => {
          latestOffset = offset;
          onRawMessage(message, offset);
        };
        return instance;
      } as typeof adapter;
      io.adapter(guarded);
    },
    async close() {
      await peers.stop();
      // Closing every namespace's adapter stops the stream reader: one whose client is simply
      // disconnected re-polls at once, forever (`io.close()` does this too, but a worker's
      // detached server is never closed that way).
      for (const instance of instances) await instance.close();
      for (const client of opened) client.disconnect();
    },
  };
}
