/**
 * Stands in for whatsapp-web.js's `Client` (no browser, no WhatsApp session): it
 * emits the library's events (`qr`, `authenticated`, `ready`, `disconnected`,
 * `message`) with the library's payload shapes, and records `sendMessage` calls.
 */
import { EventEmitter } from 'node:events';
import type { WhatsAppWebClient, WhatsAppWebMessage } from '../../src/channels/whatsapp-web/whatsapp-web-channel.js';

export const OUR_WID = '15550009999@c.us';

export class FakeWhatsAppWebClient extends EventEmitter implements WhatsAppWebClient {
  readonly sent: { chatId: string; content: string; id: string }[] = [];
  initialized = false;
  destroyed = false;
  /** Fail the next N sendMessage calls, as a closed page does. */
  failSends = 0;
  #counter = 0;

  async initialize(): Promise<void> {
    this.initialized = true;
    // As the library does on a fresh session: a QR string to scan.
    setImmediate(() => this.emit('qr', `2@${Math.random().toString(36).slice(2)},fakeKey==,fakeIdentity==,fakeSecret==`));
  }

  /** What happens when the phone scans the QR code. */
  pair(): void {
    this.emit('authenticated');
    this.emit('ready');
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
  }

  async sendMessage(chatId: string, content: string): Promise<{ id: { _serialized: string } }> {
    if (this.failSends > 0) {
      this.failSends--;
      throw new Error('Protocol error (Runtime.callFunctionOn): Session closed.');
    }
    const id = `true_${chatId}_3EB0${(++this.#counter).toString(16).padStart(16, '0').toUpperCase()}`;
    this.sent.push({ chatId, content, id });
    return { id: { _serialized: id } };
  }

  /** Emits `message` with whatsapp-web.js's Message fields. */
  receive(overrides: Partial<WhatsAppWebMessage> & { from: string; body: string }): WhatsAppWebMessage {
    const key = `3EB0${Math.random().toString(16).slice(2, 18).toUpperCase()}`;
    const fromMe = overrides.fromMe ?? false;
    const message = {
      _data: {},
      mediaKey: undefined,
      id: { fromMe, remote: overrides.from, id: key, _serialized: `${fromMe}_${overrides.from}_${key}` },
      ack: 1,
      hasMedia: false,
      type: 'chat',
      timestamp: Math.floor(Date.now() / 1000),
      to: OUR_WID,
      author: undefined,
      deviceType: 'android',
      isForwarded: false,
      forwardingScore: 0,
      isStatus: false,
      isStarred: false,
      broadcast: false,
      fromMe,
      hasQuotedMsg: false,
      hasReaction: false,
      duration: undefined,
      location: undefined,
      vCards: [],
      inviteV2: undefined,
      mentionedIds: [],
      groupMentions: [],
      orderId: undefined,
      token: undefined,
      isGif: false,
      isEphemeral: false,
      links: [],
      ...overrides,
    } as WhatsAppWebMessage;
    this.emit('message', message);
    return message;
  }
}
