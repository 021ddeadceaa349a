import { setMaxListeners } from 'node:events';
import { SwitchboardError } from '../errors/index.js';

/**
 * The work this process has in hand (turns, confirmed tool runs, deliveries after an
 * acknowledgement) and the one shutdown signal they all listen on. `drain` stops intake,
 * waits for them, and aborts what is still running after the timeout.
 */
export class InFlight {
  readonly #work = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #accepting = true;

  constructor() {
    // Every turn in flight listens on the one shutdown signal (and removes its listener when done).
    setMaxListeners(10_000, this.#abort.signal);
  }

  /** Fires when a shutdown outlasts its timeout: tools and model calls in flight stop. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  get count(): number {
    return this.#work.size;
  }

  track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => {},
      () => {},
    );
    this.#work.add(settled);
    void settled.finally(() => this.#work.delete(settled));
    return work;
  }

  /** Stops accepting; `beforeWaiting` (the queues' own drain) runs under the same abort timer. */
  async drain(timeoutMs: number, beforeWaiting: () => Promise<void> = async () => {}): Promise<void> {
    this.#accepting = false;
    const timer = setTimeout(() => this.#abort.abort(new SwitchboardError('shutting_down', 'shutdown timeout')), timeoutMs);
    try {
      await beforeWaiting();
      await Promise.allSettled([...this.#work]);
    } finally {
      clearTimeout(timer);
    }
  }
}
