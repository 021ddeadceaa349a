import { SwitchboardError } from '../errors/index.js';
import { RateLimitedError, type RateLimitCheck, type RateLimiter } from '../infra/rate-limiter.js';
import type { CachedReply, ResponseCache } from '../infra/response-cache.js';
import type { PipelineEvents } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import type { AcceptedMessage } from '../store/messages.js';
import type { Conversation, Message } from '../store/schema.js';
import type { TurnDispatcher } from './dispatcher.js';
import type { HandoffService } from './handoffs.js';
import type { InFlight } from './in-flight.js';
import { inboundMessageSchema, type InboundMessage } from './inbound-message.js';
import { cachedResult, type TurnResult } from './outcomes.js';
import type { ReplyDelivery, TurnSubject } from './reply-delivery.js';
import { turnLogger } from './turn-runner.js';
import { DEFAULT_WORKSPACE_ID } from './inbound-message.js';
import type { WorkspaceLimits, WorkspaceTurn, WorkspaceTurns } from './workspace-turns.js';

export interface AcceptResult {
  messageId: string;
  conversationId: string;
  duplicate: boolean;
  /** The conversation row as stored (a channel may keep it, e.g. per web socket). */
  conversation: Conversation;
}

export interface AcceptOptions {
  /** The sender's network address, for the per-IP budget (the web widget; webhooks come from the platform's servers). */
  ip?: string;
  /** The conversation row a channel already holds (the web channel keeps one per socket). */
  conversation?: Conversation;
  /**
   * The conversation `inbound.conversationId` may not exist yet: create it with this token hash
   * in the same statement as the message (a web visitor's first message), so a message the
   * database refuses leaves no conversation row behind.
   */
  newConversation?: { tokenHash: string };
}

export interface IntakeDeps {
  store: Store;
  dispatcher: TurnDispatcher;
  delivery: ReplyDelivery;
  events: PipelineEvents;
  inFlight: InFlight;
  logger: Logger;
  /** MAX_MESSAGE_CHARS. */
  maxMessageChars: number;
  limiter?: RateLimiter | undefined;
  /** A workspace's own rate limits; without it every workspace has the deployment's. */
  limits?: ((workspaceId: string) => WorkspaceLimits) | undefined;
  cache?: ResponseCache | undefined;
  /** Each workspace's reply-cache key (undefined when the cache is off). */
  turns: WorkspaceTurns;
  /** Conversations with a person take messages without a turn; HANDOFF_KEYWORDS hand one over. */
  handoffs?: HandoffService | undefined;
}

/**
 * The one way in for every channel: validate, take the rate limits (IP, person, global),
 * deduplicate, store, answer a first message from the reply cache, or dispatch its turn.
 * Once per message. Resolves once the message is durably accepted (the turn continues in
 * the background); a duplicate is acknowledged with the original id and not answered again.
 */
export class Intake {
  /** Conversation rows a message was accepted for: their next message is not a first one. */
  readonly #hadMessages = new WeakSet<Conversation>();

  constructor(private readonly deps: IntakeDeps) {}

  /** Checks the text against the limits; throws a SwitchboardError with a precise code. */
  validateText(text: string): string {
    const trimmed = text.trim();
    if (trimmed.length === 0) throw new SwitchboardError('empty_message', 'message text is empty');
    if (trimmed.length > this.deps.maxMessageChars) {
      throw new SwitchboardError('message_too_long', `message is ${trimmed.length} characters; the limit is ${this.deps.maxMessageChars}`);
    }
    return trimmed;
  }

  async accept(input: InboundMessage, options: AcceptOptions = {}): Promise<AcceptResult> {
    const { store } = this.deps;
    if (!this.deps.inFlight.accepting) throw new SwitchboardError('shutting_down', 'the server is shutting down; try again shortly');
    const parsed = inboundMessageSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new SwitchboardError('invalid_payload', `${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`);
    }
    const inbound = parsed.data;
    const text = this.validateText(inbound.text);
    const found = this.deps.turns.get(inbound.workspaceId);
    const { cacheKey } = found instanceof Promise ? await found : found;
    // "human" (HANDOFF_KEYWORDS) goes to a person: never answered from the cache or by the model.
    const keyword = this.deps.handoffs?.matchesKeyword(text, inbound.workspaceId) ?? false;
    const external = inbound.externalMessageId !== undefined ? { externalMessageId: inbound.externalMessageId } : {};
    let target: Conversation;
    let accepted: AcceptedMessage;
    /** The cache answer to use if this turns out to be a first message; undefined: look it up then. */
    let lookup: Promise<CachedReply | undefined> | undefined;
    /** Stored already answered from the cache (identity channels, one statement). */
    let answeredHit: CachedReply | undefined;
    const created = options.newConversation && inbound.conversationId ? { id: inbound.conversationId, tokenHash: options.newConversation.tokenHash } : undefined;
    if (!created && (options.conversation || inbound.conversationId)) {
      // The budget is the person's, known before their conversation row: taken first, so a
      // refused first message (the global budget spent) leaves no conversation row behind.
      const byId = () => (inbound.conversationId ? store.conversations.getConversation(inbound.conversationId) : Promise.resolve(undefined));
      const repeat = await this.consumeBudget(inbound, options.ip, inbound.externalMessageId, byId);
      if (repeat) return repeat;
      const known = options.conversation ?? (await byId());
      if (!known) throw new SwitchboardError('not_found', 'conversation not found');
      target = known;
      // A conversation that never finished a turn (updated_at still equals created_at) and has
      // not been seen here most likely gets its first message now: look the answer up while the
      // message is stored. (A channel that keeps its conversation row, as the web channel does
      // per socket, passes the same object every time; its timestamps are those of the read.)
      if (target.workspaceId !== inbound.workspaceId) throw new SwitchboardError('not_found', 'conversation not found');
      if (cacheKey && !keyword && !this.#hadMessages.has(target) && target.updatedAt.getTime() === target.createdAt.getTime()) {
        lookup = this.lookUpCache(cacheKey, text);
      }
      this.#hadMessages.add(target);
      accepted = await store.messages.acceptMessage({ conversationId: target.id, text, turnOwner: this.deps.dispatcher.owner, ...external });
    } else {
      // Known by identity (Slack, SMS, WhatsApp; a web visitor's first message): the budget is the identity's, so it is
      // checked first; the conversation and the message are then stored in one statement,
      // which also stores a cached answer when the message turns out to be a first one.
      // The answer is looked up alongside the budgets: one write to Redis (auto-pipelined) and
      // one wait instead of two. A refused message's lookup is wasted: one GET.
      const started = performance.now();
      const cached = keyword ? undefined : this.lookUpCache(cacheKey, text);
      const repeat = await this.consumeBudget(inbound, options.ip, inbound.externalMessageId, () => store.conversations.findConversation(inbound));
      if (repeat) return repeat;
      const hit = await cached;
      const stored = await store.messages.acceptInbound(inbound, { text, turnOwner: this.deps.dispatcher.owner, ...external }, hit && { ...hit, latencyMs: Math.round(performance.now() - started) }, created);
      ({ conversation: target, accepted } = stored);
      // A channel that keeps this row (the web channel, per socket) passes it back next time: not a first message then.
      this.#hadMessages.add(target);
      if (stored.answeredFromCache) answeredHit = hit;
      // Looked up already: a hit the statement did not use belongs to a message with history.
      lookup = Promise.resolve(undefined);
    }
    if (!accepted.duplicate) {
      const turn = { message: accepted.message, conversation: target };
      this.deps.events.emit('message.accepted', turn);
      if (turn.message.status === 'human') {
        // The conversation is with a person (decided by the statement that stored it): operators see it, no turn runs.
        this.deps.events.emit('message.held', turn);
      } else if (keyword && this.deps.handoffs) {
        await this.deps.handoffs.request(target, 'keyword', { messageId: turn.message.id, holdMessage: true });
        this.deps.events.emit('message.held', { message: { ...turn.message, status: 'human' }, conversation: { ...target, mode: 'human' } });
      } else if (answeredHit) {
        const outcome = cachedResult(answeredHit, turn.message.latencyMs ?? 0);
        const log = turnLogger(this.deps.logger, turn);
        this.deps.delivery.announceTurn(turn, outcome, log);
        this.deliverAfterAck(turn, outcome, log);
      } else {
        const answered = accepted.firstInConversation && (await this.answerFromCache(turn, lookup ?? this.lookUpCache(cacheKey, text)));
        if (!answered) await this.deps.dispatcher.dispatch(turn.message.id, target.workspaceId);
      }
    }
    return { messageId: accepted.message.id, conversationId: target.id, duplicate: accepted.duplicate, conversation: target };
  }

  /** The stored reply of a message accepted earlier (a resent web message gets it again). */
  findReply(messageId: string): Promise<Message | undefined> {
    return this.deps.store.messages.findReply(messageId);
  }

  /** Delivery of a reply stored during `accept`: after the acknowledgement, which the channel sends once `accept` resolves. */
  private deliverAfterAck(turn: TurnSubject, outcome: TurnResult, log: Logger): void {
    void this.deps.inFlight.track(new Promise((resolve) => setImmediate(resolve)).then(() => this.deps.delivery.deliverTurn(turn, outcome, log)));
  }

  /**
   * Takes one message from the sender's IP budget (web), the person's and the global budget,
   * in one call. Over the person's or the global limit, a channel's retry of a message already
   * accepted is a duplicate, not a new message: it is acknowledged as such (returned) instead of
   * earning the person a rate-limit notice. Looked up only on that path, so the common case pays
   * nothing; a message refused per IP is refused without a lookup (a flood costs no reads).
   */
  private async consumeBudget(
    person: { workspaceId: string; channel: string; externalUserId: string },
    ip: string | undefined,
    externalMessageId: string | undefined,
    conversationOf: () => Promise<Conversation | undefined>,
  ): Promise<AcceptResult | undefined> {
    try {
      if (this.deps.limiter) await this.deps.limiter.consume(this.budgetsOf(person, ip));
      return undefined;
    } catch (error) {
      if (error instanceof RateLimitedError && error.scope === 'ip') throw error;
      const conversation = externalMessageId ? await conversationOf() : undefined;
      const repeat = conversation ? await this.deps.store.messages.findByExternalId(conversation.id, externalMessageId!) : undefined;
      if (!repeat) throw error;
      return { messageId: repeat.id, conversationId: conversation!.id, duplicate: true, conversation: conversation! };
    }
  }

  /**
   * The budgets a message draws from. The deployment's workspace keeps its keys as before
   * workspaces; another workspace's person, IP and "global" budgets are its own (the same phone
   * number in two workspaces is two people, and one busy workspace never spends another's
   * budget), at its own limits when it sets them.
   */
  private budgetsOf(person: { workspaceId: string; channel: string; externalUserId: string }, ip: string | undefined): RateLimitCheck[] {
    const workspace = person.workspaceId;
    const isDefault = workspace === DEFAULT_WORKSPACE_ID;
    const scope = isDefault ? '' : `${workspace}:`;
    // The workspace's own limits (the default's too, when set in the console); the deployment's otherwise.
    const limits = this.deps.limits?.(workspace);
    return [
      ...(ip !== undefined ? [{ scope: 'ip' as const, key: `${scope}${ip}`, points: limits?.ipPerMinute }] : []),
      { scope: 'user', key: `${scope}${person.channel}:${person.externalUserId}`, points: limits?.userPerMinute },
      { scope: 'global', key: isDefault ? 'all' : `ws:${workspace}` },
    ];
  }

  /** The cached answer to a first message with this text; a miss when the cache is off or unreadable. */
  private async lookUpCache(cacheKey: WorkspaceTurn['cacheKey'], text: string): Promise<CachedReply | undefined> {
    return cacheKey ? this.deps.cache!.get(cacheKey(text)) : undefined;
  }

  /**
   * A first message whose answer is in the reply cache is answered here, without a
   * queue hop or a model call: the reply is stored before `accept` resolves (so it is
   * as durable as a queued job), and delivered right after the channel's acknowledgement.
   * Returns false on a miss, or when storing failed (the queue then runs the turn).
   */
  private async answerFromCache(turn: TurnSubject, lookup: Promise<CachedReply | undefined>): Promise<boolean> {
    const started = performance.now();
    const hit = await lookup;
    if (!hit) return false;
    const log = turnLogger(this.deps.logger, turn);
    const outcome = cachedResult(hit, Math.round(performance.now() - started));
    try {
      if (!(await this.deps.delivery.recordTurn(turn, outcome, log))) return true;
    } catch (error) {
      log.warn({ err: error }, 'cached reply could not be stored; queueing the turn');
      return false;
    }
    this.deliverAfterAck(turn, outcome, log);
    return true;
  }
}
