import { hostname } from 'node:os';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import { sleep, type TurnHandlers, type TurnQueue, type TurnQueueSettings } from './turn-queue.js';

const jobDataSchema = z.object({ messageId: z.uuid(), workspaceId: z.string().max(64).optional() });
type TurnJobData = z.infer<typeof jobDataSchema>;

export interface BullTurnQueueOptions extends TurnQueueSettings {
  redisUrl: string;
  /** Redis key prefix: instances with the same prefix share one queue. */
  prefix: string;
  concurrency: number;
  /** A worker that stops renewing its lock this long (it died) has its job taken over. */
  lockMs: number;
}

const QUEUE_NAME = 'turns';
/** BullMQ's lowest priority (2^21 - 1); priority 1 runs first. */
const MAX_PRIORITY = 2_097_151;
/** A workspace's backlog counter heals by itself this long after its last turn (a crash between count and start leaves it high). */
const BACKLOG_TTL_MS = 3_600_000;

/**
 * The durable queue: BullMQ on Redis. A job per user message (job id = message id,
 * so a duplicate delivery is one job); a crashed worker's job is picked up again once
 * its lock expires; retries back off exponentially; a job out of retries is handed
 * to `exhausted` so the person still gets the fallback reply.
 */
export class BullTurnQueue implements TurnQueue {
  readonly kind = 'bullmq' as const;
  /** Enqueueing fails fast while Redis is down, so the caller can run the turn in-process instead. */
  readonly #producer: Redis;
  /** Workers block on Redis and must never give up a command (BullMQ requires maxRetriesPerRequest: null). */
  readonly #workerConnection: Redis;
  readonly #queue: Queue<TurnJobData>;
  #worker: Worker<TurnJobData> | undefined;

  constructor(
    private readonly options: BullTurnQueueOptions,
    private readonly logger: Logger,
  ) {
    this.#producer = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
    this.#workerConnection = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    for (const connection of [this.#producer, this.#workerConnection]) {
      connection.on('error', (error) => logger.debug({ err: error }, 'turn queue redis error'));
    }
    this.#queue = new Queue<TurnJobData>(QUEUE_NAME, { connection: this.#producer, prefix: this.bullPrefix });
    this.#queue.on('error', (error) => logger.warn({ err: error }, 'turn queue error'));
  }

  private get bullPrefix(): string {
    return `${this.options.prefix}:bull`;
  }

  async start(handlers: TurnHandlers): Promise<void> {
    const worker = new Worker<TurnJobData>(
      QUEUE_NAME,
      async (job: Job<TurnJobData>) => {
        const parsed = jobDataSchema.safeParse(job.data);
        if (!parsed.success) throw new UnrecoverableError('job data is not { messageId: uuid }');
        // Started: no longer part of its workspace's backlog (counted once, on the first attempt).
        if (parsed.data.workspaceId !== undefined && job.attemptsMade === 0) {
          void this.#producer.decr(this.backlogKey(parsed.data.workspaceId)).catch(() => undefined);
        }
        await handlers.run(parsed.data.messageId);
      },
      {
        connection: this.#workerConnection,
        prefix: this.bullPrefix,
        concurrency: this.options.concurrency,
        // Stored on every job it runs (`job.processedBy`): which process of a scaled-out deployment ran a turn.
        name: `${hostname()}:${process.pid}`,
        lockDuration: this.options.lockMs,
        stalledInterval: Math.max(250, Math.floor(this.options.lockMs / 2)),
        maxStalledCount: 2,
      },
    );
    worker.on('error', (error) => this.logger.warn({ err: error }, 'turn worker error'));
    worker.on('failed', (job, error) => {
      if (!job) return;
      const spent = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      if (!spent) {
        this.logger.warn({ err: error, messageId: job.id, attempt: job.attemptsMade }, 'turn failed; retrying');
        return;
      }
      void handlers
        .exhausted(String(job.id), error)
        .catch((final: unknown) => this.logger.error({ err: final, messageId: job.id }, 'failed turn could not be closed'));
    });
    this.#worker = worker;
  }

  private backlogKey(workspaceId: string): string {
    return `${this.options.prefix}:turn-backlog:${workspaceId}`;
  }

  /**
   * Fairness between workspaces without a queue per workspace: a job's priority is its
   * workspace's backlog here, counted as it is added (one MULTI with the count's expiry), so a
   * workspace's 500th waiting turn comes after another workspace's first. BullMQ takes the
   * lowest priority first and keeps the order within one priority, which gives round-robin
   * between workspaces by backlog depth. Without a workspace the job goes first (recovered turns).
   */
  private async priorityOf(workspaceId: string | undefined): Promise<number | undefined> {
    if (workspaceId === undefined) return undefined;
    const key = this.backlogKey(workspaceId);
    const replies = await this.#producer.multi().incr(key).pexpire(key, BACKLOG_TTL_MS).exec();
    const depth = Number(replies?.[0]?.[1] ?? 1);
    return Math.min(MAX_PRIORITY, Math.max(1, depth));
  }

  async enqueue(messageId: string, workspaceId?: string): Promise<void> {
    const priority = await this.priorityOf(workspaceId);
    await this.#queue.add(
      'turn',
      { messageId, ...(workspaceId !== undefined && { workspaceId }) },
      {
        jobId: messageId,
        ...(priority !== undefined && { priority }),
        attempts: this.options.attempts,
        backoff: { type: 'exponential', delay: this.options.backoffMs },
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { age: 7 * 86_400 },
      },
    );
  }

  async requeue(messageId: string): Promise<void> {
    // A finished job keeps its id for a while; it must go before the id can be queued again.
    const state = await this.#queue.getJobState(messageId);
    if (state === 'completed' || state === 'failed') await this.#queue.remove(messageId);
    await this.enqueue(messageId);
  }

  async depth(): Promise<number> {
    const counts = await this.#queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  }

  async drain(timeoutMs: number): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    // close() stops fetching and waits for active jobs; past the timeout, force it.
    const closing = worker.close();
    const finished = await Promise.race([closing.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!finished) await Promise.race([worker.close(true).catch(() => {}), sleep(2000)]);
  }

  async close(): Promise<void> {
    // With Redis gone, BullMQ's close can wait on a connection that never comes back: bound it.
    const bounded = (work: Promise<unknown>) => Promise.race([work.catch(() => {}), sleep(2000)]);
    if (this.#worker) await bounded(this.#worker.close(true));
    await bounded(this.#queue.close());
    this.#producer.disconnect();
    this.#workerConnection.disconnect();
  }
}
