import { ChatClient } from './chat-client.js';

/** A reply slower than this counts as an error (a person would have given up), but the visitor still waits for it. */
export const LATE_REPLY_MS = 10_000;
/**
 * The visitor gives up on a reply after this long. Until then it keeps waiting, so a
 * closed loop never has more than one message in flight per visitor, even when the
 * server is overloaded (resending on a short timeout would pile up work instead).
 */
export const MESSAGE_TIMEOUT_MS = 60_000;
export const CONNECT_TIMEOUT_MS = 20_000;

export interface SentMessage {
  text: string;
  startedAt: number;
  rttMs: number;
  /** `reply.delta` events received for it. */
  deltas: number;
  cached: boolean;
}

/**
 * A web visitor that asks one question after another on its own socket, starting a
 * new conversation (a fresh socket without a resume token) every `turnsPerConversation`
 * turns when that is not 0. Every message text is unique: it is how the fake
 * provider's timing is matched to the client's round trip. With a `workspaceKey` (the widget's
 * public key) every socket it opens belongs to that workspace; without one, to the default.
 */
export class Visitor {
  #client: ChatClient | undefined;
  #turns = 0;
  #sequence = 0;

  constructor(
    private readonly url: string,
    private readonly label: string,
    private readonly turnsPerConversation: number,
    private readonly workspaceKey?: string,
  ) {}

  async connect(): Promise<void> {
    this.#client?.close();
    this.#client = await ChatClient.connect(this.url, CONNECT_TIMEOUT_MS, this.workspaceKey);
    this.#turns = 0;
  }

  /** Sends the next question; connects first if needed. Throws on a refusal, an error reply, a fallback or a timeout. */
  async sendNext(): Promise<SentMessage> {
    const sequence = ++this.#sequence;
    return this.send(`${this.label} question ${sequence}: when are you open on Saturdays?`, `${this.label}-${sequence}`);
  }

  /** Sends this text (the caller keeps it unique, or means it to be answered from the reply cache). */
  async send(text: string, clientMessageId: string): Promise<SentMessage> {
    if (!this.#client || (this.turnsPerConversation > 0 && this.#turns >= this.turnsPerConversation)) await this.connect();
    this.#turns++;
    const startedAt = performance.now();
    const exchange = await this.#client!.send(text, clientMessageId, MESSAGE_TIMEOUT_MS);
    return { text, startedAt, rttMs: exchange.rttMs, deltas: exchange.deltas, cached: exchange.cached };
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}
