/** What a queue calls back into: run one turn, or end one whose retries are spent. */
export interface TurnHandlers {
  /** Runs the turn of a stored user message. Throws on a transient failure (the queue retries). */
  run(messageId: string): Promise<void>;
  /** Every attempt failed: the message must still end with a reply (the fallback) and a failed status. */
  exhausted(messageId: string, error: unknown): Promise<void>;
}

export interface TurnQueueSettings {
  /** Runs per message at most, the first included. */
  attempts: number;
  /** Delay before the first retry; doubles each time. */
  backoffMs: number;
}

/**
 * Where accepted messages wait for their turn: BullMQ (durable: survives a crash) or
 * in-process (the ledger is what survives; see turn/dispatcher.ts for which runs when).
 * Both call the same handlers, so the message ledger moves through the same statuses either way.
 */
export interface TurnQueue {
  readonly kind: 'bullmq' | 'in-process';
  start(handlers: TurnHandlers): Promise<void>;
  /**
   * One job per message id: enqueueing the same id twice runs it once. `workspaceId` asks for a
   * fair place among workspaces (a durable queue puts it ahead of a busier workspace's backlog).
   */
  enqueue(messageId: string, workspaceId?: string): Promise<void>;
  /** Re-queues a message the ledger found stuck, even if an old job of it is finished. */
  requeue(messageId: string): Promise<void>;
  /** Jobs waiting or running, for metrics. */
  depth(): Promise<number>;
  /** Stops taking jobs and waits up to `timeoutMs` for those running here. */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
