import { App, AuthorizationError, LogLevel, webApi, type AuthorizeResult, type AuthorizeSourceData, type Logger as BoltLogger } from '@slack/bolt';
import { z } from 'zod';
import { DEFAULT_WORKSPACE_ID } from '../../config/workspace.js';
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
import type { RefusalReason } from '../../workspaces/workspace-directory.js';
import { FastifySlackReceiver } from './fastify-receiver.js';
import { SlackBots, SlackNotInstalledError } from './slack-bots.js';
import { mountSlackOAuth } from './slack-oauth.js';
import { slackCommandSchema, slackDestination, slackIdentity, slackMessageEventSchema, type SlackMessageEvent } from './slack-payloads.js';
import { splitForSlack, toSlackMrkdwn } from './slack-format.js';
import { WorkspaceInstallationStore } from './workspace-installation-store.js';

export const SLACK_CHANNEL = 'slack';
/** Slack keeps a slash command's response_url valid for 30 minutes. */
const RESPONSE_URL_TTL_MS = 30 * 60 * 1000;
const RESPONSE_URL_TIMEOUT_MS = 10_000;

/** One Slack app installed by many Slack teams through OAuth (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_STATE_SECRET). */
export interface SlackOAuthSettings {
  clientId: string;
  clientSecret: string;
  stateSecret: string;
  scopes: readonly string[];
  /** PUBLIC_URL + /slack/oauth_redirect, when PUBLIC_URL is set. */
  redirectUri?: string;
}

export interface SlackChannelOptions {
  signingSecret: string;
  /** SLACK_BOT_TOKEN: the default workspace's bot; optional with `oauth`. */
  botToken: string | undefined;
  oauth?: SlackOAuthSettings;
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
  bots: SlackBots;
  context: ChannelContext;
}

/** What `authorize` adds to Bolt's context: the workspace of the receiving Slack team, and its bot. */
interface WorkspaceContext {
  workspaceId?: unknown;
  botToken?: string;
  botUserId?: string;
}

/** An event Slack gets a 200 for and nobody answers (an unknown team, recorded; a workspace without a bot token). */
class SlackEventRefused extends Error {
  override readonly name = 'SlackEventRefused';
  constructor(readonly reason: RefusalReason | 'not_installed') {
    super(`slack event not handled: ${reason}`);
  }
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

  private get bots(): SlackBots {
    return this.parts.bots;
  }

  /**
   * Builds the Bolt app over our Fastify receiver and mounts POST /slack/events; with OAuth
   * settings also GET /slack/install and /slack/oauth_redirect.
   */
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
    // One client per bot token, built once with it: the token travels as the default
    // Authorization header instead of being added to (and form-encoded into) each call.
    const bots = new SlackBots({ envToken: options.botToken, clientOptions, vault: context.credentials });
    context.workspaces.onChange(() => bots.forgetWorkspaceTokens());
    const app = new App({
      receiver,
      // The receiving Slack team (Bolt's source.teamId) names the workspace; the workspace's bot answers.
      authorize: (source) => this.authorize(source),
      logger,
      clientOptions,
      // Bolt's conversation store keeps per-channel state we never read, and answers every event
      // it has not seen (all of ours: a new thread each) by building and catching an Error.
      convoStore: false,
    });
    app.error(async (error) => {
      // Refused in authorize (and recorded): Slack gets its 200, since a retry would be refused again.
      if (error instanceof AuthorizationError && error.original instanceof SlackEventRefused) return;
      // Listener failures must reach the receiver (→ 500 → Slack retries), not be swallowed.
      throw error;
    });
    app.event('app_mention', async ({ event, body, context: bolt }) => this.onMessageEvent(event, body, bolt));
    app.event('message', async ({ event, body, context: bolt }) => this.onMessageEvent(event, body, bolt));
    app.command(options.slashCommand, async ({ command, ack, context: bolt }) => {
      await ack(await this.onSlashCommand(command, workspaceOf(bolt)));
    });
    app.action(new RegExp(`^(${CONFIRM_ACTION}|${DECLINE_ACTION})$`), async ({ ack, body, respond, context: bolt }) => {
      await ack();
      // Running a confirmed tool can take longer than Slack's 3 s, so it continues after the ack.
      void this.onButtonClick(body, respond, workspaceOf(bolt)).catch((error: unknown) =>
        options.logger.error({ err: error, channel: SLACK_CHANNEL }, 'confirmation click not handled'),
      );
    });
    this.#parts = { app, receiver, bots, context };
    if (options.oauth) this.mountOAuth(app, options.oauth, { clientOptions, boltLogger: logger });
    await receiver.mount(context.http);
  }

  /**
   * Multi-workspace install: the OAuth routes, Bolt's installation store over the workspaces'
   * sealed credentials and channel bindings, and the events that end an installation.
   */
  private mountOAuth(app: App, oauth: SlackOAuthSettings, sdk: { clientOptions: webApi.WebClientOptions; boltLogger: BoltLogger }): void {
    const { context, bots } = this;
    const { credentials: vault, workspaceRecords: records } = context;
    // Wiring, not configuration: the composition root hands both over.
    if (!vault || !records) throw new Error('multi-workspace Slack (SLACK_CLIENT_ID) needs `credentials` and `workspaceRecords` in the channel context');
    const installations = new WorkspaceInstallationStore({
      vault,
      records,
      directory: context.workspaces,
      hasEnvBot: bots.envToken !== undefined,
      envTeamId: () => bots.envTeamId(),
    });
    const { apiUrl, signingSecret, now } = this.#settings;
    mountSlackOAuth(context.http, {
      ...oauth,
      signingSecret,
      redirectUri: oauth.redirectUri,
      // Slack serves its authorize page beside the Web API (slack.com/oauth/v2/authorize and slack.com/api/).
      authorizationUrl: apiUrl ? new URL('../oauth/v2/authorize', apiUrl).toString() : undefined,
      ...sdk,
      logger: context.logger,
      installationStore: installations,
      workspaceExists: (id) => context.workspaces.get(id) !== undefined,
      ...(now && { now }),
    });
    // Bolt skips authorize for these two (the token is already dead).
    const uninstalled = async (teamId: string | undefined) => {
      if (teamId === undefined) return;
      await installations.deleteInstallation({ teamId, enterpriseId: undefined, isEnterpriseInstall: false });
      context.logger.info({ channel: SLACK_CHANNEL, team: teamId }, 'slack app uninstalled: installation removed');
    };
    app.event('app_uninstalled', async ({ context: bolt }) => uninstalled(bolt.teamId));
    app.event('tokens_revoked', async ({ event, context: bolt }) => {
      if ((event.tokens.bot ?? []).length > 0) await uninstalled(bolt.teamId);
    });
    // The env token's team routes to the default workspace: learn it once now, not on the first event.
    if (bots.envToken) void bots.envTeamId().catch((error: unknown) => context.logger.warn({ err: error, channel: SLACK_CHANNEL }, 'slack auth.test failed; retried on the next event'));
  }

  /** Routes close with the HTTP server. */
  async stop(): Promise<void> {}

  /**
   * Every event, command and click: the workspace of the receiving Slack team (never the user's
   * team), then that workspace's bot. An unknown team is refused and recorded, and nobody answers.
   */
  private async authorize(source: AuthorizeSourceData<boolean>): Promise<AuthorizeResult & WorkspaceContext> {
    const workspaceId = await this.workspaceOfTeam(source.teamId);
    try {
      const { token, botUserId, botId } = await this.bots.bot(workspaceId);
      return { botToken: token, ...(botUserId && { botUserId }), ...(botId && { botId }), workspaceId };
    } catch (error) {
      if (!(error instanceof SlackNotInstalledError)) throw error;
      this.context.logger.warn({ channel: SLACK_CHANNEL, workspace: workspaceId, team: source.teamId }, 'slack event for a workspace without a bot token: not answered');
      throw new SlackEventRefused('not_installed');
    }
  }

  private async workspaceOfTeam(teamId: string | undefined): Promise<string> {
    const { workspaces } = this.context;
    const routed = workspaces.route(SLACK_CHANNEL, teamId);
    if (routed.workspace) return routed.workspace.id;
    let reason = routed.refused;
    // SLACK_BOT_TOKEN's own team is the default workspace's, like the identities the environment configures.
    if (reason === 'unknown_identity' && teamId && this.bots.envToken && teamId === (await this.bots.envTeamId())) {
      const fallback = workspaces.get(DEFAULT_WORKSPACE_ID);
      if (fallback?.status === 'active') return fallback.id;
      reason = 'workspace_suspended';
    }
    await workspaces.refuse(SLACK_CHANNEL, teamId, reason);
    throw new SlackEventRefused(reason);
  }

  private async onMessageEvent(rawEvent: unknown, body: { team_id?: string; event_id?: string }, bolt: WorkspaceContext): Promise<void> {
    const parsed = slackMessageEventSchema.safeParse(rawEvent);
    if (!parsed.success) return;
    const event = parsed.data;
    // Only plain user messages: edits, joins and every bot (ourselves included) are ignored.
    if (event.bot_id || event.subtype || !event.user) return;
    if (event.type === 'message' && event.channel_type !== 'im') return;
    const { botUserId } = bolt;
    if (event.user === botUserId) return;
    const workspaceId = workspaceOf(bolt);
    // The bot authorize chose for this workspace answers notices too.
    const token = bolt.botToken ?? (await this.bots.token(workspaceId));
    const teamId = body.team_id ?? 'T';
    const threadTs = event.type === 'app_mention' ? (event.thread_ts ?? event.ts) : event.thread_ts;
    const identity = slackIdentity(teamId, event.user, event.channel, threadTs);
    const text = event.text.replace(this.mentionPattern(botUserId), '').trim();
    if (!text) {
      await this.sendNotice(token, event, threadTs, `Ask me something after the mention, e.g. <@${botUserId ?? 'me'}> what can you do?`);
      return;
    }
    try {
      await this.context.intake.accept({
        workspaceId,
        channel: SLACK_CHANNEL,
        ...identity,
        // The message's own ts: a retried event, or the same message arriving as two event types, is one message.
        externalMessageId: `msg:${event.channel}:${event.ts}`,
        text,
      });
    } catch (error) {
      // A message we refuse for a reason retrying will not fix: tell the person (once per limit window).
      const notice = await refusalNotice(
        error,
        { workspaceId, channel: SLACK_CHANNEL, address: identity.externalUserId },
        this.context.store.channels,
        SLACK_REFUSALS,
      );
      if (notice) await this.sendNotice(token, event, threadTs, notice);
    }
  }

  /** Our own @-mention (built once per bot user id); without the id, a leading mention of anyone. */
  private mentionPattern(botUserId: string | undefined): RegExp {
    if (!botUserId) return /^\s*<@[A-Z0-9]+(\|[^>]*)?>/;
    if (this.#mention?.botUserId !== botUserId) this.#mention = { botUserId, pattern: new RegExp(`<@${botUserId}(\\|[^>]*)?>`, 'g') };
    return this.#mention.pattern;
  }

  private async onSlashCommand(raw: unknown, workspaceId: string): Promise<Record<string, unknown>> {
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
        workspaceId,
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
      send: async (part) =>
        route?.kind === 'response_url'
          ? this.postToResponseUrl(route.url, part, blocks)
          : this.postMessage(await this.sendToken(target.conversation.workspaceId), channel, threadTs, part, blocks),
    });
  }

  private async onButtonClick(
    rawBody: unknown,
    respond: ((message: Record<string, unknown>) => Promise<unknown>) | undefined,
    workspaceId: string,
  ): Promise<void> {
    const confirmations = this.context.confirmations;
    const parsed = buttonClickSchema.safeParse(rawBody);
    if (!parsed.success) return;
    const click = parsed.data;
    const action = click.actions[0]!;
    const [conversationId, confirmationId] = (action.value ?? '').split('|');
    if (!conversationId || !confirmationId) return;
    const teamId = click.team?.id ?? click.user.team_id ?? '';
    const conversation = await this.context.store.conversations.getConversation(conversationId);
    // Only the person the question was asked of may answer it, in the workspace it was asked in.
    if (
      !conversation ||
      conversation.channel !== SLACK_CHANNEL ||
      conversation.workspaceId !== workspaceId ||
      conversation.externalUserId !== `${teamId}:${click.user.id}`
    ) {
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
      send: async (part) => {
        if (route?.kind === 'response_url') return this.postToResponseUrl(route.url, part);
        const token = await this.sendToken(conversation.workspaceId);
        // A slash command's conversation (a channel, no thread) is private to the person who
        // typed it: once its response_url is gone, answer them ephemerally, never to the channel.
        if (threadTs === undefined && !isDirectMessage(channel)) return this.postEphemeral(token, channel, slackUserOf(conversation), part);
        return this.postMessage(token, channel, threadTs, part);
      },
    });
  }

  /**
   * Tells operators who live in Slack that a person is waiting (HANDOFF_SLACK_CHANNEL): one
   * message with the reason, the channel and a link to the conversation in the console. The
   * person's identity and the model's summary are masked as in the console's lists. Posted with
   * the conversation's workspace's bot, so it can only reach that workspace's own Slack team.
   */
  async notifyWaitingHandoff(slackChannel: string, input: { conversation: Conversation; handoff: Handoff; link: string }): Promise<void> {
    const { conversation, handoff, link } = input;
    const summary = handoff.summary ? `\n>${escapeForQuote(redactText(handoff.summary, 'list'))}` : '';
    const who = redactText(conversation.externalUserId, 'list');
    const text =
      `:raising_hand: A person is waiting for someone from the team (${handoff.reason}) on *${conversation.channel}* (${escapeForQuote(who)}).` +
      `${summary}\n<${link}|Open the conversation in the console>`;
    await this.postMessage(await this.sendToken(conversation.workspaceId), slackChannel, undefined, text);
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

  /** The bot token the workspace's replies go out with; none is a delivery failure a retry will not fix. */
  private async sendToken(workspaceId: string): Promise<string> {
    try {
      return await this.bots.token(workspaceId);
    } catch (error) {
      if (error instanceof SlackNotInstalledError) throw new DeliveryError({ message: error.message, retryable: false, cause: error });
      throw error;
    }
  }

  private async postMessage(token: string, channel: string, threadTs: string | undefined, text: string, blocks?: unknown[]): Promise<string | undefined> {
    try {
      const result = await this.bots.client(token).chat.postMessage({
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

  private async postEphemeral(token: string, channel: string, user: string, text: string): Promise<undefined> {
    try {
      await this.bots.client(token).chat.postEphemeral({ channel, user, text });
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

  private async sendNotice(token: string, event: SlackMessageEvent, threadTs: string | undefined, text: string): Promise<void> {
    await this.postMessage(token, event.channel, threadTs, text).catch((error: unknown) =>
      this.context.logger.warn({ err: error, channel: SLACK_CHANNEL }, 'slack notice not delivered'),
    );
  }
}


/** The workspace `authorize` put in Bolt's context (every listener runs after it). */
function workspaceOf(bolt: WorkspaceContext): string {
  if (typeof bolt.workspaceId !== 'string') throw new Error('slack listener ran without a workspace (authorize did not run)');
  return bolt.workspaceId;
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
