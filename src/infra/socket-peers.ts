import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';

/**
 * While other instances are known, they are counted again this often (one killed without a
 * goodbye leaves the channel when its connection drops); and a count of none that is not the
 * first one, nor follows a goodbye, is believed only once it is still none this much later.
 */
const RECOUNT_MS = 5000;

export interface SocketPeersOptions {
  /** RECOUNT_MS unless set (tests set it short). */
  recountMs?: number;
}
/** Start-up waits at most this long for Redis; until it answers, others are assumed to run. */
const JOIN_TIMEOUT_MS = 2000;

/** Why the others are counted: only a count of none at start-up or after a goodbye is believed at once. */
type CountReason = 'start' | 'goodbye' | 'check';

/**
 * Which other socket.io servers of this deployment (same stream, any role) run, known without a
 * Redis command per question. Every instance subscribes to one pub/sub channel and says `hello` on
 * it: the PUBLISH's answer (how many subscribers got it, this one included) counts the others, and
 * the others, subscribed, hear of the newcomer at once. A hello or goodbye from another instance
 * has the count taken again (PUBSUB NUMSUB), and so, every RECOUNT_MS, does knowing of any other
 * instance; a lone instance sends nothing after its hello.
 *
 * Of any two instances, the one that subscribed first hears the other's hello and the other counts
 * it, so neither misses the other. A count asked before a hello or goodbye that arrives meanwhile
 * is dropped and asked again. An instance whose subscription dropped (Redis restarted, a network
 * blip) is missing from a count until it is back and says hello again, so a count of none is only
 * believed at start-up, after a goodbye, or when a second count RECOUNT_MS later agrees: until
 * then, `alone` stays false (broadcasts keep taking the stream).
 */
export class SocketPeers {
  readonly #id = randomBytes(8).toString('hex');
  readonly #subscriber: Redis;
  #others: number | undefined;
  /** Whether a count of none is believed: no other instance runs. */
  #alone = false;
  /** When a count of none that is not yet believed was first seen. */
  #noneSince: number | undefined;
  /** Bumped by every hello or goodbye heard and by losing the subscription: a count taken before is stale. */
  #changes = 0;
  #joined = false;
  #counting = false;
  #countAgain: CountReason | undefined;
  #recount: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #recountMs: number;

  constructor(
    redisUrl: string,
    /** For PUBLISH and PUBSUB NUMSUB: the adapter's fail-fast publishing client. */
    private readonly publisher: Redis,
    private readonly channel: string,
    private readonly logger: Logger,
    options: SocketPeersOptions = {},
  ) {
    this.#recountMs = options.recountMs ?? RECOUNT_MS;
    // Waits for Redis (and re-subscribes) like the adapter's stream reader; every new connection says hello again.
    this.#subscriber = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    this.#subscriber.on('error', (error) => logger.debug({ err: error }, 'socket.io peers redis error'));
    this.#subscriber.on('message', (_channel: string, message: string) => this.heard(message));
    this.#subscriber.on('close', () => this.forget());
  }

  /** True only when sure that no other socket.io server of the deployment runs. */
  get alone(): boolean {
    return this.#alone;
  }

  /** Other socket.io servers running, as last counted; undefined while not known. */
  get others(): number | undefined {
    return this.#others;
  }

  /**
   * Subscribes and says hello; resolves once the others are counted, or at once when Redis cannot be
   * reached, or after JOIN_TIMEOUT_MS: still unknown then (assumed to run), and counted on connecting.
   */
  async start(): Promise<void> {
    const joined = new Promise<void>((resolve) => {
      this.#subscriber.on('ready', () => void this.join().finally(resolve));
      this.#subscriber.once('error', () => resolve());
    });
    this.#subscriber.connect().catch((error: unknown) => this.logger.debug({ err: error }, 'socket.io peers: redis not reachable at start'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([joined, new Promise<void>((resolve) => (timer = setTimeout(resolve, JOIN_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  /** Leaves the channel, then says goodbye: the others count again without this one. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#recount);
    this.#others = undefined;
    this.#alone = false;
    try {
      if (this.#subscriber.status === 'ready') await this.#subscriber.unsubscribe(this.channel);
      await this.publisher.publish(this.channel, `bye ${this.#id}`);
    } catch (error) {
      this.logger.debug({ err: error }, 'socket.io peers: goodbye not said');
    }
    this.#subscriber.disconnect();
  }

  private async join(): Promise<void> {
    try {
      await this.#subscriber.subscribe(this.channel);
      // The publishing client fails fast instead of queueing: wait until it is connected.
      if (this.publisher.status !== 'ready') await new Promise((resolve) => this.publisher.once('ready', resolve));
      const seen = this.#changes;
      const receivers = await this.publisher.publish(this.channel, `hello ${this.#id}`);
      // After a lost subscription, the others may be reconnecting too: their hellos will come.
      this.counted(receivers - 1, seen, this.#joined ? 'check' : 'start');
      this.#joined = true;
    } catch (error) {
      this.logger.debug({ err: error }, 'socket.io peers: hello not said');
    }
  }

  private heard(message: string): void {
    const [kind, id] = message.split(' ');
    if (id === this.#id || this.#stopped) return;
    this.#changes++;
    if (kind === 'hello') {
      // A hello proves another instance at once; the exact count follows.
      this.#others = Math.max(this.#others ?? 0, 1);
      this.#alone = false;
      this.#noneSince = undefined;
    }
    this.count(kind === 'bye' ? 'goodbye' : 'check');
  }

  /** The subscription is lost: hellos may be missed until it is back (then this instance says hello again). */
  private forget(): void {
    this.#changes++;
    this.#others = undefined;
    this.#alone = false;
    this.#noneSince = undefined;
  }

  private count(reason: CountReason): void {
    if (this.#stopped) return;
    if (this.#counting) {
      // A goodbye's count is the one to keep: it may believe none at once.
      if (this.#countAgain !== 'goodbye') this.#countAgain = reason;
      return;
    }
    this.#counting = true;
    const seen = this.#changes;
    this.publisher
      .pubsub('NUMSUB', this.channel)
      .then(
        (reply) => this.counted(Number((reply as [string, number])[1]) - 1, seen, reason),
        (error: unknown) => this.logger.debug({ err: error }, 'socket.io peers: not counted'),
      )
      .finally(() => {
        this.#counting = false;
        const again = this.#countAgain;
        this.#countAgain = undefined;
        if (again) this.count(again);
      });
  }

  /** A count taken when `seen` changes had been heard: kept only if nothing changed since, and this instance is still subscribed (it counts itself). */
  private counted(others: number, seen: number, reason: CountReason): void {
    if (this.#stopped) return;
    if (seen !== this.#changes || this.#subscriber.status !== 'ready') {
      if (this.#subscriber.status === 'ready') this.count(reason);
      return;
    }
    this.#others = Math.max(0, others);
    clearTimeout(this.#recount);
    this.#recount = undefined;
    if (this.#others > 0) {
      this.#alone = false;
      this.#noneSince = undefined;
    } else if (reason !== 'check' || (this.#noneSince !== undefined && Date.now() - this.#noneSince >= this.#recountMs)) {
      this.#alone = true;
    } else {
      this.#noneSince ??= Date.now();
    }
    if (!this.#alone) this.#recount = setTimeout(() => this.count('check'), this.#recountMs).unref();
  }
}
