import type { MessagePipeline } from '../../turn/message-pipeline.js';
import type { FinishedReply, ReplyTarget, ReplyTransport } from '../../turn/reply-transport.js';
import { SwitchboardError } from '../../errors/index.js';
import type { Logger } from '../../observability/logger.js';
import type { ChannelRecords } from '../../store/channel-records.js';
import { DeliveryError } from '../delivery-retry.js';
import type { OutboundDelivery } from '../outbound-delivery.js';
import type { ConfirmationAnswerer } from '../confirmation-answerer.js';
import { answerConfirmationByText } from '../text-confirmation.js';
import { splitByWords } from '../twilio/sms-segments.js';

export const WHATSAPP_WEB_CHANNEL = 'whatsapp-web';
/** WhatsApp allows far longer messages; shorter parts read better on a phone. */
const PART_LIMIT = 4000;

/** The fields of whatsapp-web.js's `Message` (event `message`) the channel reads. */
export interface WhatsAppWebMessage {
  id: { _serialized: string; fromMe: boolean; remote: string; id: string };
  from: string;
  to: string;
  body: string;
  type: string;
  fromMe: boolean;
  isStatus: boolean;
  broadcast?: boolean;
  /** The sender inside a group chat. */
  author?: string;
  timestamp: number;
}

/** The part of whatsapp-web.js's `Client` the channel uses; a new one is made per (re)connection. */
export interface WhatsAppWebClient {
  on(event: 'qr', listener: (qr: string) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  on(event: 'authenticated', listener: () => void): unknown;
  on(event: 'auth_failure', listener: (message: string) => void): unknown;
  on(event: 'disconnected', listener: (reason: string) => void): unknown;
  on(event: 'message', listener: (message: WhatsAppWebMessage) => void): unknown;
  initialize(): Promise<void>;
  destroy(): Promise<void>;
  sendMessage(chatId: string, content: string): Promise<{ id: { _serialized: string } }>;
}

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
  pipeline: MessagePipeline;
  records: ChannelRecords;
  delivery: OutboundDelivery;
  logger: Logger;
  /** Called with each new QR string (the default prints it in the terminal). */
  onQr?: (qr: string) => void;
  /** Delay before reconnecting after a disconnect. */
  reconnectDelayMs?: number;
  /** When given, a YES / NO answers the conversation's pending sensitive-tool confirmation. */
  confirmations?: ConfirmationAnswerer;
}

/**
 * WhatsApp through whatsapp-web.js, for teams without a WhatsApp Business account:
 * a linked-device session in headless Chromium. One conversation per WhatsApp
 * chat id (`15551234567@c.us`); group chats, status updates, broadcasts, media
 * and our own messages are ignored. A disconnect starts a fresh client after a delay.
 */
export class WhatsAppWebChannel implements ReplyTransport {
  readonly channel = WHATSAPP_WEB_CHANNEL;
  #pairing: WhatsAppWebPairing = { state: 'stopped', qr: undefined, updatedAt: new Date() };
  #client: WhatsAppWebClient | undefined;
  #stopped = true;
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WhatsAppWebChannelOptions) {}

  get pairing(): WhatsAppWebPairing {
    return { ...this.#pairing };
  }

  /** Registers the transport and starts the session in the background (Chromium start-up is slow). */
  start(): void {
    this.options.pipeline.registerTransport(this);
    this.#stopped = false;
    this.connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    this.setState('stopped');
    const client = this.#client;
    this.#client = undefined;
    await client?.destroy().catch((error: unknown) => this.options.logger.warn({ err: error }, 'whatsapp-web client did not close cleanly'));
  }

  private connect(): void {
    const { logger } = this.options;
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
    if (await answerConfirmationByText(this.options.confirmations, this.options.records, identity, message.body)) return;
    try {
      await this.options.pipeline.accept({
        channel: WHATSAPP_WEB_CHANNEL,
        externalUserId: message.from,
        externalMessageId: message.id._serialized,
        text: message.body,
      });
    } catch (error) {
      if (!(error instanceof SwitchboardError)) throw error;
      let notice: string | undefined;
      if (error.code === 'rate_limited') {
        const retryAfterMs = error.retryAfterMs ?? 60_000;
        const first = await this.options.records.claimLimitNotice(WHATSAPP_WEB_CHANNEL, message.from, new Date(Date.now() + retryAfterMs));
        if (first) notice = `Too many messages. Please wait ${Math.max(1, Math.ceil(retryAfterMs / 60_000))} min before writing again.`;
      } else if (error.code === 'message_too_long') {
        notice = 'That message is too long. Please send a shorter one.';
      } else if (error.code !== 'empty_message') {
        throw error;
      }
      if (notice) await this.send(message.from, notice).catch(() => undefined);
    }
  }

  async done(target: ReplyTarget, reply: FinishedReply): Promise<void> {
    await this.deliver(target, 'reply', reply.text);
  }

  async failed(target: ReplyTarget, error: { code: string; message: string }): Promise<void> {
    await this.deliver(target, 'failure_notice', `Sorry, ${error.message}.`);
  }

  private async deliver(target: ReplyTarget, kind: 'reply' | 'failure_notice', text: string): Promise<void> {
    const { conversation, messageId } = target;
    await this.options.delivery.deliver({
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
