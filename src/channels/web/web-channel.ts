import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io';
import { SwitchboardError } from '../../errors/index.js';
import type { Logger } from '../../observability/logger.js';
import { replyKey } from '../../store/sessions.js';
import type { Conversation } from '../../store/schema.js';
import type { ConfirmationRequest, ConfirmationResolution, FinishedReply, HandoffState, ReplyTarget, ReplyTransport } from '../../turn/reply-transport.js';
import type { Channel, ChannelContext, ChannelFactory } from '../channel.js';
import { answerLatestByText } from '../text-confirmation.js';
import { MAX_ATTACHMENTS, TOO_MANY_ATTACHMENTS_EVENT } from './bounded-parser.js';
import { hashSessionToken, looksLikeSessionToken, newSessionToken } from './session-token.js';
import {
  clientMessageSchema,
  confirmationAnswerSchema,
  type ConfirmationAck,
  conversationRoom,
  type ClientToServerEvents,
  type MessageAck,
  type ServerToClientEvents,
  shownConfirmationsSchema,
  type SocketData,
  type HandshakeRefusalCode,
  type WebServer,
  workspaceKeySchema,
} from './web-events.js';
import type { RefusalReason } from '../../workspaces/workspace-directory.js';

export const WEB_CHANNEL = 'web';

export type { WebServer } from './web-events.js';
type WebSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

/**
 * The web chat channel over socket.io: resolves the visitor's conversation from
 * the resume token, turns `message` events into inbound messages, and streams
 * replies to the conversation's room (every tab of that conversation sees them).
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class WebChannel implements ReplyTransport, Channel {
  readonly channel = WEB_CHANNEL;
  readonly name = WEB_CHANNEL;
  readonly transport: ReplyTransport = this;
  #context: ChannelContext | undefined;
  /** The raw token lives only here, between the handshake and the `session` event; it is never stored. */
  readonly #tokens = new WeakMap<WebSocket, string>();
  /**
   * What a returning visitor is sent on connect (see catchUp), when there is something: `after`,
   * its newest reply id when replies were stored after it; `shownConfirmations`, when it has
   * confirmations to show again (one is pending, or the client still shows some as waiting), the
   * ids the client named (`auth.confirmations`), possibly none.
   */
  readonly #catchUps = new WeakMap<WebSocket, { after?: string; shownConfirmations?: readonly string[] }>();
  /** The socket's conversation row once known, so a message does not re-read it (its identity never changes). */
  readonly #conversations = new WeakMap<WebSocket, Conversation>();

  private get context(): ChannelContext {
    if (!this.#context) throw new Error('web channel not mounted');
    return this.#context;
  }

  private get io(): WebServer {
    return this.context.io;
  }

  private get logger(): Logger {
    return this.context.logger;
  }

  async mount(context: ChannelContext): Promise<void> {
    this.#context = context;
    this.io.use((socket, next) => {
      const refusal = this.routeSocket(socket);
      if (refusal) {
        void this.context.workspaces.refuse(WEB_CHANNEL, refusal.key, refusal.reason);
        const error = new Error(REFUSAL_MESSAGES[refusal.code]) as Error & { data?: unknown };
        error.data = { code: refusal.code };
        next(error);
        return;
      }
      this.resolveSession(socket).then(
        () => next(),
        (error: unknown) => {
          this.logger.error({ err: error }, 'web session could not be resolved');
          const refusal = new Error('session unavailable') as Error & { data?: unknown };
          refusal.data = { code: 'unavailable' };
          next(refusal);
        },
      );
    });
    this.io.on('connection', (socket) => this.onConnection(socket));
  }

  /** Sockets close with the socket.io server. */
  async stop(): Promise<void> {}

  /**
   * The socket's workspace, by the widget's public key (`auth.workspaceKey`; none: the default
   * workspace, whose widget this server serves) and the page's origin when the workspace lists
   * allowed origins. Answered from memory; a refusal says why, and nothing is stored for the socket.
   */
  private routeSocket(socket: WebSocket): { code: HandshakeRefusalCode; reason: RefusalReason; key: string | undefined } | undefined {
    const given: unknown = socket.handshake.auth?.workspaceKey;
    const key = workspaceKeySchema.safeParse(given).success ? (given as string) : undefined;
    // A key of the wrong shape is no key of ours: refused, never taken for "no key" (the default workspace).
    if (given !== undefined && given !== null && key === undefined) return { code: 'unknown_workspace', reason: 'unknown_identity', key: undefined };
    const origin = socket.handshake.headers.origin;
    const routed = this.context.workspaces.routeWidget(key, typeof origin === 'string' ? origin : undefined);
    if (routed.workspace) {
      socket.data = { ...socket.data, workspaceId: routed.workspace.id };
      return undefined;
    }
    const code = routed.refused === 'unknown_identity' ? 'unknown_workspace' : routed.refused;
    return { code, reason: routed.refused, key };
  }

  /**
   * A known token resumes its conversation; a missing, forged or foreign token starts a new one.
   * A token of another workspace's conversation is foreign: it never resumes it with this key.
   */
  private async resolveSession(socket: WebSocket): Promise<void> {
    const { workspaceId } = socket.data;
    const token: unknown = socket.handshake.auth?.token;
    if (looksLikeSessionToken(token)) {
      const tokenHash = hashSessionToken(token);
      const found = await this.context.store.sessions.conversationByTokenHash(tokenHash);
      const existing = found?.conversation;
      if (existing && existing.channel === WEB_CHANNEL && existing.workspaceId === workspaceId) {
        socket.data = { workspaceId, conversationId: existing.id, tokenHash, persisted: true };
        this.#tokens.set(socket, token);
        this.#conversations.set(socket, existing);
        // `auth.after`: the newest reply the visitor holds; anything stored since is sent on connect.
        const after: unknown = socket.handshake.auth?.after;
        const missed = typeof after === 'string' && UUID.test(after) && found.latestReplyId !== null && found.latestReplyId !== after;
        // A question still waiting is asked again (a reload must not lose its buttons), and one the
        // client still shows as waiting but decided meanwhile is resolved.
        const shown = shownConfirmationsSchema.safeParse(socket.handshake.auth?.confirmations);
        const shownIds = shown.success ? shown.data : [];
        const confirmations = found.pendingConfirmation || shownIds.length > 0;
        if (missed || confirmations) this.#catchUps.set(socket, { ...(missed && { after }), ...(confirmations && { shownConfirmations: shownIds }) });
        return;
      }
    }
    const fresh = newSessionToken();
    socket.data = { workspaceId, conversationId: randomUUID(), tokenHash: hashSessionToken(fresh), persisted: false };
    this.#tokens.set(socket, fresh);
  }

  private onConnection(socket: WebSocket): void {
    // A recovered socket (connection state recovery, on any instance) got back its data and room
    // and skipped the session middleware; the client already holds its token, so no `session` is sent.
    if (!socket.recovered) {
      const token = this.#tokens.get(socket)!;
      this.#tokens.delete(socket);
      void socket.join(conversationRoom(socket.data.conversationId));
      sendSession(this.io, socket, { conversationId: socket.data.conversationId, token }, this.context.recoveryOffset());
      const known = this.#conversations.get(socket);
      const catchUp = this.#catchUps.get(socket);
      this.#catchUps.delete(socket);
      if (known && (catchUp || known.mode === 'human')) void this.catchUp(socket, known, catchUp?.after, catchUp?.shownConfirmations);
    }
    socket.on('confirmation.answer', (payload, ack) => {
      const respond = typeof ack === 'function' ? ack : () => {};
      this.onConfirmationAnswer(socket, payload).then(respond, (error: unknown) => respond(toAckError(error, this.logger) as ConfirmationAck));
    });
    socket.on(TOO_MANY_ATTACHMENTS_EVENT, (attachments, ack) => {
      if (typeof ack !== 'function') return;
      ack({
        ok: false,
        error: { code: 'invalid_payload', message: `a message may carry at most ${MAX_ATTACHMENTS} binary attachments (got ${Number(attachments) || 'more'})` },
      });
    });
    socket.on('message', (payload, ack) => {
      const respond = typeof ack === 'function' ? ack : () => {};
      this.onMessage(socket, payload).then(respond, (error: unknown) => respond(toAckError(error, this.logger)));
    });
  }

  /**
   * A visitor coming back (a reload, another page, after a drop longer than connection-state
   * recovery keeps) gets, straight to this socket: the replies stored since the newest one they
   * hold (`auth.after`: an operator may have answered meanwhile), the confirmations still waiting
   * (and the outcome of those the client still shows as waiting), then where a handoff stands.
   */
  private async catchUp(
    socket: WebSocket,
    conversation: Conversation,
    after: string | undefined,
    shownConfirmations: readonly string[] | undefined,
  ): Promise<void> {
    try {
      const toSocket = this.io.local.to(socket.id);
      if (after !== undefined) {
        for (const message of await this.context.store.sessions.repliesAfter(conversation.id, after)) {
          toSocket.emit('reply.done', {
            messageId: replyKey(message),
            text: message.text,
            fallback: message.fallback,
            cached: message.cached,
            toolCalls: [],
            author: message.author ?? 'agent',
            ...(message.author === 'operator' && message.authorName && { operatorName: message.authorName }),
          });
        }
      }
      if (shownConfirmations !== undefined) {
        const states = await this.context.confirmations.statesFor(conversation.id, shownConfirmations);
        for (const request of states.waiting) toSocket.emit('confirmation.request', request);
        for (const resolution of states.decided) toSocket.emit('confirmation.resolved', resolution);
      }
      if (conversation.mode !== 'human') return;
      const open = await this.context.store.handoffs.findOpen(conversation.id);
      if (open) toSocket.emit('handoff', { status: open.status, ...(open.status === 'active' && open.operatorName && { operatorName: open.operatorName }) });
    } catch (error) {
      this.logger.warn({ err: error }, 'missed replies, confirmations or handoff state not sent');
    }
  }

  /** Only the socket's own conversation can be answered for: the id is looked up within it. */
  private async onConfirmationAnswer(socket: WebSocket, payload: unknown): Promise<ConfirmationAck> {
    const parsed = confirmationAnswerSchema.safeParse(payload);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const message = first?.path.length ? first.message : "payload must be an object { confirmationId, decision: 'confirm' | 'decline' }";
      return { ok: false, error: { code: 'invalid_payload', message } };
    }
    if (!socket.data.persisted) {
      return { ok: false, error: { code: 'not_found', message: 'no such confirmation in this conversation' } };
    }
    const outcome = await this.context.confirmations.answer(socket.data.conversationId, parsed.data.confirmationId, parsed.data.decision);
    return { ok: true, status: outcome.status, alreadyAnswered: outcome.alreadyAnswered };
  }

  async requestConfirmation(target: ReplyTarget, request: ConfirmationRequest): Promise<void> {
    this.io.to(conversationRoom(target.conversation.id)).emit('confirmation.request', request);
  }

  async confirmationResolved(target: ReplyTarget, resolution: ConfirmationResolution): Promise<void> {
    this.io.to(conversationRoom(target.conversation.id)).emit('confirmation.resolved', resolution);
  }

  private async onMessage(socket: WebSocket, payload: unknown): Promise<MessageAck> {
    const parsed = clientMessageSchema.safeParse(payload);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const message = first?.path.length ? first.message : 'payload must be an object { text, clientMessageId }';
      return { ok: false, error: { code: 'invalid_payload', message } };
    }
    const { workspaceId, conversationId, tokenHash } = socket.data;
    const known = await this.knownConversation(socket);
    // A whole-message YES / NO answers the newest pending confirmation, as on SMS (the model's
    // note promises that reply); with nothing pending it is an ordinary message. The ack comes once
    // the decision is recorded: a confirmed call may run longer than the client waits for an ack.
    const answered = known && (await answerLatestByText(this.context.confirmations, known.id, parsed.data.text, { untilDecided: true }));
    if (answered) {
      return { ok: true, confirmation: { confirmationId: answered.confirmationId, status: answered.status, alreadyAnswered: answered.alreadyAnswered } };
    }
    const result = await this.context.intake.accept(
      {
        workspaceId,
        channel: WEB_CHANNEL,
        externalUserId: visitorId(conversationId),
        conversationId,
        externalMessageId: parsed.data.clientMessageId,
        text: parsed.data.text,
      },
      // A visitor's first message creates the conversation in the same statement as the message:
      // a refused or failed message leaves no conversation row behind.
      known ? { ip: clientAddress(socket), conversation: known } : { ip: clientAddress(socket), newConversation: { tokenHash } },
    );
    socket.data.persisted = true;
    this.#conversations.set(socket, result.conversation);
    if (result.duplicate) {
      void this.replayFinishedReply(socket, result.messageId);
      return { ok: true, messageId: result.messageId, duplicate: true };
    }
    return { ok: true, messageId: result.messageId };
  }

  /** The socket's stored conversation, if it has one (a socket recovered on another instance has its data but not this cache: read once). */
  private async knownConversation(socket: WebSocket): Promise<Conversation | undefined> {
    const cached = this.#conversations.get(socket);
    if (cached || !socket.data.persisted) return cached;
    const existing = await this.context.store.conversations.getConversation(socket.data.conversationId);
    if (!existing || existing.workspaceId !== socket.data.workspaceId) return undefined;
    this.#conversations.set(socket, existing);
    return existing;
  }

  /** A client that resends a message it already sent (e.g. after a reconnect) gets the stored answer. */
  private async replayFinishedReply(socket: WebSocket, messageId: string): Promise<void> {
    const reply = await this.context.intake.findReply(messageId).catch(() => undefined);
    if (!reply) return;
    socket.emit('reply.done', {
      messageId,
      text: reply.text,
      fallback: reply.fallback,
      cached: reply.cached,
      toolCalls: [],
      author: reply.author ?? 'agent',
    });
  }

  delta(target: ReplyTarget, delta: string): void {
    this.io.to(conversationRoom(target.conversation.id)).emit('reply.delta', { messageId: target.messageId, delta });
  }

  discard(target: ReplyTarget): void {
    this.io.to(conversationRoom(target.conversation.id)).emit('reply.discard', { messageId: target.messageId });
  }

  async done(target: ReplyTarget, reply: FinishedReply): Promise<void> {
    this.io.to(conversationRoom(target.conversation.id)).emit('reply.done', reply);
  }

  async handoffChanged(conversation: Conversation, state: HandoffState): Promise<void> {
    this.io.to(conversationRoom(conversation.id)).emit('handoff', state);
  }

  async failed(target: ReplyTarget, error: { code: string; message: string }): Promise<void> {
    this.io
      .to(conversationRoom(target.conversation.id))
      .emit('reply.error', { messageId: target.messageId, code: error.code, message: error.message });
  }
}

/**
 * Straight to this socket on this instance, never through the adapter. With connection state
 * recovery on, `socket.emit` is a broadcast to the socket's own room so that it can be replayed:
 * the Redis Streams adapter would XADD the raw token into the shared stream (kept there for up to
 * `maxLen` entries, read and decoded by every instance) and hold the `session` back for that round
 * trip on every handshake. A recovered socket never needs it replayed: the client already holds its token.
 *
 * The client still needs an offset to recover from if it drops before its first reply arrives, so
 * the session carries the newest stream entry this instance has read (alone, the position of its
 * own log: see infra/socket-adapter.ts), as socket.io appends offsets: on recovery, the replies
 * broadcast to its conversation after it are replayed.
 */
function sendSession(io: WebServer, socket: WebSocket, session: { conversationId: string; token: string }, offset: string | undefined): void {
  if (offset === undefined) io.local.to(socket.id).emit('session', session);
  else io.local.to(socket.id).emit('session', session, offset);
}

/** What a refused handshake's error says (its `data.code` is what clients act on). */
const REFUSAL_MESSAGES: Record<HandshakeRefusalCode, string> = {
  unknown_workspace: 'no workspace has this widget key (data-workspace-key)',
  origin_not_allowed: "this page's origin is not among the workspace's allowed origins",
  workspace_suspended: 'the workspace of this widget is suspended',
};

/** The web channel's identity for a visitor: its conversation (one per resume token). */
const visitorId = (conversationId: string) => `visitor:${conversationId}`;

/** The web chat widget: always on, served by every web instance. */
export const webChannels: ChannelFactory = async () => [new WebChannel()];

function toAckError(error: unknown, logger: Logger): MessageAck {
  if (error instanceof SwitchboardError) return { ok: false, error: error.toJSON() };
  logger.error({ err: error }, 'web message failed');
  return { ok: false, error: { code: 'internal_error', message: 'the message could not be accepted; please retry' } };
}

/** The peer address of the handshake. Behind a proxy every visitor shares the proxy's address: set the limit accordingly. */
function clientAddress(socket: WebSocket): string {
  return socket.handshake.address || 'unknown';
}
