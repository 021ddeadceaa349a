import type { Logger } from '../observability/logger.js';
import type { TurnHandlers, TurnQueue } from '../infra/turn-queue.js';

/** How long an enqueue may take before the turn runs in-process instead (Redis is likely down). */
const ENQUEUE_TIMEOUT_MS = 2000;

/**
 * Hands accepted messages to the turn queue. When the durable queue cannot take one
 * (Redis down, or slower than ENQUEUE_TIMEOUT_MS), the turn runs on the in-process queue
 * instead: the message is stored already, so accepted is never lost. Without Redis both
 * queues are the same in-process queue.
 */
export class TurnDispatcher {
  constructor(
    private readonly queues: { durable: TurnQueue; local: TurnQueue },
    private readonly logger: Logger,
  ) {}

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
  async start(handlers: TurnHandlers, consumeDurable: boolean): Promise<void> {
    await this.queues.local.start(handlers);
    if (!this.single && consumeDurable) await this.queues.durable.start(handlers);
  }

  async dispatch(messageId: string): Promise<void> {
    if (this.single) return this.queues.local.enqueue(messageId);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.queues.durable.enqueue(messageId),
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
