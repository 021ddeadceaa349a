import { setMaxListeners } from 'node:events';
import { runAgentTurn, type AgentTurnResult } from '../agent/agent.js';
import type { ChatMessage } from '../agent/chat-model.js';
import { AllProvidersFailedError, type ModelChain } from '../agent/model-chain.js';
import {
  TurnAlreadyCompletedError,
  type AcceptedMessage,
  type ConversationStore,
  type HistoryEntry,
  type TurnOutcome,
} from '../store/conversation-store.js';
import type { Conversation, Message } from '../store/schema.js';
import { SwitchboardError } from '../errors/index.js';
import { deferredChild, type Logger } from '../observability/logger.js';
import { InProcessTurnQueue } from '../infra/in-process-turn-queue.js';
import type { LedgerStore } from '../store/ledger-store.js';
import type { TurnHandlers, TurnQueue } from '../infra/turn-queue.js';
import type { RateLimiter } from '../infra/rate-limiter.js';
import { responseCacheKeyer, type CachedReply, type ResponseCache } from '../infra/response-cache.js';
import type { ToolExecutor } from '../tools/tool-executor.js';
import type { ToolRegistry } from '../tools/tool-registry.js';
import { DeltaCoalescer } from './delta-coalescer.js';
import { inboundMessageSchema, type InboundMessage } from './inbound-message.js';
import type { PipelineEvents } from '../observability/events.js';
import type { ReplyTarget, ReplyTransport } from './reply-transport.js';

export interface PipelineSettings {
  systemPrompt: string;
  maxToolSteps: number;
  maxMessageChars: number;
  historyCharBudget: number;
  maxOutputTokens: number;
  /** Reply text deltas are joined and sent at most this often (after the first, sent at once); 0 sends each. */
  streamCoalesceMs?: number;
  fallbackReply: string;
  /** Per-channel fallback text; channels not listed get `fallbackReply`. */
  fallbackReplyByChannel?: Record<string, string>;
  /** Answer fallback-answered messages properly once a provider recovers (FOLLOW_UP_ENABLED). */
  followUp?: boolean;
}

/** What a turn produced: the ledger record, the tool calls to report, and what to cache once stored. */
interface TurnResult {
  record: TurnOutcome;
  toolCalls: AgentTurnResult['toolCalls'];
  cacheEntry?: { key: string; reply: CachedReply };
}

const FINISHED_STATUSES = new Set(['answered', 'fallback', 'failed']);
/** How long an enqueue may take before the turn runs in-process instead (Redis is likely down). */
const ENQUEUE_TIMEOUT_MS = 2000;

export interface AcceptResult {
  messageId: string;
  conversationId: string;
  duplicate: boolean;
}

/**
 * The channel-agnostic path of a message: validate, store, run the agent turn,
 * store the reply, deliver it through the channel's transport. An accepted message
 * always ends answered, or answered with the fallback reply, and its row says which.
 */
export class MessagePipeline {
  readonly #transports = new Map<string, ReplyTransport>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  readonly #queue: TurnQueue;
  /** Runs turns here when the durable queue cannot take them (Redis down): accepted is never lost. */
  readonly #local: InProcessTurnQueue;
  readonly #handlers: TurnHandlers = {
    run: (messageId) => this.processMessage(messageId),
    exhausted: (messageId, error) => this.failMessage(messageId, error),
  };
  #accepting = true;
  /** Conversation rows a message was accepted for: their next message is not a first one. */
  readonly #hadMessages = new WeakSet<Conversation>();
  /** The reply-cache key of a first message's text (the rest of the key is fixed per process). */
  #cacheKey: ((text: string) => string) | undefined;

  constructor(
    private readonly deps: {
      store: ConversationStore;
      chain: ModelChain;
      tools: ToolRegistry;
      executor: ToolExecutor;
      settings: PipelineSettings;
      logger: Logger;
      events: PipelineEvents;
      /** Durable queue (BullMQ); default: in-process. */
      queue?: TurnQueue;
      cache?: ResponseCache;
      limiter?: RateLimiter;
      ledger?: LedgerStore;
    },
  ) {
    this.#local = deps.queue instanceof InProcessTurnQueue ? deps.queue : new InProcessTurnQueue({ attempts: 3, backoffMs: 1000 }, deps.logger);
    void this.#local.start(this.#handlers);
    this.#queue = deps.queue ?? this.#local;
    this.#cacheKey =
      deps.cache && !deps.chain.isEmpty
        ? responseCacheKeyer({
            systemPrompt: deps.settings.systemPrompt,
            tools: deps.tools.specs(),
            chain: deps.chain.models.map((model) => `${model.provider}:${model.model}`),
          })
        : undefined;
    // Every turn in flight listens on the one shutdown signal (and removes its listener when done).
    setMaxListeners(10_000, this.#abort.signal);
  }

  /** Starts consuming the turn queue. Call once, before accepting messages. */
  async start(): Promise<void> {
    if (this.#queue !== this.#local) await this.#queue.start(this.#handlers);
  }

  get queueKind(): TurnQueue['kind'] {
    return this.#queue.kind;
  }

  /**
   * Re-queues user messages stuck in received/processing since before `olderThanMs`
   * ago (their process died, or their job was lost). Returns how many.
   */
  async recoverStuckMessages(olderThanMs: number): Promise<number> {
    const ledger = this.deps.ledger;
    if (!ledger) return 0;
    const stuck = await ledger.listStuck(new Date(Date.now() - olderThanMs));
    for (const message of stuck) {
      await this.#queue.requeue(message.id).catch((error: unknown) => {
        this.deps.logger.warn({ err: error, messageId: message.id }, 'queue unavailable; recovering in-process');
        return this.#local.requeue(message.id);
      });
    }
    if (stuck.length > 0) this.deps.logger.warn({ count: stuck.length }, 'recovered unfinished messages from the ledger');
    return stuck.length;
  }

  registerTransport(transport: ReplyTransport): void {
    this.#transports.set(transport.channel, transport);
  }

  /** The transport of a channel, for deliveries outside a turn (e.g. the outcome of a confirmed tool call). */
  transportFor(channel: string): ReplyTransport | undefined {
    return this.#transports.get(channel);
  }

  /** Checks the text against the limits; throws a SwitchboardError with a precise code. */
  validateText(text: string): string {
    const trimmed = text.trim();
    if (trimmed.length === 0) throw new SwitchboardError('empty_message', 'message text is empty');
    if (trimmed.length > this.deps.settings.maxMessageChars) {
      throw new SwitchboardError(
        'message_too_long',
        `message is ${trimmed.length} characters; the limit is ${this.deps.settings.maxMessageChars}`,
      );
    }
    return trimmed;
  }

  /**
   * Stores the message and starts its turn. Resolves once the message is durably
   * accepted (the turn continues in the background); a duplicate is acknowledged
   * with the original id and not answered again.
   */
  async accept(input: InboundMessage, conversation?: Conversation): Promise<AcceptResult> {
    if (!this.#accepting) throw new SwitchboardError('shutting_down', 'the server is shutting down; try again shortly');
    const inbound = inboundMessageSchema.parse(input);
    const text = this.validateText(inbound.text);
    const external = inbound.externalMessageId !== undefined ? { externalMessageId: inbound.externalMessageId } : {};
    let target: Conversation;
    let accepted: AcceptedMessage;
    /** The cache answer to use if this turns out to be a first message; undefined: look it up then. */
    let lookup: Promise<CachedReply | undefined> | undefined;
    /** Stored already answered from the cache (identity channels, one statement). */
    let answeredHit: CachedReply | undefined;
    if (conversation || inbound.conversationId) {
      const known = conversation ?? (await this.deps.store.getConversation(inbound.conversationId!));
      if (!known) throw new SwitchboardError('not_found', 'conversation not found');
      const repeat = await this.consumeBudget(known, inbound.externalMessageId, async () => known);
      if (repeat) return repeat;
      target = known;
      // A conversation that never finished a turn (updated_at still equals created_at) and has
      // not been seen here most likely gets its first message now: look the answer up while the
      // message is stored. (A channel that keeps its conversation row, as the web channel does
      // per socket, passes the same object every time; its timestamps are those of the read.)
      if (this.#cacheKey && !this.#hadMessages.has(target) && target.updatedAt.getTime() === target.createdAt.getTime()) {
        lookup = this.lookUpCache(text);
      }
      this.#hadMessages.add(target);
      accepted = await this.deps.store.acceptMessage({ conversationId: target.id, text, ...external });
    } else {
      // Known by identity (Slack, SMS, WhatsApp): the budget is the identity's, so it is
      // checked first; the conversation and the message are then stored in one statement,
      // which also stores a cached answer when the message turns out to be a first one.
      const repeat = await this.consumeBudget(inbound, inbound.externalMessageId, () => this.deps.store.findConversation(inbound));
      if (repeat) return repeat;
      const started = performance.now();
      const hit = await this.lookUpCache(text);
      const stored = await this.deps.store.acceptInbound(
        inbound,
        { text, ...external },
        hit && { ...hit, latencyMs: Math.round(performance.now() - started) },
      );
      ({ conversation: target, accepted } = stored);
      if (stored.answeredFromCache) answeredHit = hit;
      // Looked up already: a hit the statement did not use belongs to a message with history.
      lookup = Promise.resolve(undefined);
    }
    if (!accepted.duplicate) {
      const { message } = accepted;
      this.deps.events.emit('message.accepted', { message, conversation: target });
      if (answeredHit) {
        const outcome = this.cachedOutcome(answeredHit, message.latencyMs ?? 0);
        const log = this.turnLogger(message, target);
        this.announce(message, target, outcome, log);
        this.deliverAfterAck(message, target, outcome, log);
      } else {
        const answered = accepted.firstInConversation && (await this.answerFromCache(message, target, lookup ?? this.lookUpCache(text)));
        if (!answered) await this.dispatch(message.id);
      }
    }
    return { messageId: accepted.message.id, conversationId: target.id, duplicate: accepted.duplicate };
  }

  private turnLogger(message: Message, conversation: Conversation): Logger {
    return deferredChild(this.deps.logger, { messageId: message.id, conversationId: conversation.id, channel: conversation.channel });
  }

  /** Delivery of a reply stored during `accept`: after the acknowledgement, which the channel sends once `accept` resolves. */
  private deliverAfterAck(message: Message, conversation: Conversation, outcome: TurnResult, log: Logger): void {
    void this.track(new Promise((resolve) => setImmediate(resolve)).then(() => this.deliver(message, conversation, outcome, log)));
  }

  /**
   * Takes one message from the person's and the global budget. Over the limit, a
   * channel's retry of a message already accepted is a duplicate, not a new message: it
   * is acknowledged as such (returned) instead of earning the person a rate-limit notice.
   * Looked up only on that path, so the common case pays nothing.
   */
  private async consumeBudget(
    person: { channel: string; externalUserId: string },
    externalMessageId: string | undefined,
    conversationOf: () => Promise<Conversation | undefined>,
  ): Promise<AcceptResult | undefined> {
    try {
      await this.deps.limiter?.consume([
        { scope: 'user', key: `${person.channel}:${person.externalUserId}` },
        { scope: 'global', key: 'all' },
      ]);
      return undefined;
    } catch (error) {
      const conversation = externalMessageId ? await conversationOf() : undefined;
      const repeat = conversation ? await this.deps.store.findByExternalId(conversation.id, externalMessageId!) : undefined;
      if (!repeat) throw error;
      return { messageId: repeat.id, conversationId: conversation!.id, duplicate: true };
    }
  }

  private cachedOutcome(hit: CachedReply, latencyMs: number): TurnResult {
    return {
      record: {
        status: 'answered',
        text: hit.text,
        provider: hit.provider,
        model: hit.model,
        cached: true,
        fallback: false,
        fallbackReason: null,
        attempts: [],
        latencyMs,
        inputTokens: null,
        outputTokens: null,
      },
      toolCalls: [],
    };
  }

  /** The cached answer to a first message with this text; a miss when the cache is off or unreadable. */
  private async lookUpCache(text: string): Promise<CachedReply | undefined> {
    return this.#cacheKey ? this.deps.cache!.get(this.#cacheKey(text)) : undefined;
  }

  /**
   * A first message whose answer is in the reply cache is answered here, without a
   * queue hop or a model call: the reply is stored before `accept` resolves (so it is
   * as durable as a queued job), and delivered right after the channel's acknowledgement.
   * Returns false on a miss, or when storing failed (the queue then runs the turn).
   */
  private async answerFromCache(
    message: Message,
    conversation: Conversation,
    lookup: Promise<CachedReply | undefined>,
  ): Promise<boolean> {
    const started = performance.now();
    const hit = await lookup;
    if (!hit) return false;
    const log = this.turnLogger(message, conversation);
    const outcome = this.cachedOutcome(hit, Math.round(performance.now() - started));
    try {
      if (!(await this.record(message, conversation, outcome, log))) return true;
    } catch (error) {
      log.warn({ err: error }, 'cached reply could not be stored; queueing the turn');
      return false;
    }
    this.deliverAfterAck(message, conversation, outcome, log);
    return true;
  }

  /** Stops accepting new messages and waits for turns in flight; after `timeoutMs` they are aborted. */
  async drain(timeoutMs: number): Promise<void> {
    this.#accepting = false;
    const timer = setTimeout(() => this.#abort.abort(new SwitchboardError('shutting_down', 'shutdown timeout')), timeoutMs);
    // The worker stops taking jobs; jobs not started stay queued for the next instance.
    await this.#queue.drain(timeoutMs);
    await this.#local.drain(timeoutMs);
    await Promise.allSettled([...this.#inFlight]);
    clearTimeout(timer);
    await this.#queue.close();
  }

  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => {},
      () => {},
    );
    this.#inFlight.add(settled);
    void settled.finally(() => this.#inFlight.delete(settled));
    return work;
  }

  private async dispatch(messageId: string): Promise<void> {
    if (this.#queue === this.#local) return this.#local.enqueue(messageId);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#queue.enqueue(messageId),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`enqueue took over ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
        }),
      ]);
    } catch (error) {
      // The message is stored; run it here rather than make the person wait for Redis.
      this.deps.logger.warn({ err: error, messageId }, 'turn queue unavailable; running the turn in-process');
      await this.#local.enqueue(messageId);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One turn of a stored user message, as the queue runs it. A message whose ledger
   * entry is already closed is skipped, and closing it is conditional, so a job that
   * runs twice (a redelivery after a crash) answers once. Throws only on failures
   * worth a retry (the database); provider failures end in the fallback reply.
   */
  processMessage(messageId: string): Promise<void> {
    return this.track(this.runTurn(messageId));
  }

  private async runTurn(messageId: string): Promise<void> {
    const { store, settings } = this.deps;
    const started = performance.now();
    // Opening the turn (which returns the message and its conversation) and reading its
    // history take one round trip; a finished message is skipped.
    const opened = await store.startTurn(messageId, settings.historyCharBudget);
    if (!opened) return;
    const { message, conversation, history } = opened;
    const log = this.turnLogger(message, conversation);
    const transport = this.#transports.get(conversation.channel);
    const target: ReplyTarget = { conversation, messageId: message.id };
    const outcome = await this.produceReply(message, conversation, history, target, transport, started, log);
    await this.finish(message, conversation, outcome, log);
  }

  /** The queue gave up on a message: it still ends with the fallback reply, marked failed. */
  private async failMessage(messageId: string, error: unknown): Promise<void> {
    const { store, logger } = this.deps;
    const log = logger.child({ messageId });
    log.error({ err: error }, 'turn failed after every retry; answering with the fallback reply');
    const message = await store.getMessage(messageId);
    if (!message || FINISHED_STATUSES.has(message.status)) return;
    const conversation = await store.getConversation(message.conversationId);
    if (!conversation) return;
    const target: ReplyTarget = { conversation, messageId };
    try {
      await this.finish(
        message,
        conversation,
        { record: { ...this.fallbackRecord(conversation, 'turn_failed', [], 0), status: 'failed' }, toolCalls: [] },
        log,
      );
    } catch (finalError) {
      await this.#transports
        .get(conversation.channel)
        ?.failed?.(target, { code: 'internal_error', message: 'the reply could not be produced; please try again' })
        .catch((deliveryError: unknown) => log.error({ err: deliveryError }, 'failure notice not delivered'));
      throw finalError;
    }
  }

  /** Stores the outcome (once) and delivers it; delivery problems are logged, never retried into a second answer. */
  private async finish(message: Message, conversation: Conversation, outcome: TurnResult, log: Logger): Promise<void> {
    if (await this.record(message, conversation, outcome, log)) await this.deliver(message, conversation, outcome, log);
  }

  /** Stores the outcome; false when another run of the same turn already stored one. */
  private async record(message: Message, conversation: Conversation, outcome: TurnResult, log: Logger): Promise<boolean> {
    try {
      await this.deps.store.completeTurn(message, outcome.record);
    } catch (error) {
      if (error instanceof TurnAlreadyCompletedError) {
        log.info('turn already completed elsewhere; not answering twice');
        return false;
      }
      throw error;
    }
    this.announce(message, conversation, outcome, log);
    return true;
  }

  /** A turn's outcome is stored: observers (metrics, admin feed) and the log hear of it. */
  private announce(message: Message, conversation: Conversation, outcome: TurnResult, log: Logger): void {
    this.deps.events.emit('turn.finished', { message, conversation, outcome: outcome.record });
    log.info({ status: outcome.record.status, provider: outcome.record.provider, latencyMs: outcome.record.latencyMs }, 'turn finished');
  }

  private async deliver(message: Message, conversation: Conversation, outcome: TurnResult, log: Logger): Promise<void> {
    const target: ReplyTarget = { conversation, messageId: message.id };
    await this.#transports
      .get(conversation.channel)
      ?.done(target, {
        messageId: message.id,
        text: outcome.record.text,
        fallback: outcome.record.fallback,
        cached: outcome.record.cached,
        toolCalls: outcome.toolCalls,
      })
      .catch((error: unknown) => log.error({ err: error }, 'reply stored but not delivered'));
    // Cached only once stored (an answer that never reached the ledger is never replayed),
    // and after delivery, so the person does not wait for it.
    if (outcome.cacheEntry) await this.deps.cache?.set(outcome.cacheEntry.key, outcome.cacheEntry.reply);
  }

  /**
   * Answers a fallback-answered message properly and delivers it to the same
   * conversation (as a second `done` for the same message id). Returns `unavailable`
   * while every provider still fails, so the caller stops for now.
   */
  async answerFollowUp(message: Message): Promise<'answered' | 'unavailable' | 'skipped'> {
    const { store, ledger } = this.deps;
    if (!ledger) return 'skipped';
    const conversation = await store.getConversation(message.conversationId);
    if (!conversation || !this.deps.settings.followUp) {
      await ledger.skipFollowUp(message.id);
      return 'skipped';
    }
    const log = this.turnLogger(message, conversation);
    const started = performance.now();
    let result: AgentTurnResult;
    try {
      result = await this.runAgent(message, conversation, undefined);
    } catch (error) {
      if (error instanceof AllProvidersFailedError) return 'unavailable';
      throw error;
    }
    const reply = await ledger.completeFollowUp(message, {
      text: result.text,
      provider: result.provider,
      model: result.model,
      attempts: result.attempts,
      latencyMs: Math.round(performance.now() - started),
      inputTokens: result.inputTokens,
      outputTokens: result.outputTokens,
    });
    if (!reply) return 'skipped';
    log.info({ provider: result.provider }, 'follow-up answered');
    const target: ReplyTarget = { conversation, messageId: message.id };
    await this.#transports
      .get(conversation.channel)
      ?.done(target, { messageId: message.id, text: reply.text, fallback: false, cached: false, toolCalls: result.toolCalls })
      .catch((error: unknown) => log.error({ err: error }, 'follow-up stored but not delivered'));
    return 'answered';
  }

  private fallbackRecord(conversation: Conversation, reason: string, attempts: unknown, latencyMs: number): TurnOutcome {
    const { settings } = this.deps;
    return {
      status: 'fallback',
      text: settings.fallbackReplyByChannel?.[conversation.channel] ?? settings.fallbackReply,
      provider: null,
      model: null,
      cached: false,
      fallback: true,
      fallbackReason: reason,
      attempts,
      latencyMs,
      inputTokens: null,
      outputTokens: null,
    };
  }

  private async runAgent(
    message: Message,
    conversation: Conversation,
    stream: { onTextDelta(delta: string): void; onDiscard(): void } | undefined,
    loadedHistory?: HistoryEntry[],
  ): Promise<AgentTurnResult> {
    const { store, chain, tools, executor, settings } = this.deps;
    const history = loadedHistory ?? (await store.loadHistory(conversation.id, message, settings.historyCharBudget));
    return runAgentTurn(chain, {
      system: settings.systemPrompt,
      history: [...history.map((entry): ChatMessage => ({ role: entry.role, content: entry.text })), { role: 'user', content: message.text }],
      // Only the tools this channel's policy allows (the executor refuses the others too).
      tools: tools.specsFor(conversation.channel),
      maxSteps: settings.maxToolSteps,
      maxOutputTokens: settings.maxOutputTokens,
      signal: this.#abort.signal,
      executeTool: (call, context) =>
        executor.execute(call, {
          conversationId: conversation.id,
          messageId: message.id,
          channel: conversation.channel,
          provider: context.provider,
          model: context.model,
          step: context.step,
          signal: this.#abort.signal,
        }),
      stream: {
        onTextDelta: (delta) => stream?.onTextDelta(delta),
        onDiscard: () => stream?.onDiscard(),
      },
    });
  }

  private async produceReply(
    message: Message,
    conversation: Conversation,
    history: HistoryEntry[],
    target: ReplyTarget,
    transport: ReplyTransport | undefined,
    started: number,
    log: Logger,
  ): Promise<TurnResult> {
    const { chain, settings } = this.deps;
    const elapsed = () => Math.round(performance.now() - started);
    const deltas = transport?.delta
      ? new DeltaCoalescer((text) => transport.delta!(target, text), settings.streamCoalesceMs ?? 0)
      : undefined;
    const fallback = (reason: string, attempts: unknown, followUp = false) => {
      deltas?.drop();
      transport?.discard?.(target);
      const record = this.fallbackRecord(conversation, reason, attempts, elapsed());
      return { record: { ...record, followUp: followUp && settings.followUp ? ('pending' as const) : null }, toolCalls: [] };
    };

    if (chain.isEmpty) return fallback('no_provider_configured', []);

    // Only a first message is cacheable: with history, the same words can mean anything.
    // (Cache hits are answered at accept; a turn only stores what it produced.)
    const cacheKey = history.length === 0 ? this.#cacheKey?.(message.text) : undefined;

    const stream = {
      onTextDelta: (delta: string) => deltas?.push(delta),
      onDiscard: () => {
        deltas?.drop();
        transport?.discard?.(target);
      },
    };
    try {
      const result = await this.runAgent(message, conversation, stream, history);
      // Whatever text is still held back goes out before the reply is stored and `done` sent.
      deltas?.flush();
      // An answer that used a tool depends on what the tool saw at the time: never replayed.
      const cacheable = cacheKey !== undefined && result.toolCalls.length === 0 && result.stoppedBy === 'answer' && result.text.length > 0;
      return {
        ...(cacheable && { cacheEntry: { key: cacheKey, reply: { text: result.text, provider: result.provider, model: result.model } } }),
        record: {
          status: 'answered',
          text: result.text,
          provider: result.provider,
          model: result.model,
          cached: false,
          fallback: false,
          fallbackReason: null,
          attempts: result.attempts,
          latencyMs: elapsed(),
          inputTokens: result.inputTokens,
          outputTokens: result.outputTokens,
        },
        toolCalls: result.toolCalls,
      };
    } catch (error) {
      if (error instanceof AllProvidersFailedError) return fallback(error.reason, error.attempts, true);
      // Anything else is our bug or the database; the person still gets an answer.
      log.error({ err: error }, 'agent turn failed unexpectedly');
      return fallback('internal_error', []);
    }
  }
}
