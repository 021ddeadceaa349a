import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';

/** Which instances are alive: what the orphan sweep asks before taking their turns over. */
export interface InstanceLiveness {
  /** This process's instance id (new at every start). */
  readonly id: string;
  /**
   * The ids among `ids` whose heartbeat is current; undefined while it cannot tell yet (Redis
   * restarted less than a TTL ago, so live instances may not have beaten again). Throws when Redis
   * does not answer. Never guesses "dead".
   */
  alive(ids: string[]): Promise<Set<string> | undefined>;
}

export interface InstanceHeartbeatOptions {
  /** REDIS_PREFIX. */
  prefix: string;
  /** QUEUE_LOCK_MS: an instance silent this long is dead, as a BullMQ worker whose lock lapsed. */
  ttlMs: number;
}

/**
 * This process's liveness in Redis: one key per instance (`<prefix>:instance:<id>`, holding
 * host:pid for whoever reads it) with a TTL, written on a timer — never per turn. The messages
 * a process runs in-process carry its id (messages.turn_owner); once its key expires (a crash,
 * kill -9, a lost network), another instance takes those turns over. A restarted process has a
 * new id, so its predecessor's turns are found the same way.
 */
export class InstanceHeartbeat implements InstanceLiveness {
  readonly id = randomUUID();
  /** The key's value, for whoever reads it. */
  readonly #whoami = `${hostname()}:${process.pid}`;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly options: InstanceHeartbeatOptions,
    private readonly logger: Logger,
  ) {}

  private key(id: string): string {
    return `${this.options.prefix}:instance:${id}`;
  }

  /**
   * Writes the first beat (before this process takes a message, so nobody reads it as dead), then
   * every third of the TTL: two beats may be lost (a Redis blip, a busy event loop) before it lapses.
   */
  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => void this.beat(), Math.max(100, Math.floor(this.options.ttlMs / 3)));
    this.#timer.unref();
  }

  /** Stops beating and removes the key, so the turns a shutdown could not finish are taken over at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.redis.del(this.key(this.id)).catch((error: unknown) => this.logger.debug({ err: error }, 'instance heartbeat not removed'));
  }

  async alive(ids: string[]): Promise<Set<string> | undefined> {
    if (ids.length === 0) return new Set();
    // One round trip: the keys, and how long Redis has been up (a Redis restarted without its
    // data has lost every key, and each instance writes its own again only at its next beat).
    const replies = await this.redis.pipeline().mget(ids.map((id) => this.key(id))).info('server').exec();
    const [values, info] = (replies ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [(string | null)[], string];
    const uptimeS = Number(/^uptime_in_seconds:(\d+)/m.exec(info)?.[1] ?? Infinity);
    // Whole seconds, rounded down: one more for the fraction.
    if ((uptimeS - 1) * 1000 < this.options.ttlMs) return undefined;
    return new Set(ids.filter((_id, index) => values[index] !== null));
  }

  private async beat(): Promise<void> {
    try {
      await this.redis.set(this.key(this.id), this.#whoami, 'PX', this.options.ttlMs);
    } catch (error) {
      // The next beat tries again; until one lands, other instances may take this one's turns over.
      this.logger.warn({ err: error, instance: this.id }, 'instance heartbeat not written');
    }
  }
}
