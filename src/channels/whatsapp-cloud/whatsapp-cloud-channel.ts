import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SwitchboardError } from '../../errors/index.js';
import type { DeliveryStatus } from '../../store/schema.js';
import type { ConfirmationRequest, FinishedReply, ReplyTarget, ReplyTransport } from '../../turn/reply-transport.js';
import type { Channel, ChannelContext } from '../channel.js';
import { insideCustomerServiceWindow, OUTSIDE_WINDOW_REASON, templateParameter } from '../customer-service-window.js';
import { refusalNotice, SHORT_MESSAGE_REFUSALS, wordingByCode } from '../notices.js';
import { keepRawBodies } from '../raw-body.js';
import { signedText } from '../signed-text.js';
import { splitByWords } from '../split-by-words.js';
import { answerConfirmationByText } from '../text-confirmation.js';
import type { GraphApiClient } from './graph-api-client.js';
import {
  CONFIRM_PREFIX,
  DECLINE_PREFIX,
  cloudMessageSchema,
  cloudStatusSchema,
  messageValues,
  webhookSchema,
  type CloudMessage,
  type CloudStatus,
} from './whatsapp-cloud-payloads.js';

export const WHATSAPP_CLOUD_CHANNEL = 'whatsapp-cloud';
/** The Cloud API's limit for one text message body. */
export const WHATSAPP_CLOUD_TEXT_LIMIT = 4096;
/** An interactive message's body. */
const INTERACTIVE_BODY_LIMIT = 1024;
const ONLY_TEXT = 'Sorry, I can only read text messages for now. Please type your question.';
const REFUSALS = wordingByCode({ ...SHORT_MESSAGE_REFUSALS, empty_message: 'Please send your question as text.' });

export interface WhatsAppCloudOptions {
  client: GraphApiClient;
  phoneNumberId: string;
  /** META_APP_SECRET: one, or the old and the new while rotating. */
  appSecrets: readonly string[];
  verifyToken: string;
  /** The approved template sent outside the 24-hour window (WHATSAPP_TEMPLATE_*); none: not sent, recorded undeliverable. */
  template?: { name: string; language: string } | undefined;
  /** Lower-case whole-message keywords (WHATSAPP_OPT_OUT_KEYWORDS / _OPT_IN_). */
  optOut: readonly string[];
  optIn: readonly string[];
  now?: () => Date;
}

/**
 * WhatsApp through Meta's Cloud API. `GET /whatsapp/webhook` answers the verification
 * handshake; `POST /whatsapp/webhook` checks `X-Hub-Signature-256` over the raw body in
 * constant time, reads every message and status of the delivery, and answers 200 at once (turns
 * run from the queue; a redelivered message id is not answered twice: the intake dedupes on it).
 * Replies go through the Graph API inside WhatsApp's 24-hour window, as the configured template
 * outside it, or not at all (recorded undeliverable).
 */
export class WhatsAppCloudChannel implements ReplyTransport, Channel {
  readonly name = WHATSAPP_CLOUD_CHANNEL;
  readonly channel = WHATSAPP_CLOUD_CHANNEL;
  readonly transport: ReplyTransport = this;
  #context: ChannelContext | undefined;

  constructor(private readonly options: WhatsAppCloudOptions) {}

  private get context(): ChannelContext {
    if (!this.#context) throw new Error('whatsapp-cloud channel not mounted');
    return this.#context;
  }

  async stop(): Promise<void> {}

  async mount(context: ChannelContext): Promise<void> {
    this.#context = context;
    await context.http.register(async (instance) => {
      keepRawBodies(instance);
      instance.get('/whatsapp/webhook', async (request, reply) => this.onHandshake(request, reply));
      instance.post('/whatsapp/webhook', { bodyLimit: 1_048_576 }, async (request, reply) => this.onWebhook(request, reply));
    });
  }

  /** Meta's subscription check: echo `hub.challenge` when the verify token is ours. */
  private onHandshake(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const query = request.query as Record<string, unknown>;
    const challenge = query['hub.challenge'];
    if (query['hub.mode'] !== 'subscribe' || !equalSecrets(query['hub.verify_token'], this.options.verifyToken) || typeof challenge !== 'string' || challenge.length > 200) {
      return reply.status(403).send({ error: { code: 'forbidden', message: 'verification failed: wrong hub.mode or hub.verify_token' } });
    }
    return reply.status(200).type('text/plain').send(challenge);
  }

  private async onWebhook(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const raw = Buffer.isBuffer(request.body) ? request.body : undefined;
    if (!raw) throw new SwitchboardError('invalid_payload', 'expected a JSON body (content-type: application/json)');
    const header = request.headers['x-hub-signature-256'];
    if (typeof header !== 'string' || header === '') {
      return reply.status(401).send({ error: { code: 'signature_missing', message: 'X-Hub-Signature-256 is required' } });
    }
    if (!this.options.appSecrets.some((secret) => signatureMatches(raw, header, secret))) {
      return reply.status(403).send({ error: { code: 'signature_invalid', message: 'X-Hub-Signature-256 does not match the body' } });
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new SwitchboardError('invalid_payload', 'the body is not valid JSON');
    }
    const parsed = webhookSchema.safeParse(json);
    if (!parsed.success) throw new SwitchboardError('invalid_payload', `not a WhatsApp Business Account webhook: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    for (const value of messageValues(parsed.data)) {
      if (value.metadata.phone_number_id !== this.options.phoneNumberId) {
        this.context.logger.warn({ phoneNumberId: value.metadata.phone_number_id }, 'whatsapp-cloud: a delivery for another phone number id is ignored');
        continue;
      }
      for (const candidate of value.messages ?? []) {
        const message = cloudMessageSchema.safeParse(candidate);
        if (message.success) await this.onMessage(message.data);
        else this.context.logger.warn({ issue: message.error.issues[0]?.message }, 'whatsapp-cloud: an unreadable message is skipped');
      }
      for (const candidate of value.statuses ?? []) {
        const status = cloudStatusSchema.safeParse(candidate);
        if (status.success) await this.onStatus(status.data);
      }
    }
    return reply.status(200).send({ received: true });
  }

  private async onMessage(message: CloudMessage): Promise<void> {
    const { intake, store, confirmations, logger } = this.context;
    const address = message.from;
    const identity = { channel: this.channel, externalUserId: address };
    // Blue ticks once per message: a redelivery is not marked again.
    const markRead = () => void this.options.client.markRead(message.id).catch((error: unknown) => logger.warn({ err: error }, 'whatsapp-cloud: not marked as read'));

    const buttonId = message.interactive?.button_reply?.id;
    if (buttonId && (buttonId.startsWith(CONFIRM_PREFIX) || buttonId.startsWith(DECLINE_PREFIX))) {
      const conversation = await store.conversations.findConversation(identity);
      if (!conversation) return;
      markRead();
      const decision = buttonId.startsWith(CONFIRM_PREFIX) ? 'confirm' : 'decline';
      const confirmationId = buttonId.slice(decision === 'confirm' ? CONFIRM_PREFIX.length : DECLINE_PREFIX.length);
      await confirmations.answer(conversation.id, confirmationId, decision).catch((error: unknown) => {
        if (!(error instanceof SwitchboardError && error.code === 'not_found')) throw error;
      });
      return;
    }
    const text = textOf(message);
    if (text === undefined) {
      // Media, locations, contacts…: said plainly (once per message, however often Meta redelivers it), never silence or a crash.
      if (await store.channels.claimInbound(this.channel, message.id)) {
        markRead();
        await this.notice(identity, ONLY_TEXT);
      }
      return;
    }
    const word = text.trim().toLowerCase().replace(/[.!]+$/, '');
    if (this.options.optOut.includes(word)) {
      await store.channels.setOptedOut({ channel: this.channel, address }, true);
      return;
    }
    const optedOut = await store.channels.isOptedOut({ channel: this.channel, address });
    if (this.options.optIn.includes(word)) {
      if (optedOut) await store.channels.setOptedOut({ channel: this.channel, address }, false);
      return;
    }
    // Opted out: nothing is stored or answered until they opt in again.
    if (optedOut) return;
    if (await answerConfirmationByText(confirmations, store.conversations, identity, text)) {
      markRead();
      return;
    }
    try {
      const accepted = await intake.accept({ channel: this.channel, externalUserId: address, externalMessageId: message.id, text });
      if (!accepted.duplicate) markRead();
    } catch (error) {
      const refusal = await refusalNotice(error, { channel: this.channel, address }, store.channels, REFUSALS);
      if (refusal) await this.notice(identity, refusal);
    }
  }

  /** sent → delivered → read, or failed with Meta's error: kept on the delivery record. */
  private async onStatus(status: CloudStatus): Promise<void> {
    if (status.status !== 'sent' && status.status !== 'delivered' && status.status !== 'read' && status.status !== 'failed') return;
    const failure = status.errors?.[0];
    const applied = await this.context.store.channels.updateProviderStatus({
      channel: this.channel,
      providerId: status.id,
      status: status.status,
      at: new Date(Number(status.timestamp) * 1000),
      error: failure ? `${failure.code}: ${failure.title ?? failure.message ?? 'failed'}`.slice(0, 500) : null,
    });
    // An older status, or one that arrived before its delivery was recorded (the row is written once every part is sent).
    if (!applied) this.context.logger.debug({ status: status.status }, 'whatsapp-cloud: status matched no delivery to move forward');
  }

  async done(target: ReplyTarget, reply: FinishedReply): Promise<DeliveryStatus> {
    return this.deliver(target, 'reply', signedText(reply));
  }

  async failed(target: ReplyTarget, error: { code: string; message: string }): Promise<void> {
    await this.deliver(target, 'failure_notice', `Sorry, ${error.message}.`);
  }

  /** A held sensitive call as Confirm / Decline reply buttons (their ids carry the confirmation id). */
  async requestConfirmation(target: ReplyTarget, request: ConfirmationRequest): Promise<void> {
    const body = `Please confirm: ${request.summary}`.slice(0, INTERACTIVE_BODY_LIMIT);
    const buttons = [
      { id: `${CONFIRM_PREFIX}${request.confirmationId}`, title: 'Confirm' },
      { id: `${DECLINE_PREFIX}${request.confirmationId}`, title: 'Decline' },
    ];
    const to = target.conversation.externalUserId;
    await this.deliverParts(target, 'reply', [body], (part) => this.options.client.sendButtons(to, part, buttons));
  }

  private async deliver(target: ReplyTarget, kind: 'reply' | 'failure_notice', text: string): Promise<DeliveryStatus> {
    const to = target.conversation.externalUserId;
    return this.deliverParts(target, kind, splitByWords(text, (chunk) => chunk.length <= WHATSAPP_CLOUD_TEXT_LIMIT), (part) => this.options.client.sendText(to, part));
  }

  /** Opt-outs and the 24-hour window first; then the parts, with the channels' retry policy and record. */
  private async deliverParts(
    target: ReplyTarget,
    kind: 'reply' | 'failure_notice',
    parts: string[],
    send: (part: string) => Promise<string>,
  ): Promise<DeliveryStatus> {
    const { conversation, messageId } = target;
    const to = conversation.externalUserId;
    const identity = { conversationId: conversation.id, messageId, channel: this.channel, kind } as const;
    const { delivery, store } = this.context;
    if (await store.channels.isOptedOut({ channel: this.channel, address: to })) {
      await delivery.suppressed(identity, 'recipient opted out');
      return 'suppressed';
    }
    if (!(await insideCustomerServiceWindow(store.conversations, conversation.id, this.now()))) {
      const { template } = this.options;
      if (!template) return delivery.undeliverable(identity, OUTSIDE_WINDOW_REASON);
      const text = parts.join(' ');
      return delivery.deliver({ ...identity, parts: [templateParameter(text)], send: (part) => this.options.client.sendTemplate(to, template, part) });
    }
    return delivery.deliver({ ...identity, parts, send });
  }

  /** A notice outside any turn (media we cannot read, a refusal): sent and recorded, inside the window the person just opened. */
  private async notice(identity: { channel: string; externalUserId: string }, text: string): Promise<void> {
    const conversation = await this.context.store.conversations.findOrCreateConversation(identity);
    await this.context.delivery.deliver({
      conversationId: conversation.id,
      messageId: null,
      channel: this.channel,
      kind: 'failure_notice',
      parts: [text],
      send: (part) => this.options.client.sendText(identity.externalUserId, part),
    });
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }
}

/** What a message says, for the types we read as text; undefined for media and the rest. */
function textOf(message: CloudMessage): string | undefined {
  if (message.type === 'text') return message.text?.body;
  // A template's quick-reply button, or an interactive reply that is not a confirmation: its title is the answer.
  if (message.type === 'button') return message.button?.text;
  if (message.type === 'interactive') return message.interactive?.button_reply?.title ?? message.interactive?.list_reply?.title;
  return undefined;
}

/** `sha256=<hex HMAC-SHA256 of the raw body with the app secret>`, compared in constant time. */
function signatureMatches(raw: Buffer, header: string, secret: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function equalSecrets(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
