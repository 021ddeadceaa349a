import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import type { Logger } from '../observability/logger.js';

/** socket.io's Redis Streams adapter plus the Redis clients it opened, so shutdown can close them all. */
export interface SocketAdapter {
  /** Sets the adapter on the server (before any client connects). */
  install(io: Server): void;
  /**
   * The newest entry of the shared stream this instance knows of. A socket's own events skip the
   * stream; sending this with them still lets the client recover later (see the web channel's `session`).
   */
  latestOffset(): string | undefined;
  close(): void;
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
    // Replies stream as many small deltas: keep enough entries to replay a recovery window of them.
    maxLen: 100_000,
    blockTimeInMs: 5000,
  });
  let latestOffset: string | undefined;
  // The reader starts at the stream's end ('$'): learn where that end is once, then follow every entry read.
  publisher.once('ready', () => {
    publisher.xrevrange(streamName, '+', '-', 'COUNT', 1).then(
      ([newest]) => (latestOffset ??= newest?.[0]),
      (error: unknown) => logger.debug({ err: error }, 'socket.io stream end unknown'),
    );
  });
  return {
    latestOffset: () => latestOffset,
    install(io) {
      // A dropped socket's session is written with a SET the adapter does not await: while Redis is
      // away that write would reject unhandled, so it is skipped (the client then reconnects fresh).
      // A `function`, not an arrow: socket.io calls the adapter factory with `new`.
      const guarded = function (nsp: Parameters<typeof adapter>[0]) {
        const instance = adapter(nsp);
        const persist = instance.persistSession.bind(instance);
        instance.persistSession = (session) => {
          if (publisher.status === 'ready') persist(session);
        };
        // Every client that held a recovery offset tries to recover on reconnect. After a crash none
        // can (a killed process persisted no sessions), and the adapter's attempt costs five commands
        // in two writes (MULTI GET DEL EXEC, XRANGE) per handshake: in a reconnect storm that was ≈ 13 %
        // of the restarted process's CPU (BENCHMARKS.md, reconnect storm). One EXISTS settles the
        // common miss; a session that does exist is restored by the adapter as before (another
        // instance taking it in between makes the adapter's GETDEL miss: the client connects fresh).
        // A miss resolves to no session, as socket.io's in-memory adapter does, rather than throwing:
        // socket.io only logs the reason, and an Error's stack trace per handshake is not free.
        const restore = instance.restoreSession.bind(instance);
        instance.restoreSession = async (pid, offset) => {
          if ((await sessionChecks.exists(sessionKeyPrefix + pid)) === 0) return null as unknown as Awaited<ReturnType<typeof restore>>;
          return restore(pid, offset);
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
    close() {
      for (const client of opened) client.disconnect();
    },
  };
}
