import type { InProcessTurnQueue } from '../infra/in-process-turn-queue.js';
import type { Logger } from '../observability/logger.js';
import type { TurnHandlers, TurnQueue } from '../infra/turn-queue.js';

/** How long an enqueue may take before the turn runs in-process instead (Redis is likely down). */
const ENQUEUE_TIMEOUT_MS = 2000;

/** What the runner is handed: a turn, and the instance that owns it (null when BullMQ does). */
export interface TurnWork {
  run(messageId: string, turnOwner: string | null): Promise<void>;
  exhausted: TurnHandlers['exhausted'];
}

/** Local-first placement, for a process that both accepts and runs turns, with Redis. */
export interface TurnPlacement {
  /** This instance's id (InstanceHeartbeat): stored on the messages it accepts and the turns it runs. */
  owner: string;
  /** QUEUE_CONCURRENCY: turns this process runs at once before new ones overflow to the durable queue. */
  concurrency: number;
}

/**
 * Hands accepted messages to a turn queue. With a placement (a process that runs turns, with
 * Redis), a turn runs in this process while it runs fewer than `concurrency` turns, and goes
 * to the durable queue (BullMQ) beyond: no queue hop for the common case, and the message row
 * names this instance, so its heartbeat stopping is enough for another to take the turn over
 * (turn/orphan-sweeper.ts). Without one (the web role) every turn goes to the durable queue.
 * When the durable queue cannot take one (Redis down, or slower than ENQUEUE_TIMEOUT_MS), the
 * turn runs on the in-process queue instead: the message is stored already, so accepted is
 * never lost. Without Redis both queues are the same in-process queue.
 */
export class TurnDispatcher {
  /** Turns the durable queue's worker runs in this process right now. */
  #durableRunning = 0;
  /** Turns running in this process per workspace (only workspaces with one running are kept). */
  readonly #localByWorkspace = new Map<string, number>();

  constructor(
    private readonly queues: { durable: TurnQueue; local: InProcessTurnQueue },
    private readonly logger: Logger,
    private readonly placement?: TurnPlacement,
    /** Whether several workspaces share this deployment: only then are turns placed fairly between them. */
    private readonly shared: () => boolean = () => false,
  ) {}

  /** The instance id to store on a message this process accepts (it runs the turn if it can); null when it never does. */
  get owner(): string | null {
    return this.placement?.owner ?? null;
  }

  get kind(): TurnQueue['kind'] {
    return this.queues.durable.kind;
  }

  get queue(): TurnQueue {
    return this.queues.durable;
  }

  private get single(): boolean {
    return this.queues.durable === this.queues.local;
  }

  /**
   * Starts consuming. The local queue always runs (it takes over when the durable one
   * fails); the durable one only where this process consumes turns.
   */
  async start(work: TurnWork, consumeDurable: boolean): Promise<void> {
    const { exhausted } = work;
    await this.queues.local.start({ run: (messageId) => work.run(messageId, this.owner), exhausted });
    if (this.single || !consumeDurable) return;
    await this.queues.durable.start({
      run: async (messageId) => {
        this.#durableRunning++;
        try {
          await work.run(messageId, null);
        } finally {
          this.#durableRunning--;
        }
      },
      exhausted,
    });
  }

  async dispatch(messageId: string, workspaceId?: string): Promise<void> {
    if (this.single) return this.queues.local.enqueue(messageId);
    const fairFor = this.shared() ? workspaceId : undefined;
    if (this.placement && this.queues.local.size + this.#durableRunning < this.placement.concurrency && this.withinShare(fairFor)) {
      return this.runHere(messageId, fairFor);
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.queues.durable.enqueue(messageId, fairFor),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`enqueue took over ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
        }),
      ]);
    } catch (error) {
      // The message is stored; run it here rather than make the person wait for Redis.
      this.logger.warn({ err: error, messageId }, 'turn queue unavailable; running the turn in-process');
      await this.queues.local.enqueue(messageId);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Fairness between workspaces (when several share the deployment): a workspace takes at most
   * an equal share of this process's slots among the workspaces running turns here (a lone one
   * may take them all); its turns beyond that go to the durable queue, where they wait behind any
   * quieter workspace's (BullTurnQueue priorities), while the others' keep running here. One busy
   * workspace never makes another's people wait behind its backlog. (Reserving a share for a
   * workspace not yet running sent 3-6 % of turns through BullMQ with 100 workspaces and free
   * slots: BENCHMARKS.md "Workspaces: 1 vs 100".)
   */
  private withinShare(workspaceId: string | undefined): boolean {
    if (workspaceId === undefined || !this.placement) return true;
    const running = this.#localByWorkspace.get(workspaceId) ?? 0;
    const others = this.#localByWorkspace.size - (running > 0 ? 1 : 0);
    return running < Math.max(1, Math.ceil(this.placement.concurrency / (others + 1)));
  }

  private async runHere(messageId: string, workspaceId: string | undefined): Promise<void> {
    await this.queues.local.enqueue(messageId);
    const job = workspaceId === undefined ? undefined : this.queues.local.job(messageId);
    if (!job || workspaceId === undefined) return;
    const counts = this.#localByWorkspace;
    counts.set(workspaceId, (counts.get(workspaceId) ?? 0) + 1);
    void job.finally(() => {
      const left = (counts.get(workspaceId) ?? 1) - 1;
      if (left > 0) counts.set(workspaceId, left);
      else counts.delete(workspaceId);
    });
  }

  /** Re-queues a message the ledger found stuck; in-process when the durable queue refuses. */
  async requeue(messageId: string): Promise<void> {
    await this.queues.durable.requeue(messageId).catch((error: unknown) => {
      this.logger.warn({ err: error, messageId }, 'queue unavailable; recovering in-process');
      return this.queues.local.requeue(messageId);
    });
  }

  /** The worker stops taking jobs; jobs not started stay queued for the next instance. */
  async drain(timeoutMs: number): Promise<void> {
    await this.queues.durable.drain(timeoutMs);
    if (!this.single) await this.queues.local.drain(timeoutMs);
  }

  async close(): Promise<void> {
    await this.queues.durable.close();
  }
}
