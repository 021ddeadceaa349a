/**
 * Streams reply text to a transport in fewer, larger pieces: the first delta goes out at
 * once (time to first text is what a person notices), later ones are joined and sent at
 * most once per `windowMs`. Every piece is a socket.io frame and, when several instances
 * share the Redis adapter, a stream entry every instance reads: a provider's token-sized
 * deltas would otherwise cost one of each per token.
 */
export class DeltaCoalescer {
  #pending = '';
  #timer: NodeJS.Timeout | undefined;
  #lastSentAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly send: (text: string) => void,
    private readonly windowMs: number,
  ) {}

  push(delta: string): void {
    if (delta.length === 0) return;
    this.#pending += delta;
    if (this.#timer) return;
    const wait = this.#lastSentAt + this.windowMs - performance.now();
    if (wait <= 0) this.flush();
    else this.#timer = setTimeout(() => this.flush(), wait);
  }

  /** Sends what is pending now: the stream ended, so nothing is held back. */
  flush(): void {
    this.#clearTimer();
    if (this.#pending.length === 0) return;
    const text = this.#pending;
    this.#pending = '';
    this.#lastSentAt = performance.now();
    this.send(text);
  }

  /** Forgets what is pending: the partial reply it belongs to is being discarded. */
  drop(): void {
    this.#clearTimer();
    this.#pending = '';
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
