import type { ModelChain } from '../agent/model-chain.js';
import type { MessagePipeline } from './message-pipeline.js';
import type { Logger } from '../observability/logger.js';
import type { LedgerStore } from '../store/ledger-store.js';

/**
 * Answers fallback-answered messages once a provider recovers: every
 * FOLLOW_UP_INTERVAL_MS, while some provider's breaker lets calls through. Oldest
 * first; a pass stops at the first message no provider can answer yet.
 */
export class FollowUpRunner {
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly deps: {
      pipeline: MessagePipeline;
      ledger: LedgerStore;
      chain: ModelChain;
      logger: Logger;
      intervalMs: number;
      batchSize?: number;
    },
  ) {}

  start(): void {
    this.#timer = setInterval(() => void this.runPass(), this.deps.intervalMs);
    this.#timer.unref();
  }

  /** One pass over pending follow-ups; concurrent calls share the pass in progress. */
  runPass(): Promise<void> {
    if (this.#stopped || this.deps.chain.isEmpty) return Promise.resolve();
    this.#pass ??= this.pass()
      .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'follow-up pass failed'))
      .finally(() => {
        this.#pass = undefined;
      });
    return this.#pass;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#pass;
  }

  private async pass(): Promise<void> {
    if (!this.deps.chain.anyAvailable) return;
    const pending = await this.deps.ledger.listPendingFollowUps(this.deps.batchSize ?? 20);
    for (const message of pending) {
      if (this.#stopped) return;
      const result = await this.deps.pipeline.answerFollowUp(message);
      if (result === 'unavailable') return;
    }
  }
}
