import { io as connect, type Socket } from 'socket.io-client';

type MessageAck = { ok: true; messageId: string } | { ok: false; error: { code: string; message: string } };

interface FinishedReply {
  messageId: string;
  author?: string;
  operatorName?: string;
}

/** A `reply.done` and when it arrived (`performance.now()`). */
export interface Arrival {
  at: number;
  author: string | undefined;
  operatorName: string | undefined;
}

interface Waiter {
  resolve(arrival: Arrival): void;
  reject(error: Error): void;
}

/**
 * A web visitor whose conversation an operator takes over: it learns its conversation id from
 * `session`, sends one message (a web conversation is stored with its first message, so until
 * then there is nothing to take over) and then records when each `reply.done` arrives, by
 * message id. Arrival times are taken in the event handler: an operator's reply is emitted
 * before the API answers, so it usually arrives before the caller knows its id.
 */
export class HandoffVisitor {
  readonly #arrived = new Map<string, Arrival>();
  readonly #waiters = new Map<string, Waiter>();

  private constructor(
    private readonly socket: Socket,
    readonly conversationId: string,
  ) {
    socket.on('reply.done', (reply: FinishedReply) => {
      const arrival = { at: performance.now(), author: reply.author, operatorName: reply.operatorName };
      const waiter = this.#waiters.get(reply.messageId);
      if (waiter) {
        this.#waiters.delete(reply.messageId);
        waiter.resolve(arrival);
      } else {
        this.#arrived.set(reply.messageId, arrival);
      }
    });
    socket.on('reply.error', (event: { messageId: string; code: string }) => {
      this.#waiters.get(event.messageId)?.reject(new Error(`reply.error ${event.code}`));
      this.#waiters.delete(event.messageId);
    });
    socket.on('disconnect', (reason) => {
      for (const waiter of this.#waiters.values()) waiter.reject(new Error(`disconnected: ${reason}`));
      this.#waiters.clear();
    });
  }

  static async connect(url: string, timeoutMs: number): Promise<HandoffVisitor> {
    const socket = connect(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: timeoutMs });
    try {
      const conversationId = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no session within ${timeoutMs} ms`)), timeoutMs);
        socket.once('session', (session: { conversationId: string }) => {
          clearTimeout(timer);
          resolve(session.conversationId);
        });
        socket.once('connect_error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
      return new HandoffVisitor(socket, conversationId);
    } catch (error) {
      socket.disconnect();
      throw error;
    }
  }

  /** Sends one message and waits for the agent's `reply.done` to it. */
  async ask(text: string, clientMessageId: string, timeoutMs: number): Promise<void> {
    const ack = await new Promise<MessageAck>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack within ${timeoutMs} ms`)), timeoutMs);
      this.socket.emit('message', { text, clientMessageId }, (answer: MessageAck) => {
        clearTimeout(timer);
        resolve(answer);
      });
    });
    if (!ack.ok) throw new Error(`message refused: ${ack.error.code}`);
    await this.arrivalOf(ack.messageId, timeoutMs);
  }

  /** The `reply.done` of `messageId` and when it arrived, waiting for it if it has not yet. */
  arrivalOf(messageId: string, timeoutMs: number): Promise<Arrival> {
    const arrived = this.#arrived.get(messageId);
    if (arrived !== undefined) {
      this.#arrived.delete(messageId);
      return Promise.resolve(arrived);
    }
    return new Promise<Arrival>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(messageId);
        reject(new Error(`no reply.done for ${messageId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(messageId, {
        resolve: (arrival) => {
          clearTimeout(timer);
          resolve(arrival);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  close(): void {
    this.socket.disconnect();
  }
}
