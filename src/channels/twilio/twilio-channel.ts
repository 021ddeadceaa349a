import type { DeliveryStatus } from '../../store/schema.js';
import { signedText } from '../signed-text.js';
import type { FastifyReply } from 'fastify';
import twilio from 'twilio';
import { z } from 'zod';
import { DEFAULT_WORKSPACE_ID } from '../../config/workspace.js';
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
  /** The deployment's sender (the default workspace's): `+15550001111` for SMS, `whatsapp:+15550001111` for WhatsApp. */
  from: string;
  /** The deployment's auth token: checks the signature of a message for a number no workspace owns (before it is refused). */
  authToken: string;
  /** Origin (and optional path prefix) Twilio calls, e.g. https://switchboard.example.com — never the request's Host. */
  publicUrl: string;
  /** The REST client of a Twilio account (one per account, kept by the factory): a workspace sends with its own. */
  clientFor(accountSid: string, authToken: string): twilio.Twilio;
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
 *
 * Workspaces: a message belongs to the workspace its `To` number is bound to (never to
 * anything the sender wrote); its signature is checked with that workspace's auth token, and
 * its replies go out with that workspace's account, from its own number. A number no workspace
 * owns is answered 404 `unknown_number` and recorded (nothing stored, nothing sent).
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
        // The receiving number picks the auth token to check the signature with; nothing is
        // believed before that check passes (an unknown number is checked with the deployment's).
        const to = receivingNumber(params.To);
        const owner = to === undefined ? undefined : this.context.workspaces.boundTo(this.channel, to);
        const authToken = owner === undefined ? this.options.authToken : (await this.context.workspaceConfigs.configFor(owner)).config.TWILIO_AUTH_TOKEN?.reveal();
        const url = `${this.options.publicUrl.replace(/\/$/, '')}${request.url}`;
        if (!authToken || !twilio.validateRequest(authToken, signature, url, params)) {
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
        const routed = this.context.workspaces.route(this.channel, to);
        if (!routed.workspace) {
          await this.context.workspaces.refuse(this.channel, to, routed.refused);
          // Twilio shows the status and body in its debugger (error 11200); the person is sent nothing.
          const message = routed.refused === 'workspace_suspended' ? 'the workspace of this number is suspended' : 'no workspace takes messages for this number';
          return reply.status(404).send({ error: { code: routed.refused === 'workspace_suspended' ? 'workspace_suspended' : 'unknown_number', message } });
        }
        return this.onInbound(routed.workspace.id, parsed.data, reply);
      });
    });
  }

  private async onInbound(workspaceId: string, inbound: z.infer<typeof inboundSmsSchema>, reply: FastifyReply): Promise<FastifyReply> {
    const { intake, store, confirmations } = this.context;
    const records = store.channels;
    const address = inbound.From;
    // Opt-outs, limit notices and conversations are the workspace's: STOP to one business is not STOP to another.
    const contact = { workspaceId, channel: this.channel, address };
    const keyword = smsKeyword(inbound.Body);
    if (keyword === 'stop') {
      await records.setOptedOut(contact, true);
      // The carrier/Twilio confirms the opt-out itself; we only stop sending.
      return twiml(reply);
    }
    if (keyword === 'help') {
      const { config } = await this.context.workspaceConfigs.configFor(workspaceId);
      return twiml(reply, config.SMS_HELP_TEXT || undefined);
    }
    const optedOut = await records.isOptedOut(contact);
    // YES is also a carrier opt-in word: it resubscribes a stopped number, and otherwise answers a confirmation.
    if (keyword === 'start' && (optedOut || textDecision(inbound.Body) === undefined)) {
      if (optedOut) await records.setOptedOut(contact, false);
      return twiml(reply);
    }
    // A stopped number has said it wants nothing from us: nothing is stored or answered until START.
    if (optedOut) return twiml(reply);
    const identity = { workspaceId, channel: this.channel, externalUserId: address };
    if (await answerConfirmationByText(confirmations, store.conversations, identity, inbound.Body)) return twiml(reply);

    try {
      await intake.accept({ workspaceId, channel: this.channel, externalUserId: address, externalMessageId: inbound.MessageSid, text: inbound.Body });
      return twiml(reply);
    } catch (error) {
      // The notice goes back in the webhook's TwiML answer.
      return twiml(reply, await refusalNotice(error, contact, records, TWILIO_REFUSALS));
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
    if (await this.context.store.channels.isOptedOut({ workspaceId: conversation.workspaceId, channel: this.channel, address: to })) {
      await this.context.delivery.suppressed(identity, 'recipient opted out (STOP)');
      return 'suppressed';
    }
    const sender = await this.senderFor(conversation.workspaceId);
    if ('unavailable' in sender) return this.context.delivery.undeliverable(identity, sender.unavailable);
    if (this.channel === 'whatsapp' && !(await insideCustomerServiceWindow(this.context.store.conversations, conversation.id, new Date()))) {
      const { contentSid } = sender;
      if (!contentSid) return this.context.delivery.undeliverable(identity, OUTSIDE_WINDOW_REASON);
      return this.context.delivery.deliver({ ...identity, parts: [templateParameter(text)], send: (body) => this.send(sender, to, { contentSid, contentVariables: JSON.stringify({ 1: body }) }) });
    }
    const parts = this.channel === 'sms' ? splitSms(text) : splitWhatsApp(text);
    return this.context.delivery.deliver({ ...identity, parts, send: (body) => this.send(sender, to, { body }) });
  }

  /**
   * Who sends a workspace's replies: its Twilio account (its credentials, or the deployment's as
   * its credential mode says) and its own number, the one bound to it (the deployment's sender
   * for the default workspace). A workspace with several numbers on a channel sends from the
   * first (sorted); one with none, or without credentials, cannot be answered (recorded undeliverable).
   */
  private async senderFor(workspaceId: string): Promise<Sender | { unavailable: string }> {
    const { config } = await this.context.workspaceConfigs.configFor(workspaceId);
    const number = workspaceId === DEFAULT_WORKSPACE_ID ? undefined : this.context.workspaces.identitiesOf(workspaceId, this.channel)[0];
    const from = workspaceId === DEFAULT_WORKSPACE_ID ? this.options.from : number && (this.channel === 'whatsapp' ? `whatsapp:${number}` : number);
    if (!from) return { unavailable: `undeliverable: no ${this.channel} number is bound to the workspace` };
    const accountSid = config.TWILIO_ACCOUNT_SID;
    const authToken = config.TWILIO_AUTH_TOKEN?.reveal();
    if (!accountSid || !authToken) return { unavailable: 'undeliverable: the workspace has no Twilio credentials' };
    return { client: this.options.clientFor(accountSid, authToken), from, contentSid: config.TWILIO_WHATSAPP_CONTENT_SID };
  }

  private async send(sender: Sender, to: string, content: { body: string } | { contentSid: string; contentVariables: string }): Promise<string> {
    try {
      const message = await sender.client.messages.create({ to, from: sender.from, ...content });
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

/** A workspace's way out on this channel. */
interface Sender {
  client: twilio.Twilio;
  /** Our number, as Twilio's `From` (`whatsapp:` on WhatsApp). */
  from: string;
  /** WhatsApp: the approved template (Content SID, body variable {{1}}) sent outside the 24-hour window. */
  contentSid: string | undefined;
}

/** `To` as the workspaces' bindings hold it: the bare number (`whatsapp:` dropped), or undefined when absent. */
function receivingNumber(to: string | undefined): string | undefined {
  const bare = to?.trim().replace(/^whatsapp:/, '');
  return bare ? bare : undefined;
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
