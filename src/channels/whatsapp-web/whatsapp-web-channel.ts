import type { DeliveryStatus } from '../../store/schema.js';
import { signedText } from '../signed-text.js';
import type { FinishedReply, ReplyTarget, ReplyTransport } from '../../turn/reply-transport.js';
import type { Channel, ChannelContext } from '../channel.js';
import type { WhatsAppWebClient, WhatsAppWebMessage } from './whatsapp-web-client.js';

export type { WhatsAppWebClient, WhatsAppWebMessage } from './whatsapp-web-client.js';
import { DeliveryError } from '../delivery-retry.js';
import { refusalNotice, SHORT_MESSAGE_REFUSALS, wordingByCode } from '../notices.js';
import { splitByWords } from '../split-by-words.js';
import { answerConfirmationByText } from '../text-confirmation.js';

export const WHATSAPP_WEB_CHANNEL = 'whatsapp-web';
/** WhatsApp allows far longer messages; shorter parts read better on a phone. */
const PART_LIMIT = 4000;

export type WhatsAppWebState = 'starting' | 'qr' | 'authenticated' | 'ready' | 'disconnected' | 'stopped';

/**
 * What the admin view shows for pairing: the state and, while a QR code is waiting
 * to be scanned, its raw string (render it with any QR library). Read it from
 * `app.channels.whatsappWeb.pairing`.
 */
export interface WhatsAppWebPairing {
  state: WhatsAppWebState;
  qr: string | undefined;
  updatedAt: Date;
}

export interface WhatsAppWebChannelOptions {
  createClient: () => WhatsAppWebClient;
  /** Called with each new QR string (the default prints it in the terminal). */
  onQr?: (qr: string) => void;
  /** Delay before reconnecting after a disconnect. */
  reconnectDelayMs?: number;
}

/** An empty message (a media caption without text) gets silence; the rest as on every short-message channel. */
const WHATSAPP_WEB_REFUSALS = wordingByCode({ ...SHORT_MESSAGE_REFUSALS, empty_message: null });

/**
 * WhatsApp through whatsapp-web.js, for teams without a WhatsApp Business account:
 * a linked-device session in headless Chromium. One conversation per WhatsApp
 * chat id (`15551234567@c.us`); group chats, status updates, broadcasts, media
 * and our own messages are ignored. A disconnect starts a fresh client after a delay.
 */
export class WhatsAppWebChannel implements ReplyTransport, Channel {
  readonly channel = WHATSAPP_WEB_CHANNEL;
  readonly name = WHATSAPP_WEB_CHANNEL;
  readonly transport: ReplyTransport = this;
  #context: ChannelContext | undefined;
  #pairing: WhatsAppWebPairing = { state: 'stopped', qr: undefined, updatedAt: new Date() };
  #client: WhatsAppWebClient | undefined;
  #stopped = true;
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WhatsAppWebChannelOptions) {}

  get pairing(): WhatsAppWebPairing {
    return { ...this.#pairing };
  }

  private get context(): ChannelContext {
    if (!this.#context) throw new Error('whatsapp-web channel not mounted');
    return this.#context;
  }

  /** Starts the session in the background (Chromium start-up is slow). */
  async mount(context: ChannelContext): Promise<void> {
    this.#context = context;
    this.#stopped = false;
    this.connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    this.setState('stopped');
    const client = this.#client;
    this.#client = undefined;
    await client?.destroy().catch((error: unknown) => this.context.logger.warn({ err: error }, 'whatsapp-web client did not close cleanly'));
  }

  private connect(): void {
    const { logger } = this.context;
    const client = this.options.createClient();
    this.#client = client;
    this.setState('starting');
    client.on('qr', (qr) => {
      this.setState('qr', qr);
      this.options.onQr?.(qr);
    });
    client.on('authenticated', () => this.setState('authenticated'));
    client.on('ready', () => {
      this.setState('ready');
      logger.info({ channel: WHATSAPP_WEB_CHANNEL }, 'whatsapp-web session ready');
    });
    client.on('auth_failure', (message) => logger.error({ channel: WHATSAPP_WEB_CHANNEL, reason: message }, 'whatsapp-web authentication failed'));
    client.on('disconnected', (reason) => {
      logger.warn({ channel: WHATSAPP_WEB_CHANNEL, reason }, 'whatsapp-web disconnected; reconnecting');
      this.setState('disconnected');
      this.scheduleReconnect(client);
    });
    client.on('message', (message) => {
      this.onMessage(message).catch((error: unknown) =>
        logger.error({ err: error, channel: WHATSAPP_WEB_CHANNEL }, 'whatsapp-web message not accepted'),
      );
    });
    client.initialize().catch((error: unknown) => {
      logger.error({ err: error, channel: WHATSAPP_WEB_CHANNEL }, 'whatsapp-web client failed to start; retrying');
      this.setState('disconnected');
      this.scheduleReconnect(client);
    });
  }

  private scheduleReconnect(client: WhatsAppWebClient): void {
    if (this.#stopped || this.#client !== client) return;
    this.#client = undefined;
    void client.destroy().catch(() => {});
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      if (!this.#stopped) this.connect();
    }, this.options.reconnectDelayMs ?? 5_000);
  }

  private setState(state: WhatsAppWebState, qr?: string): void {
    this.#pairing = { state, qr: state === 'qr' ? qr : undefined, updatedAt: new Date() };
  }

  /** Public so the adapter can be driven with whatsapp-web.js's message shape without a browser. */
  async onMessage(message: WhatsAppWebMessage): Promise<void> {
    if (message.fromMe || message.id.fromMe || message.isStatus || message.broadcast) return;
    if (!message.from.endsWith('@c.us') || message.type !== 'chat') return;
    const identity = { channel: WHATSAPP_WEB_CHANNEL, externalUserId: message.from };
    const { intake, store, confirmations } = this.context;
    if (await answerConfirmationByText(confirmations, store.conversations, identity, message.body)) return;
    try {
      await intake.accept({
        channel: WHATSAPP_WEB_CHANNEL,
        externalUserId: message.from,
        externalMessageId: message.id._serialized,
        text: message.body,
      });
    } catch (error) {
      const notice = await refusalNotice(error, { channel: WHATSAPP_WEB_CHANNEL, address: message.from }, store.channels, WHATSAPP_WEB_REFUSALS);
      if (notice) await this.send(message.from, notice).catch(() => undefined);
    }
  }

  async done(target: ReplyTarget, reply: FinishedReply): Promise<DeliveryStatus> {
    return this.deliver(target, 'reply', signedText(reply));
  }

  async failed(target: ReplyTarget, error: { code: string; message: string }): Promise<void> {
    await this.deliver(target, 'failure_notice', `Sorry, ${error.message}.`);
  }

  private async deliver(target: ReplyTarget, kind: 'reply' | 'failure_notice', text: string): Promise<DeliveryStatus> {
    const { conversation, messageId } = target;
    return this.context.delivery.deliver({
      conversationId: conversation.id,
      messageId,
      channel: WHATSAPP_WEB_CHANNEL,
      kind,
      parts: splitByWords(text, (chunk) => chunk.length <= PART_LIMIT),
      send: (part) => this.send(conversation.externalUserId, part),
    });
  }

  private async send(chatId: string, text: string): Promise<string> {
    const client = this.#client;
    // Not connected (yet): worth retrying, the reconnect may finish within the backoff.
    if (!client || this.#pairing.state !== 'ready') throw new DeliveryError({ message: 'whatsapp-web session is not ready', retryable: true });
    try {
      const sent = await client.sendMessage(chatId, text);
      return sent.id._serialized;
    } catch (error) {
      throw new DeliveryError({ message: 'whatsapp-web could not send the message', retryable: true, cause: error });
    }
  }
}
