import { io as connect, type Socket } from 'socket.io-client';
import { BENCH_REPLY } from './fake-provider-protocol.js';

interface FinishedReply {
  messageId: string;
  text: string;
  fallback: boolean;
  cached: boolean;
  toolCalls: unknown[];
}

type MessageAck = { ok: true; messageId: string } | { ok: false; error: { code: string; message: string } };

export interface Exchange {
  /** Client round trip: `message` emitted → `reply.done` received. */
  rttMs: number;
  deltas: number;
  /** The server answered from its reply cache (`reply.done` with `cached: true`). */
  cached: boolean;
}

/**
 * WebSocket frames carrying socket.io packets, over every client of this process: engine.io
 * `message` packets (one WebSocket frame each; pings and pongs are not counted). `in`: server →
 * client (acks, `reply.delta`, `reply.done`, `session`…); `out`: client → server.
 */
export const frameCounts = { in: 0, out: 0 };

interface Waiter {
  startedAt: number;
  resolve(exchange: Exchange): void;
  reject(error: Error): void;
}

/**
 * One web-chat visitor speaking the socket.io contract (websocket transport only):
 * `session` on connect; `message` with an ack; `reply.delta`s; `reply.done`.
 */
export class ChatClient {
  readonly #waiters = new Map<string, Waiter>();
  /** A `reply.done` can in principle beat the ack; it waits here for its message id. */
  readonly #earlyDone = new Map<string, { at: number; reply: FinishedReply }>();
  readonly #deltas = new Map<string, number>();

  private constructor(private readonly socket: Socket) {
    socket.on('reply.delta', (event: { messageId: string }) => {
      this.#deltas.set(event.messageId, (this.#deltas.get(event.messageId) ?? 0) + 1);
    });
    socket.on('reply.done', (reply: FinishedReply) => {
      const at = performance.now();
      if (this.#waiters.has(reply.messageId)) this.#finish(reply.messageId, at, reply);
      else this.#earlyDone.set(reply.messageId, { at, reply });
    });
    socket.on('reply.error', (event: { messageId: string; code: string; message: string }) => {
      this.#fail(event.messageId, new Error(`reply.error ${event.code}: ${event.message}`));
    });
    socket.on('disconnect', (reason) => {
      for (const messageId of [...this.#waiters.keys()]) this.#fail(messageId, new Error(`disconnected: ${reason}`));
    });
  }

  /** `workspaceKey`: the widget's public key (`auth.workspaceKey`), which routes the socket to its workspace; none: the default workspace. */
  static async connect(url: string, timeoutMs: number, workspaceKey?: string): Promise<ChatClient> {
    const socket = connect(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: timeoutMs,
      ...(workspaceKey !== undefined && { auth: { workspaceKey } }),
    });
    socket.io.on('open', () => {
      const engine = socket.io.engine;
      engine.on('packet', (packet: { type: string }) => {
        if (packet.type === 'message') frameCounts.in++;
      });
      engine.on('packetCreate', (packet: { type: string }) => {
        if (packet.type === 'message') frameCounts.out++;
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no session within ${timeoutMs} ms`)), timeoutMs);
        socket.once('session', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('connect_error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
    } catch (error) {
      socket.disconnect();
      throw error;
    }
    return new ChatClient(socket);
  }

  /** Sends one message and resolves when its reply is done; rejects on an error, a fallback or after `timeoutMs`. */
  send(text: string, clientMessageId: string, timeoutMs: number): Promise<Exchange> {
    return new Promise<Exchange>((resolve, reject) => {
      let messageId: string | undefined;
      const timer = setTimeout(() => {
        if (messageId !== undefined) this.#waiters.delete(messageId);
        reject(new Error(`no reply.done within ${timeoutMs} ms`));
      }, timeoutMs);
      const startedAt = performance.now();
      this.socket.emit('message', { text, clientMessageId }, (ack: MessageAck) => {
        if (!ack.ok) {
          clearTimeout(timer);
          reject(new Error(`message refused: ${ack.error.code}`));
          return;
        }
        messageId = ack.messageId;
        this.#waiters.set(messageId, {
          startedAt,
          resolve: (exchange) => {
            clearTimeout(timer);
            resolve(exchange);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        const early = this.#earlyDone.get(messageId);
        if (early) {
          this.#earlyDone.delete(messageId);
          this.#finish(messageId, early.at, early.reply);
        }
      });
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  close(): void {
    this.socket.disconnect();
  }

  #finish(messageId: string, at: number, reply: FinishedReply): void {
    const waiter = this.#waiters.get(messageId);
    if (!waiter) return;
    this.#waiters.delete(messageId);
    const deltas = this.#deltas.get(messageId) ?? 0;
    this.#deltas.delete(messageId);
    if (reply.fallback) waiter.reject(new Error('fallback reply: the provider call failed'));
    else if (reply.text !== BENCH_REPLY) waiter.reject(new Error('reply text differs from what the fake provider sent'));
    else waiter.resolve({ rttMs: at - waiter.startedAt, deltas, cached: reply.cached === true });
  }

  #fail(messageId: string, error: Error): void {
    const waiter = this.#waiters.get(messageId);
    if (!waiter) return;
    this.#waiters.delete(messageId);
    this.#deltas.delete(messageId);
    waiter.reject(error);
  }
}
