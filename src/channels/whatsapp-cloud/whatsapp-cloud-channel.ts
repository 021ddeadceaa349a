import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_WORKSPACE_ID } from '../../config/workspace.js';
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
import type { RouteResult } from '../../workspaces/workspace-directory.js';
import type { GraphApiClient } from './graph-api-client.js';
import {
  claimedPhoneNumberIds,
  CONFIRM_PREFIX,
  DECLINE_PREFIX,
  cloudMessageSchema,
  cloudStatusSchema,
  messageValues,
  webhookSchema,
  type CloudMessage,
  type CloudStatus,
} from './whatsapp-cloud-payloads.js';
import { rotatingSecrets } from '../../config/secret.js';

export const WHATSAPP_CLOUD_CHANNEL = 'whatsapp-cloud';
/** The Cloud API's limit for one text message body. */
export const WHATSAPP_CLOUD_TEXT_LIMIT = 4096;
/** An interactive message's body. */
const INTERACTIVE_BODY_LIMIT = 1024;
const ONLY_TEXT = 'Sorry, I can only read text messages for now. Please type your question.';
const REFUSALS = wordingByCode({ ...SHORT_MESSAGE_REFUSALS, empty_message: 'Please send your question as text.' });

export interface WhatsAppCloudOptions {
  /** WHATSAPP_PHONE_NUMBER_ID: the deployment's number, the default workspace's. */
  phoneNumberId: string;
  /** The deployment's META_APP_SECRET: one, or the old and the new while rotating. */
  appSecrets: readonly string[];
  verifyToken: string;
  /** The Graph API client of a phone number id with an access token (kept by the factory, one per pair). */
  clientFor(phoneNumberId: string, accessToken: string): GraphApiClient;
  now?: () => Date;
}

/** A workspace's way out: the Graph API client of one of its phone number ids, and its settings for sending. */
interface Sender {
  client: GraphApiClient;
  /** The approved template sent outside the 24-hour window (WHATSAPP_TEMPLATE_*); none: not sent, recorded undeliverable. */
  template: { name: string; language: string } | undefined;
}

/**
 * WhatsApp through Meta's Cloud API. `GET /whatsapp/webhook` answers the verification
 * handshake; `POST /whatsapp/webhook` checks `X-Hub-Signature-256` over the raw body in
 * constant time, reads every message and status of the delivery, and answers 200 at once (turns
 * run from the queue; a redelivered message id is not answered twice: the intake dedupes on it).
 * Replies go through the Graph API inside WhatsApp's 24-hour window, as the configured template
 * outside it, or not at all (recorded undeliverable).
 *
 * Workspaces: each change of a delivery belongs to the workspace its `metadata.phone_number_id`
 * is bound to (the environment's WHATSAPP_PHONE_NUMBER_ID is the default workspace's); a phone
 * number id no workspace owns is refused and recorded. Replies go out from the workspace's own
 * phone number id with its own access token.
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
    const signature = new SignatureCheck(raw, header);
    let json: unknown;
    let isJson = true;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      isJson = false;
    }
    // Meta signs a whole delivery with the app secret of the app it belongs to, and the phone
    // number ids that say whose app that is are inside it. So the phone number ids are read first,
    // unverified, only to choose which secrets to try: the deployment's, and those of the
    // workspaces the delivery names. Nothing else is read before one of them matches, and each
    // change is then taken only when a secret of its own workspace signed the delivery (below):
    // a workspace's app secret can never vouch for a message to another workspace's number.
    const secrets = new Map<string, readonly string[]>();
    for (const phoneNumberId of claimedPhoneNumberIds(json)) {
      const owner = this.context.workspaces.boundTo(this.channel, phoneNumberId);
      if (owner !== undefined && !secrets.has(owner)) secrets.set(owner, await this.appSecretsOf(owner));
    }
    if (![this.options.appSecrets, ...secrets.values()].some((candidates) => candidates.some((secret) => signature.signedWith(secret)))) {
      return reply.status(403).send({ error: { code: 'signature_invalid', message: 'X-Hub-Signature-256 does not match the body' } });
    }
    if (!isJson) throw new SwitchboardError('invalid_payload', 'the body is not valid JSON');
    const parsed = webhookSchema.safeParse(json);
    if (!parsed.success) throw new SwitchboardError('invalid_payload', `not a WhatsApp Business Account webhook: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const refused = new Set<string>();
    for (const value of messageValues(parsed.data)) {
      const phoneNumberId = value.metadata.phone_number_id;
      const owner = this.context.workspaces.boundTo(this.channel, phoneNumberId);
      // Only a phone number id some workspace owns (or the environment configures) is answered:
      // the reply must go out from that number, so "the default workspace takes everything" does not apply here.
      const routed: RouteResult = owner === undefined ? { refused: 'unknown_identity' } : this.context.workspaces.route(this.channel, phoneNumberId);
      if (!routed.workspace) {
        // Meta wants a 200 for the whole delivery (anything else is redelivered for days): the
        // change is acknowledged with the rest, recorded as refused, and nothing is stored or answered.
        if (!refused.has(phoneNumberId)) await this.context.workspaces.refuse(this.channel, phoneNumberId, routed.refused);
        refused.add(phoneNumberId);
        continue;
      }
      const workspaceId = routed.workspace.id;
      if (!secrets.has(workspaceId)) secrets.set(workspaceId, await this.appSecretsOf(workspaceId));
      if (!secrets.get(workspaceId)!.some((secret) => signature.signedWith(secret))) {
        this.context.logger.warn({ workspace: workspaceId }, "whatsapp-cloud: a change not signed with its workspace's app secret is ignored");
        continue;
      }
      for (const candidate of value.messages ?? []) {
        const message = cloudMessageSchema.safeParse(candidate);
        if (message.success) await this.onMessage(workspaceId, phoneNumberId, message.data);
        else this.context.logger.warn({ issue: message.error.issues[0]?.message }, 'whatsapp-cloud: an unreadable message is skipped');
      }
      for (const candidate of value.statuses ?? []) {
        const status = cloudStatusSchema.safeParse(candidate);
        if (status.success) await this.onStatus(workspaceId, status.data);
      }
    }
    return reply.status(200).send({ received: true });
  }

  /** META_APP_SECRET of a workspace (its own, or the deployment's as its credential mode says): one, or two while rotating. */
  private async appSecretsOf(workspaceId: string): Promise<readonly string[]> {
    const { config } = await this.context.workspaceConfigs.configFor(workspaceId);
    return rotatingSecrets(config.META_APP_SECRET);
  }

  private async onMessage(workspaceId: string, phoneNumberId: string, message: CloudMessage): Promise<void> {
    const { intake, store, confirmations, logger } = this.context;
    const { config } = await this.context.workspaceConfigs.configFor(workspaceId);
    const address = message.from;
    const identity = { workspaceId, channel: this.channel, externalUserId: address };
    const contact = { workspaceId, channel: this.channel, address };
    // Read receipts and notices outside a turn go out from the number the person wrote to.
    const accessToken = config.WHATSAPP_ACCESS_TOKEN?.reveal();
    const client = accessToken ? this.options.clientFor(phoneNumberId, accessToken) : undefined;
    // Blue ticks once per message: a redelivery is not marked again.
    const markRead = () => void client?.markRead(message.id).catch((error: unknown) => logger.warn({ err: error }, 'whatsapp-cloud: not marked as read'));
    const notice = (text: string) => this.notice(identity, text, client);

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
        await notice(ONLY_TEXT);
      }
      return;
    }
    const word = text.trim().toLowerCase().replace(/[.!]+$/, '');
    // Opt-outs are the workspace's: "stop" to one business is not "stop" to another.
    if (config.WHATSAPP_OPT_OUT_KEYWORDS.includes(word)) {
      await store.channels.setOptedOut(contact, true);
      return;
    }
    const optedOut = await store.channels.isOptedOut(contact);
    if (config.WHATSAPP_OPT_IN_KEYWORDS.includes(word)) {
      if (optedOut) await store.channels.setOptedOut(contact, false);
      return;
    }
    // Opted out: nothing is stored or answered until they opt in again.
    if (optedOut) return;
    if (await answerConfirmationByText(confirmations, store.conversations, identity, text)) {
      markRead();
      return;
    }
    try {
      const accepted = await intake.accept({ workspaceId, channel: this.channel, externalUserId: address, externalMessageId: message.id, text });
      if (!accepted.duplicate) markRead();
    } catch (error) {
      const refusal = await refusalNotice(error, contact, store.channels, REFUSALS);
      if (refusal) await notice(refusal);
    }
  }

  /** sent → delivered → read, or failed with Meta's error: kept on the delivery record. */
  private async onStatus(workspaceId: string, status: CloudStatus): Promise<void> {
    if (status.status !== 'sent' && status.status !== 'delivered' && status.status !== 'read' && status.status !== 'failed') return;
    const failure = status.errors?.[0];
    const applied = await this.context.store.channels.updateProviderStatus({
      workspaceId,
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
    await this.deliverParts(target, 'reply', [body], (sender, part) => sender.client.sendButtons(to, part, buttons));
  }

  private async deliver(target: ReplyTarget, kind: 'reply' | 'failure_notice', text: string): Promise<DeliveryStatus> {
    const to = target.conversation.externalUserId;
    const parts = splitByWords(text, (chunk) => chunk.length <= WHATSAPP_CLOUD_TEXT_LIMIT);
    return this.deliverParts(target, kind, parts, (sender, part) => sender.client.sendText(to, part));
  }

  /** Opt-outs and the 24-hour window first; then the parts, with the channels' retry policy and record. */
  private async deliverParts(
    target: ReplyTarget,
    kind: 'reply' | 'failure_notice',
    parts: string[],
    send: (sender: Sender, part: string) => Promise<string>,
  ): Promise<DeliveryStatus> {
    const { conversation, messageId } = target;
    const to = conversation.externalUserId;
    const identity = { conversationId: conversation.id, messageId, channel: this.channel, kind } as const;
    const { delivery, store } = this.context;
    if (await store.channels.isOptedOut({ workspaceId: conversation.workspaceId, channel: this.channel, address: to })) {
      await delivery.suppressed(identity, 'recipient opted out');
      return 'suppressed';
    }
    const sender = await this.senderFor(conversation.workspaceId);
    if ('unavailable' in sender) return delivery.undeliverable(identity, sender.unavailable);
    if (!(await insideCustomerServiceWindow(store.conversations, conversation.id, this.now()))) {
      const { template } = sender;
      if (!template) return delivery.undeliverable(identity, OUTSIDE_WINDOW_REASON);
      const text = parts.join(' ');
      return delivery.deliver({ ...identity, parts: [templateParameter(text)], send: (part) => sender.client.sendTemplate(to, template, part) });
    }
    return delivery.deliver({ ...identity, parts, send: (part) => send(sender, part) });
  }

  /**
   * Who sends a workspace's replies: its own phone number id (the deployment's for the default
   * workspace; the first bound, sorted, for a workspace with several) with its access token.
   * Without either, a reply cannot go out (recorded undeliverable).
   */
  private async senderFor(workspaceId: string): Promise<Sender | { unavailable: string }> {
    const { config } = await this.context.workspaceConfigs.configFor(workspaceId);
    const phoneNumberId = workspaceId === DEFAULT_WORKSPACE_ID ? this.options.phoneNumberId : this.context.workspaces.identitiesOf(workspaceId, this.channel)[0];
    if (!phoneNumberId) return { unavailable: 'undeliverable: no WhatsApp phone number id is bound to the workspace' };
    const accessToken = config.WHATSAPP_ACCESS_TOKEN?.reveal();
    if (!accessToken) return { unavailable: 'undeliverable: the workspace has no WhatsApp access token' };
    return {
      client: this.options.clientFor(phoneNumberId, accessToken),
      template: config.WHATSAPP_TEMPLATE_NAME ? { name: config.WHATSAPP_TEMPLATE_NAME, language: config.WHATSAPP_TEMPLATE_LANGUAGE } : undefined,
    };
  }

  /**
   * A notice outside any turn (media we cannot read, a refusal): sent and recorded, inside the
   * window the person just opened, from the number they wrote to (not sent without a token).
   */
  private async notice(identity: { workspaceId: string; channel: string; externalUserId: string }, text: string, client: GraphApiClient | undefined): Promise<void> {
    const conversation = await this.context.store.conversations.findOrCreateConversation(identity);
    const outbound = { conversationId: conversation.id, messageId: null, channel: this.channel, kind: 'failure_notice' } as const;
    if (!client) {
      await this.context.delivery.undeliverable(outbound, 'undeliverable: the workspace has no WhatsApp access token');
      return;
    }
    await this.context.delivery.deliver({ ...outbound, parts: [text], send: (part) => client.sendText(identity.externalUserId, part) });
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

/**
 * `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`, compared
 * in constant time; each secret is tried at most once per delivery.
 */
class SignatureCheck {
  readonly #given: Buffer;
  readonly #tried = new Map<string, boolean>();

  constructor(
    private readonly raw: Buffer,
    header: string,
  ) {
    this.#given = Buffer.from(header.trim());
  }

  signedWith(secret: string): boolean {
    let matches = this.#tried.get(secret);
    if (matches === undefined) {
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(this.raw).digest('hex')}`);
      matches = this.#given.length === expected.length && timingSafeEqual(this.#given, expected);
      this.#tried.set(secret, matches);
    }
    return matches;
  }
}


function equalSecrets(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
