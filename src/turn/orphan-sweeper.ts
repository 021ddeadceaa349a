import type { InstanceLiveness } from '../infra/instance-heartbeat.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import type { TurnDispatcher } from './dispatcher.js';

export interface OrphanSweeperDeps {
  store: Store;
  dispatcher: TurnDispatcher;
  liveness: InstanceLiveness;
  logger: Logger;
  /** How often to look (QUEUE_LOCK_MS / 2, as BullMQ checks for stalled jobs). */
  intervalMs: number;
}

/**
 * Finds turns that ran in a process that is gone (messages.turn_owner names an instance whose
 * heartbeat expired) and re-queues them on BullMQ (job id = message id), for any worker to run.
 * Per instance, on a timer: one statement (the owners of open turns) and, only when another
 * instance owns one, one MGET. Taking a message over is one conditional statement, so of
 * several sweepers each message goes to one, and BullMQ's job id dedupes the rest.
 */
export class OrphanSweeper {
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<unknown> | undefined;

  constructor(private readonly deps: OrphanSweeperDeps) {}

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // A slow sweep (a database under load) is not overlapped by the next one.
      this.#sweeping ??= this.sweep()
        .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'orphaned turn sweep failed'))
        .finally(() => (this.#sweeping = undefined));
    }, this.deps.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping;
  }

  /** Re-queues the open turns of dead instances; returns how many. */
  async sweep(): Promise<number> {
    const { store, liveness, dispatcher, logger } = this.deps;
    const others = (await store.unfinished.listTurnOwners()).filter((owner) => owner !== liveness.id);
    if (others.length === 0) return 0;
    const alive = await liveness.alive(others);
    if (!alive) return 0; // Redis restarted a moment ago: the next sweep can tell
    const dead = others.filter((owner) => !alive.has(owner));
    if (dead.length === 0) return 0;
    const orphans = await store.unfinished.claimOrphans(dead, liveness.id);
    for (const messageId of orphans) await dispatcher.requeue(messageId);
    if (orphans.length > 0) logger.warn({ count: orphans.length, instances: dead }, 'took over the turns of instances that stopped');
    return orphans.length;
  }
}
