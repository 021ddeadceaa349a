import { App, LogLevel, webApi, type Logger as BoltLogger } from '@slack/bolt';
import { z } from 'zod';
import { SwitchboardError } from '../../errors/index.js';
import type { Logger } from '../../observability/logger.js';
import { redactText } from '../../observability/redaction.js';
import type { Conversation, DeliveryStatus, Handoff } from '../../store/schema.js';
import type { ConfirmationDecision } from '../../turn/confirmations.js';
import type { ConfirmationRequest, FinishedReply, ReplyTarget, ReplyTransport } from '../../turn/reply-transport.js';
import type { Channel, ChannelContext } from '../channel.js';
import { DeliveryError, isRetryableStatus } from '../delivery-retry.js';
import { refusalNotice, type RefusalWording } from '../notices.js';
import { signedText } from '../signed-text.js';
import { FastifySlackReceiver } from './fastify-receiver.js';
import { slackCommandSchema, slackDestination, slackIdentity, slackMessageEventSchema, type SlackMessageEvent } from './slack-payloads.js';
import { splitForSlack, toSlackMrkdwn } from './slack-format.js';

export const SLACK_CHANNEL = 'slack';
/** Slack keeps a slash command's response_url valid for 30 minutes. */
const RESPONSE_URL_TTL_MS = 30 * 60 * 1000;
const RESPONSE_URL_TIMEOUT_MS = 10_000;

export interface SlackChannelOptions {
  signingSecret: string;
  botToken: string;
  /** Base URL of the Web API (ends with /api/); points the SDK at a local endpoint in tests. */
  apiUrl?: string;
  /** e.g. `/ask`. */
  slashCommand: string;
  now?: () => number;
}


const CONFIRM_ACTION = 'switchboard_confirm';
const DECLINE_ACTION = 'switchboard_decline';

/** The interactivity payload of a button click (block_actions), as far as we read it. */
const buttonClickSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1), team_id: z.string().optional() }),
  team: z.object({ id: z.string().min(1) }).nullable().optional(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().max(200).optional() })).min(1),
});

/** What the channel builds when it mounts. */
interface SlackParts {
  app: App;
  receiver: FastifySlackReceiver;
  client: webApi.WebClient;
  context: ChannelContext;
}

interface ResponseUrlRoute {
  kind: 'response_url';
  url: string;
}

/**
 * Slack through Bolt: `app_mention` in channels (answered in the thread), direct
 * messages, and the slash command (acknowledged at once, answered through its
 * response_url, or chat.postMessage when that is gone). Transport only: everything
 * after `pipeline.accept` is shared with the other channels.
 */
export class SlackChannel implements ReplyTransport, Channel {
  readonly channel = SLACK_CHANNEL;
  readonly name = SLACK_CHANNEL;
  readonly transport: ReplyTransport = this;
  readonly #settings: SlackChannelOptions;
  #parts: SlackParts | undefined;
  #identity: Promise<{ botUserId?: string; botId?: string }> | undefined;
  #mention: { botUserId: string; pattern: RegExp } | undefined;

  constructor(settings: SlackChannelOptions) {
    this.#settings = settings;
  }

  private get parts(): SlackParts {
    if (!this.#parts) throw new Error('slack channel not mounted');
    return this.#parts;
  }

  private get context(): ChannelContext {
    return this.parts.context;
  }

  private get client(): webApi.WebClient {
    return this.parts.client;
  }

  /** Builds the Bolt app over our Fastify receiver and mounts POST /slack/events. */
  async mount(context: ChannelContext): Promise<void> {
    const options = { ...this.#settings, logger: context.logger };
    const receiver = new FastifySlackReceiver({
      signingSecret: options.signingSecret,
      path: '/slack/events',
      ...(options.now && { now: options.now }),
    });
    const logger = boltLogger(options.logger);
    const clientOptions: webApi.WebClientOptions = {
      ...(options.apiUrl && { slackApiUrl: options.apiUrl }),
      // Our delivery policy owns retries (see delivery-retry.ts), so the SDK's are off.
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      logger,
    };
    // One client for every call we make, built once with the bot token: the token travels as
    // the default Authorization header instead of being added to (and form-encoded into) each call.
    const client = new webApi.WebClient(options.botToken, clientOptions);
    const app = new App({
      receiver,
      // auth.test once, cached; a failure is retried on the next event instead of poisoning the cache.
      authorize: async () => ({ botToken: options.botToken, ...(await this.botIdentity()) }),
      logger,
      clientOptions,
      // Bolt's conversation store keeps per-channel state we never read, and answers every event
      // it has not seen (all of ours: a new thread each) by building and catching an Error.
      convoStore: false,
    });
    // Listener failures must reach the receiver (→ 500 → Slack retries), not be swallowed.
    app.error(async (error) => {
      throw error;
    });
    app.event('app_mention', async ({ event, body }) => this.onMessageEvent(event, body));
    app.event('message', async ({ event, body }) => this.onMessageEvent(event, body));
    app.command(options.slashCommand, async ({ command, ack }) => {
      await ack(await this.onSlashCommand(command));
    });
    app.action(new RegExp(`^(${CONFIRM_ACTION}|${DECLINE_ACTION})$`), async ({ ack, body, respond }) => {
      await ack();
      // Running a confirmed tool can take longer than Slack's 3 s, so it continues after the ack.
      void this.onButtonClick(body, respond).catch((error: unknown) =>
        options.logger.error({ err: error, channel: SLACK_CHANNEL }, 'confirmation click not handled'),
      );
    });
    this.#parts = { app, receiver, client, context };
    await receiver.mount(context.http);
  }

  /** Routes close with the HTTP server. */
  async stop(): Promise<void> {}

  private botIdentity(): Promise<{ botUserId?: string; botId?: string }> {
    this.#identity ??= this.client.auth
      .test()
      .then((result) => ({
        ...(typeof result.user_id === 'string' && { botUserId: result.user_id }),
        ...(typeof result.bot_id === 'string' && { botId: result.bot_id }),
      }))
      .catch((error: unknown) => {
        this.#identity = undefined;
        throw error;
      });
    return this.#identity;
  }

  private async onMessageEvent(rawEvent: unknown, body: { team_id?: string; event_id?: string }): Promise<void> {
    const parsed = slackMessageEventSchema.safeParse(rawEvent);
    if (!parsed.success) return;
    const event = parsed.data;
    // Only plain user messages: edits, joins and every bot (ourselves included) are ignored.
    if (event.bot_id || event.subtype || !event.user) return;
    if (event.type === 'message' && event.channel_type !== 'im') return;
    const { botUserId } = await this.botIdentity();
    if (event.user === botUserId) return;
    const teamId = body.team_id ?? 'T';
    const threadTs = event.type === 'app_mention' ? (event.thread_ts ?? event.ts) : event.thread_ts;
    const identity = slackIdentity(teamId, event.user, event.channel, threadTs);
    const text = event.text.replace(this.mentionPattern(botUserId), '').trim();
    if (!text) {
      await this.sendNotice(event, threadTs, `Ask me something after the mention, e.g. <@${botUserId ?? 'me'}> what can you do?`);
      return;
    }
    try {
      await this.context.intake.accept({
        channel: SLACK_CHANNEL,
        ...identity,
        // The message's own ts: a retried event, or the same message arriving as two event types, is one message.
        externalMessageId: `msg:${event.channel}:${event.ts}`,
        text,
      });
    } catch (error) {
      // A message we refuse for a reason retrying will not fix: tell the person (once per limit window).
      const notice = await refusalNotice(error, { channel: SLACK_CHANNEL, address: identity.externalUserId }, this.context.store.channels, SLACK_REFUSALS);
      if (notice) await this.sendNotice(event, threadTs, notice);
    }
  }

  /** Our own @-mention (built once per bot user id); without the id, a leading mention of anyone. */
  private mentionPattern(botUserId: string | undefined): RegExp {
    if (!botUserId) return /^\s*<@[A-Z0-9]+(\|[^>]*)?>/;
    if (this.#mention?.botUserId !== botUserId) this.#mention = { botUserId, pattern: new RegExp(`<@${botUserId}(\\|[^>]*)?>`, 'g') };
    return this.#mention.pattern;
  }

  private async onSlashCommand(raw: unknown): Promise<Record<string, unknown>> {
    const parsed = slackCommandSchema.safeParse(raw);
    if (!parsed.success) return ephemeral('This command payload could not be read.');
    const command = parsed.data;
    const text = command.text.trim();
    if (!text) return ephemeral(`Usage: \`${command.command} <your question>\`, e.g. \`${command.command} what are your opening hours?\``);
    const externalMessageId = `cmd:${command.trigger_id}`;
    // Saved before the message exists, so a turn finishing in any process finds it.
    const route: ResponseUrlRoute = { kind: 'response_url', url: command.response_url };
    await this.context.store.channels.saveReplyRoute(SLACK_CHANNEL, externalMessageId, route, new Date(Date.now() + RESPONSE_URL_TTL_MS));
    try {
      await this.context.intake.accept({
        channel: SLACK_CHANNEL,
        ...slackIdentity(command.team_id, command.user_id, command.channel_id),
        externalMessageId,
        text,
      });
    } catch (error) {
      if (error instanceof SwitchboardError && error.code !== 'internal_error') return ephemeral(refusalText(error));
      throw error;
    }
    return ephemeral(`:hourglass_flowing_sand: Working on: ${escapeForQuote(text)}`);
  }

  async done(target: ReplyTarget, reply: FinishedReply): Promise<DeliveryStatus> {
    return this.deliver(target, 'reply', signedText(reply));
  }

  /** Shows a sensitive tool call as a message with Confirm / Cancel buttons. */
  async requestConfirmation(target: ReplyTarget, request: ConfirmationRequest): Promise<void> {
    const value = `${target.conversation.id}|${request.confirmationId}`;
    const text = `Please confirm: ${toSlackMrkdwn(request.summary)}`;
    const blocks = [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'actions',
        elements: [
          { type: 'button', action_id: CONFIRM_ACTION, style: 'primary', text: { type: 'plain_text', text: 'Confirm' }, value },
          { type: 'button', action_id: DECLINE_ACTION, style: 'danger', text: { type: 'plain_text', text: 'Cancel' }, value },
        ],
      },
    ];
    const { channel, threadTs } = slackDestination(target.conversation.threadKey);
    const route = await this.replyRoute(target.messageId, threadTs);
    await this.context.delivery.deliver({
      conversationId: target.conversation.id,
      messageId: target.messageId,
      channel: SLACK_CHANNEL,
      kind: 'reply',
      parts: [text],
      send: (part) =>
        route?.kind === 'response_url' ? this.postToResponseUrl(route.url, part, blocks) : this.postMessage(channel, threadTs, part, blocks),
    });
  }

  private async onButtonClick(rawBody: unknown, respond: ((message: Record<string, unknown>) => Promise<unknown>) | undefined): Promise<void> {
    const confirmations = this.context.confirmations;
    const parsed = buttonClickSchema.safeParse(rawBody);
    if (!parsed.success) return;
    const click = parsed.data;
    const action = click.actions[0]!;
    const [conversationId, confirmationId] = (action.value ?? '').split('|');
    if (!conversationId || !confirmationId) return;
    const teamId = click.team?.id ?? click.user.team_id ?? '';
    const conversation = await this.context.store.conversations.getConversation(conversationId);
    // Only the person the question was asked of may answer it.
    if (!conversation || conversation.channel !== SLACK_CHANNEL || conversation.externalUserId !== `${teamId}:${click.user.id}`) {
      await respond?.({ response_type: 'ephemeral', replace_original: false, text: 'Only the person who asked can answer this.' }).catch(() => undefined);
      return;
    }
    const decision: ConfirmationDecision = action.action_id === CONFIRM_ACTION ? 'confirm' : 'decline';
    const outcome = await confirmations.answer(conversationId, confirmationId, decision);
    // The buttons are replaced by what was decided; the outcome itself arrives as a reply (done()).
    const label = outcome.alreadyAnswered ? `Already answered (${outcome.status}).` : decision === 'confirm' ? 'Confirmed.' : 'Cancelled.';
    await respond?.({ replace_original: true, text: label }).catch(() => undefined);
  }

  async failed(target: ReplyTarget, error: { code: string; message: string }): Promise<void> {
    await this.deliver(target, 'failure_notice', `Sorry, ${error.message}.`);
  }

  private async deliver(target: ReplyTarget, kind: 'reply' | 'failure_notice', text: string): Promise<DeliveryStatus> {
    const { conversation, messageId } = target;
    const parts = splitForSlack(toSlackMrkdwn(text));
    const { channel, threadTs } = slackDestination(conversation.threadKey);
    const route = await this.replyRoute(messageId, threadTs);
    return this.context.delivery.deliver({
      conversationId: conversation.id,
      messageId,
      channel: SLACK_CHANNEL,
      kind,
      parts,
      send: (part) => {
        if (route?.kind === 'response_url') return this.postToResponseUrl(route.url, part);
        // A slash command's conversation (a channel, no thread) is private to the person who
        // typed it: once its response_url is gone, answer them ephemerally, never to the channel.
        if (threadTs === undefined && !isDirectMessage(channel)) return this.postEphemeral(channel, slackUserOf(conversation), part);
        return this.postMessage(channel, threadTs, part);
      },
    });
  }

  /**
   * Tells operators who live in Slack that a person is waiting (HANDOFF_SLACK_CHANNEL): one
   * message with the reason, the channel and a link to the conversation in the console. The
   * person's identity and the model's summary are masked as in the console's lists.
   */
  async notifyWaitingHandoff(slackChannel: string, input: { conversation: Conversation; handoff: Handoff; link: string }): Promise<void> {
    const { conversation, handoff, link } = input;
    const summary = handoff.summary ? `\n>${escapeForQuote(redactText(handoff.summary, 'list'))}` : '';
    const who = redactText(conversation.externalUserId, 'list');
    const text =
      `:raising_hand: A person is waiting for someone from the team (${handoff.reason}) on *${conversation.channel}* (${escapeForQuote(who)}).` +
      `${summary}\n<${link}|Open the conversation in the console>`;
    await this.postMessage(slackChannel, undefined, text);
  }

  /**
   * The slash command's response_url saved for this message, if any. Only slash commands save
   * one, and their conversations are never threads (slackIdentity without a thread), so a
   * threaded conversation — every app_mention — skips the lookup.
   */
  private async replyRoute(messageId: string, threadTs: string | undefined): Promise<ResponseUrlRoute | undefined> {
    if (threadTs !== undefined) return undefined;
    return (await this.context.store.channels.findReplyRoute(SLACK_CHANNEL, messageId)) as ResponseUrlRoute | undefined;
  }

  private async postMessage(channel: string, threadTs: string | undefined, text: string, blocks?: unknown[]): Promise<string | undefined> {
    try {
      const result = await this.client.chat.postMessage({
        channel,
        text,
        mrkdwn: true,
        ...(threadTs && { thread_ts: threadTs }),
        ...(blocks && { blocks: blocks as never }),
      });
      return typeof result.ts === 'string' ? result.ts : undefined;
    } catch (error) {
      throw toDeliveryError(error);
    }
  }

  private async postEphemeral(channel: string, user: string, text: string): Promise<undefined> {
    try {
      await this.client.chat.postEphemeral({ channel, user, text });
      return undefined;
    } catch (error) {
      throw toDeliveryError(error);
    }
  }

  private async postToResponseUrl(url: string, text: string, blocks?: unknown[]): Promise<undefined> {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text, ...(blocks && { blocks }) }),
        signal: AbortSignal.timeout(RESPONSE_URL_TIMEOUT_MS),
      });
    } catch (error) {
      throw new DeliveryError({ message: 'response_url not reachable', retryable: true, cause: error });
    }
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) {
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new DeliveryError({
        message: `response_url answered ${response.status}`,
        status: response.status,
        retryable: isRetryableStatus(response.status),
        ...(Number.isFinite(retryAfter) && retryAfter >= 0 && { retryAfterMs: retryAfter * 1000 }),
      });
    }
    return undefined;
  }

  private async sendNotice(event: SlackMessageEvent, threadTs: string | undefined, text: string): Promise<void> {
    await this.postMessage(event.channel, threadTs, text).catch((error: unknown) =>
      this.context.logger.warn({ err: error, channel: SLACK_CHANNEL }, 'slack notice not delivered'),
    );
  }
}


function ephemeral(text: string): Record<string, unknown> {
  return { response_type: 'ephemeral', text };
}

/** Direct-message channel ids start with D: posting there reaches only the person. */
const isDirectMessage = (channel: string) => channel.startsWith('D');
/** The Slack user of a conversation (`externalUserId` is `team:user`). */
const slackUserOf = (conversation: Conversation) => conversation.externalUserId.split(':')[1] ?? conversation.externalUserId;
const escapeForQuote = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').slice(0, 200);

function refusalText(error: SwitchboardError): string {
  if (error.code === 'rate_limited') {
    const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 60_000) / 1000));
    return `You're sending messages faster than I can answer. Please try again in ${seconds} s.`;
  }
  return `I couldn't take that message: ${error.message}.`;
}

/** Every refusal is told in the thread, except those a retry by Slack may fix (shutdown, our own failure). */
const SLACK_REFUSALS: RefusalWording = (error) => (error.code === 'shutting_down' || error.code === 'internal_error' ? undefined : refusalText(error));

/** Slack Web API errors mapped for the retry policy: 429 and 5xx and network failures retry, `ok: false` errors do not. */
function toDeliveryError(error: unknown): DeliveryError {
  const coded = error as { code?: string; retryAfter?: number; statusCode?: number; data?: { error?: string }; message?: string };
  switch (coded.code) {
    case webApi.ErrorCode.RateLimitedError:
      return new DeliveryError({ message: 'Slack rate limited the call', status: 429, retryable: true, retryAfterMs: (coded.retryAfter ?? 1) * 1000, cause: error });
    case webApi.ErrorCode.HTTPError:
      return new DeliveryError({
        message: `Slack answered HTTP ${coded.statusCode}`,
        ...(coded.statusCode !== undefined && { status: coded.statusCode }),
        retryable: isRetryableStatus(coded.statusCode),
        cause: error,
      });
    case webApi.ErrorCode.PlatformError:
      return new DeliveryError({ message: `Slack refused the call: ${coded.data?.error ?? 'unknown error'}`, retryable: false, cause: error });
    case webApi.ErrorCode.RequestError:
      return new DeliveryError({ message: 'Slack not reachable', retryable: true, cause: error });
    default:
      return new DeliveryError({ message: coded.message ?? 'Slack call failed', retryable: false, cause: error });
  }
}

/**
 * Bolt's and the Web API client's lines, through our logger. Their debug lines are dropped:
 * they carry request and response bodies (people's messages, our replies), which never go to
 * a log, and building them for a disabled level cost a string join on every event and call.
 */
function boltLogger(logger: Logger): BoltLogger {
  const child = logger.child({ component: 'slack-bolt' });
  let level = LogLevel.INFO;
  const log = (method: 'info' | 'warn' | 'error') => (...msg: unknown[]) => {
    if (child.isLevelEnabled(method)) child[method](msg.map(String).join(' '));
  };
  return {
    debug: () => {},
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
