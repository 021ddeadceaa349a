import type { DeliveryStatus } from '../../store/schema.js';
import { signedText } from '../signed-text.js';
import type { FastifyReply } from 'fastify';
import twilio from 'twilio';
import { z } from 'zod';
import { SwitchboardError } from '../../errors/index.js';
import { storableString } from '../../store/storable-text.js';
import type { FinishedReply, ReplyTarget, ReplyTransport } from '../../turn/reply-transport.js';
import type { Channel, ChannelContext } from '../channel.js';
import { DeliveryError, isRetryableStatus } from '../delivery-retry.js';
import { refusalNotice, SHORT_MESSAGE_REFUSALS, wordingByCode } from '../notices.js';
import { answerConfirmationByText, textDecision } from '../text-confirmation.js';
import { keepRawBodies, parseForm } from '../raw-body.js';
import { smsKeyword } from './sms-keywords.js';
import { splitSms, splitWhatsApp } from './sms-segments.js';
import { insideCustomerServiceWindow, OUTSIDE_WINDOW_REASON, templateParameter } from '../customer-service-window.js';

export type TwilioChannelName = 'sms' | 'whatsapp';

export interface TwilioChannelOptions {
  channel: TwilioChannelName;
  /** Our sender: `+15550001111` for SMS, `whatsapp:+15550001111` for WhatsApp. */
  from: string;
  authToken: string;
  /** Origin (and optional path prefix) Twilio calls, e.g. https://switchboard.example.com — never the request's Host. */
  publicUrl: string;
  client: twilio.Twilio;
  helpText: string;
  /** WhatsApp: the approved template (Content SID, body variable {{1}}) sent outside the 24-hour window. */
  contentSid?: string | undefined;
}

/** An empty message gets a hint; the rest as on every short-message channel. */
const TWILIO_REFUSALS = wordingByCode({ ...SHORT_MESSAGE_REFUSALS, empty_message: 'Please send your question as text.' });

/** The fields of Twilio's inbound-message webhook the channel reads (form-encoded). */
const inboundSmsSchema = z.object({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/, 'MessageSid must be a Twilio message SID'),
  From: storableString({ min: 3, max: 64 }),
  To: storableString({ min: 3, max: 64 }),
  Body: storableString().default(''),
});

const EMPTY_TWIML = new twilio.twiml.MessagingResponse().toString();

/**
 * SMS and WhatsApp through Twilio (one instance per channel): the webhook checks
 * `X-Twilio-Signature` against the configured public URL, answers with empty TwiML
 * at once, and the reply is sent later through the REST API, split into parts that
 * each fit one SMS (or one WhatsApp message). STOP/START/HELP are handled here and
 * the opt-out is kept in `channel_contacts`, so a stopped number gets nothing more.
 */
export class TwilioChannel implements ReplyTransport, Channel {
  readonly channel: TwilioChannelName;
  readonly name: TwilioChannelName;
  readonly transport: ReplyTransport = this;
  readonly path: string;
  #context: ChannelContext | undefined;

  constructor(private readonly options: TwilioChannelOptions) {
    this.channel = options.channel;
    this.name = options.channel;
    this.path = `/twilio/${options.channel}`;
  }

  private get context(): ChannelContext {
    if (!this.#context) throw new Error(`${this.channel} channel not mounted`);
    return this.#context;
  }

  /** Routes close with the HTTP server. */
  async stop(): Promise<void> {}

  async mount(context: ChannelContext): Promise<void> {
    this.#context = context;
    await context.http.register(async (instance) => {
      keepRawBodies(instance);
      instance.post(this.path, async (request, reply) => {
        const signature = request.headers['x-twilio-signature'];
        if (typeof signature !== 'string' || signature === '') {
          throw new SwitchboardError('invalid_payload', 'X-Twilio-Signature is required');
        }
        const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const params = parseForm(rawBody);
        const url = `${this.options.publicUrl.replace(/\/$/, '')}${request.url}`;
        if (!twilio.validateRequest(this.options.authToken, signature, url, params)) {
          return reply.status(403).send({ error: { code: 'forbidden', message: 'X-Twilio-Signature does not match' } });
        }
        const parsed = inboundSmsSchema.safeParse(params);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new SwitchboardError('invalid_payload', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
        }
        if (this.channel === 'whatsapp' && !parsed.data.From.startsWith('whatsapp:')) {
          throw new SwitchboardError('invalid_payload', 'From must be a whatsapp: address on this route');
        }
        return this.onInbound(parsed.data, reply);
      });
    });
  }

  private async onInbound(inbound: z.infer<typeof inboundSmsSchema>, reply: FastifyReply): Promise<FastifyReply> {
    const { intake, store, confirmations } = this.context;
    const records = store.channels;
    const address = inbound.From;
    const keyword = smsKeyword(inbound.Body);
    if (keyword === 'stop') {
      await records.setOptedOut({ channel: this.channel, address }, true);
      // The carrier/Twilio confirms the opt-out itself; we only stop sending.
      return twiml(reply);
    }
    if (keyword === 'help') return twiml(reply, this.options.helpText || undefined);
    const optedOut = await records.isOptedOut({ channel: this.channel, address });
    // YES is also a carrier opt-in word: it resubscribes a stopped number, and otherwise answers a confirmation.
    if (keyword === 'start' && (optedOut || textDecision(inbound.Body) === undefined)) {
      if (optedOut) await records.setOptedOut({ channel: this.channel, address }, false);
      return twiml(reply);
    }
    // A stopped number has said it wants nothing from us: nothing is stored or answered until START.
    if (optedOut) return twiml(reply);
    const identity = { channel: this.channel, externalUserId: address };
    if (await answerConfirmationByText(confirmations, store.conversations, identity, inbound.Body)) return twiml(reply);

    try {
      await intake.accept({ channel: this.channel, externalUserId: address, externalMessageId: inbound.MessageSid, text: inbound.Body });
      return twiml(reply);
    } catch (error) {
      // The notice goes back in the webhook's TwiML answer.
      return twiml(reply, await refusalNotice(error, { channel: this.channel, address }, records, TWILIO_REFUSALS));
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
    const to = conversation.externalUserId;
    const identity = { conversationId: conversation.id, messageId, channel: this.channel, kind } as const;
    if (await this.context.store.channels.isOptedOut({ channel: this.channel, address: to })) {
      await this.context.delivery.suppressed(identity, 'recipient opted out (STOP)');
      return 'suppressed';
    }
    if (this.channel === 'whatsapp' && !(await insideCustomerServiceWindow(this.context.store.conversations, conversation.id, new Date()))) {
      const { contentSid } = this.options;
      if (!contentSid) return this.context.delivery.undeliverable(identity, OUTSIDE_WINDOW_REASON);
      return this.context.delivery.deliver({ ...identity, parts: [templateParameter(text)], send: (body) => this.send(to, { contentSid, contentVariables: JSON.stringify({ 1: body }) }) });
    }
    const parts = this.channel === 'sms' ? splitSms(text) : splitWhatsApp(text);
    return this.context.delivery.deliver({ ...identity, parts, send: (body) => this.send(to, { body }) });
  }

  private async send(to: string, content: { body: string } | { contentSid: string; contentVariables: string }): Promise<string> {
    try {
      const message = await this.options.client.messages.create({ to, from: this.options.from, ...content });
      return message.sid;
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      if (typeof status === 'number') {
        const code = (error as { code?: unknown }).code;
        return Promise.reject(
          new DeliveryError({
            message: `Twilio answered ${status}${typeof code === 'number' ? ` (error ${code})` : ''}`,
            status,
            retryable: isRetryableStatus(status),
            cause: error,
          }),
        );
      }
      throw new DeliveryError({ message: 'Twilio not reachable', retryable: true, cause: error });
    }
  }
}

function twiml(reply: FastifyReply, message?: string): FastifyReply {
  let body = EMPTY_TWIML;
  if (message) {
    const response = new twilio.twiml.MessagingResponse();
    response.message(message);
    body = response.toString();
  }
  return reply.status(200).type('text/xml').send(body);
}
