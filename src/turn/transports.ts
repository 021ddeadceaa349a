import type { ReplyTransport } from './reply-transport.js';

/**
 * The one map from channel name to its ReplyTransport. Channels' transports are registered
 * here by the composition root when they mount; everything that must reach a person (turns,
 * confirmations, follow-ups, and later operators and payment notices) looks them up here.
 */
export class TransportRegistry {
  readonly #byChannel = new Map<string, ReplyTransport>();

  register(transport: ReplyTransport): void {
    this.#byChannel.set(transport.channel, transport);
  }

  get(channel: string): ReplyTransport | undefined {
    return this.#byChannel.get(channel);
  }
}
