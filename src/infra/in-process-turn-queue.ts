import type { Logger } from '../observability/logger.js';
import { sleep, type TurnHandlers, type TurnQueue, type TurnQueueSettings } from './turn-queue.js';

/**
 * Turns run in this process, with the same retries as the durable queue. Nothing
 * survives a crash here: the PostgreSQL ledger does (with Redis, the message names this
 * instance and another takes it over once its heartbeat stops; without, at start-up).
 */
export class InProcessTurnQueue implements TurnQueue {
  readonly kind = 'in-process' as const;
  readonly #running = new Map<string, Promise<void>>();
  #handlers: TurnHandlers | undefined;

  constructor(
    private readonly settings: TurnQueueSettings,
    private readonly logger: Logger,
  ) {}

  async start(handlers: TurnHandlers): Promise<void> {
    this.#handlers = handlers;
  }

  async enqueue(messageId: string): Promise<void> {
    if (this.#running.has(messageId)) return;
    const handlers = this.#handlers;
    if (!handlers) throw new Error('turn queue not started');
    // After the current I/O callbacks (not a 1 ms timer), so a channel's acknowledgement
    // reaches the client before any reply event.
    const job = new Promise((resolve) => setImmediate(resolve)).then(() => this.runWithRetries(messageId, handlers));
    this.#running.set(messageId, job);
    void job.finally(() => this.#running.delete(messageId));
  }

  /** The run of a turn placed here, until it settles (retries included). */
  job(messageId: string): Promise<void> | undefined {
    return this.#running.get(messageId);
  }

  /** Turns placed here and not finished (those waiting for a retry included). */
  get size(): number {
    return this.#running.size;
  }

  requeue(messageId: string): Promise<void> {
    return this.enqueue(messageId);
  }

  async depth(): Promise<number> {
    return this.size;
  }

  async drain(timeoutMs: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.#running.values()]), sleep(timeoutMs)]);
  }

  async close(): Promise<void> {}

  private async runWithRetries(messageId: string, handlers: TurnHandlers): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await handlers.run(messageId);
        return;
      } catch (error) {
        if (attempt >= this.settings.attempts) {
          await handlers.exhausted(messageId, error).catch((final: unknown) => this.logger.error({ err: final, messageId }, 'failed turn could not be closed'));
          return;
        }
        this.logger.warn({ err: error, messageId, attempt }, 'turn failed; retrying');
        await sleep(this.settings.backoffMs * 2 ** (attempt - 1));
      }
    }
  }
}
