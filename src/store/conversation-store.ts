import { and, desc, eq, getTableColumns, inArray, lt, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { Db } from './database.js';
import { prepareRows } from './rows.js';
import { SwitchboardError } from '../errors/index.js';
import {
  conversations,
  messages,
  toolCalls,
  type Conversation,
  type FollowUpStatus,
  type Message,
  type MessageStatus,
  type ToolCall,
  type ToolCallStatus,
} from './schema.js';

export interface ConversationIdentity {
  channel: string;
  externalUserId: string;
  threadKey?: string;
}

export interface AcceptedMessage {
  message: Message;
  /** True when this external message id was already accepted: do not answer it again. */
  duplicate: boolean;
  /** True when nothing came before it in its conversation (the reply cache answers only such messages). */
  firstInConversation: boolean;
}

/** A reply-cache hit to store as a first message's answer. */
export interface CachedAnswer {
  text: string;
  provider: string;
  model: string;
  latencyMs: number;
}

/** The reply a completed turn stored. */
export interface CompletedTurn {
  replyId: string;
}

export interface TurnOutcome {
  status: Extract<MessageStatus, 'answered' | 'fallback' | 'failed'>;
  text: string;
  provider: string | null;
  model: string | null;
  cached: boolean;
  fallback: boolean;
  fallbackReason: string | null;
  attempts: unknown;
  latencyMs: number;
  inputTokens: number | null;
  outputTokens: number | null;
  /** `pending` marks a fallback-answered message for a proper answer once a provider recovers. */
  followUp?: FollowUpStatus | null;
}

/** The user message's turn already ended (another worker finished it): nothing was written. */
export class TurnAlreadyCompletedError extends SwitchboardError {
  override readonly name = 'TurnAlreadyCompletedError';
  constructor(readonly messageId: string) {
    super('turn_already_completed', `message ${messageId} already has its reply`);
  }
}

export interface HistoryEntry {
  role: 'user' | 'assistant';
  text: string;
}

/** A conversations row as raw SQL returns it (timestamps as text from postgres.js, Date from PGlite). */
interface RawConversation {
  id: string;
  channel: string;
  external_user_id: string;
  thread_key: string;
  token_hash: string | null;
  created_at: string | Date;
  updated_at: string | Date;
}

function toConversation(row: RawConversation): Conversation {
  return {
    id: row.id,
    channel: row.channel,
    externalUserId: row.external_user_id,
    threadKey: row.thread_key,
    tokenHash: row.token_hash,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** At most this many earlier messages are read for a turn's history (then trimmed to the size budget). */
const HISTORY_ROWS = 200;

/** A history row as the database returns it, newest first. */
interface RawHistoryRow {
  role: 'user' | 'assistant';
  text: string;
  fallback: boolean;
}

/**
 * Newest turns kept first, trimmed to `charBudget` characters, returned oldest first.
 * Fallback replies are left out (the question stays): they say nothing and would only
 * teach the model to apologise.
 */
function trimHistory(newestFirst: RawHistoryRow[], charBudget: number): HistoryEntry[] {
  const kept: HistoryEntry[] = [];
  let used = 0;
  for (const row of newestFirst) {
    if (row.fallback && row.role === 'assistant') continue;
    used += row.text.length;
    if (used > charBudget) break;
    kept.push({ role: row.role, text: row.text });
  }
  kept.reverse();
  // Providers expect the history to open with a user turn.
  while (kept[0]?.role === 'assistant') kept.shift();
  return kept;
}

/**
 * The statements every message runs, built once: drizzle then only fills in the
 * parameters instead of assembling the SQL again on each call (its query building was
 * the largest share of the server's CPU per message).
 */
function prepareHotStatements(db: Db) {
  const placeholder = sql.placeholder;
  return {
    acceptMessage: db
      .insert(messages)
      .values({
        id: placeholder('id'),
        conversationId: placeholder('conversationId'),
        role: 'user',
        text: placeholder('text'),
        status: 'received',
        externalMessageId: placeholder('externalMessageId'),
        createdAt: placeholder('createdAt'),
      })
      .onConflictDoNothing({
        target: [messages.conversationId, messages.externalMessageId],
        where: sql`${messages.externalMessageId} is not null`,
      })
      // RETURNING sees the table as it was before this statement, so this asks, in the
      // same round trip, whether anything came before the new row.
      .returning({
        ...getTableColumns(messages),
        hasEarlier: sql<boolean>`exists (select 1 from messages as earlier where earlier.conversation_id = ${placeholder('conversationId')})`,
      })
      .prepare('accept_message'),
    startTurn: db
      .update(messages)
      .set({ status: 'processing', updatedAt: sql`${placeholder('now')}::timestamptz` })
      .from(conversations)
      .where(
        and(
          eq(messages.id, placeholder('id')),
          eq(messages.role, 'user'),
          inArray(messages.status, ['received', 'processing']),
          eq(conversations.id, messages.conversationId),
        ),
      )
      .returning({
        ...getTableColumns(messages),
        conversationChannel: conversations.channel,
        conversationExternalUserId: conversations.externalUserId,
        conversationThreadKey: conversations.threadKey,
        conversationTokenHash: conversations.tokenHash,
        conversationCreatedAt: conversations.createdAt,
        conversationUpdatedAt: conversations.updatedAt,
      })
      .prepare('start_turn'),
    loadHistory: db
      .select({ role: messages.role, text: messages.text, fallback: messages.fallback })
      .from(messages)
      .where(
        and(
          eq(messages.conversationId, placeholder('conversationId')),
          lt(messages.createdAt, sql`${placeholder('before')}::timestamptz`),
        ),
      )
      .orderBy(desc(messages.createdAt))
      .limit(HISTORY_ROWS)
      .prepare('load_history'),
    // The history before a message, found by the message's id alone, so a turn can read it
    // while its start is being written (see startTurn).
    loadHistoryBefore: db
      .select({ role: messages.role, text: messages.text, fallback: messages.fallback })
      .from(messages)
      .where(
        // Scalar subqueries, not a join: their values bound the index scan, which then reads the
        // newest rows in order and stops at the limit (a self-join read the whole conversation
        // and sorted it).
        and(
          sql`${messages.conversationId} = (select turn.conversation_id from messages turn where turn.id = ${placeholder('id')})`,
          sql`${messages.createdAt} < (select turn.created_at from messages turn where turn.id = ${placeholder('id')})`,
        ),
      )
      .orderBy(desc(messages.createdAt))
      .limit(HISTORY_ROWS)
      .prepare('load_history_before'),
    findOrCreateConversation: prepareRows<RawConversation>(
      db,
      'find_or_create_conversation',
      sql`with created as (
            insert into conversations (id, channel, external_user_id, thread_key)
            values (${placeholder('id')}::uuid, ${placeholder('channel')}, ${placeholder('externalUserId')}, ${placeholder('threadKey')})
            on conflict (channel, external_user_id, thread_key) do nothing
            returning *
          )
          select * from created
          union all
          select * from conversations
          where channel = ${placeholder('channel')} and external_user_id = ${placeholder('externalUserId')}
            and thread_key = ${placeholder('threadKey')}
            and not exists (select 1 from created)`,
    ),
    // See acceptInbound.
    acceptInbound: prepareRows<RawConversation & { inserted: boolean; answered: boolean; has_earlier: boolean }>(
      db,
      'accept_inbound',
      // A conversation created here has no earlier messages, so a cached answer is used: it is
      // inserted already touched (`updated_at`) rather than updated after, which would write a
      // second row version and all six of its index entries again.
      sql`with created as (
            insert into conversations (id, channel, external_user_id, thread_key, updated_at)
            values (${placeholder('conversationId')}::uuid, ${placeholder('channel')}, ${placeholder('externalUserId')}, ${placeholder('threadKey')},
                    case when ${placeholder('hasAnswer')}::boolean then ${placeholder('at')}::timestamptz else now() end)
            on conflict (channel, external_user_id, thread_key) do nothing
            returning *
          ), conversation as (
            select * from created
            union all
            select * from conversations
            where channel = ${placeholder('channel')} and external_user_id = ${placeholder('externalUserId')}
              and thread_key = ${placeholder('threadKey')}
              and not exists (select 1 from created)
          ), turn as (
            -- the statement's snapshot predates its own inserts: this sees earlier messages only
            select c.id as conversation_id,
                   not exists (select 1 from messages earlier where earlier.conversation_id = c.id) as first,
                   ${placeholder('hasAnswer')}::boolean
                     and not exists (select 1 from messages earlier where earlier.conversation_id = c.id) as answered
            from conversation c
          ), message as (
            insert into messages (id, conversation_id, role, text, status, external_message_id, provider, model, cached,
                                  attempts, latency_ms, created_at, updated_at)
            select ${placeholder('messageId')}::uuid, t.conversation_id, 'user', ${placeholder('text')},
                   case when t.answered then 'answered' else 'received' end, ${placeholder('externalMessageId')},
                   case when t.answered then ${placeholder('answerProvider')}::text end,
                   case when t.answered then ${placeholder('answerModel')}::text end,
                   t.answered,
                   case when t.answered then '[]'::jsonb end,
                   case when t.answered then ${placeholder('answerLatencyMs')}::integer end,
                   ${placeholder('at')}::timestamptz, ${placeholder('at')}::timestamptz
            from turn t
            on conflict (conversation_id, external_message_id) where external_message_id is not null do nothing
            returning id, status
          ), reply as (
            insert into messages (id, conversation_id, role, text, status, reply_to_id, provider, model, cached, attempts,
                                  latency_ms, created_at, updated_at)
            select ${placeholder('answerId')}::uuid, t.conversation_id, 'assistant', ${placeholder('answerText')}::text, 'answered', m.id,
                   ${placeholder('answerProvider')}::text, ${placeholder('answerModel')}::text, true, '[]'::jsonb,
                   ${placeholder('answerLatencyMs')}::integer,
                   -- strictly after the user message, so history order is stable
                   ${placeholder('at')}::timestamptz + interval '1 millisecond', ${placeholder('at')}::timestamptz
            from message m cross join turn t
            where m.status = 'answered'
            returning id
          ), touched as (
            update conversations set updated_at = ${placeholder('at')}::timestamptz
            where id in (select conversation_id from turn) and exists (select 1 from reply) and not exists (select 1 from created)
          )
          select c.*, exists (select 1 from message) as inserted, exists (select 1 from reply) as answered,
                 not t.first as has_earlier
          from conversation c cross join turn t`,
    ),
    // See completeTurn.
    completeTurn: prepareRows<{ id: string }>(
      db,
      'complete_turn',
      sql`with closed as (
            update messages set
              status = ${placeholder('status')}, provider = ${placeholder('provider')}, model = ${placeholder('model')},
              cached = ${placeholder('cached')}, fallback = ${placeholder('fallback')}, fallback_reason = ${placeholder('fallbackReason')},
              attempts = ${placeholder('attempts')}::jsonb, latency_ms = ${placeholder('latencyMs')},
              follow_up = ${placeholder('followUp')}, updated_at = ${placeholder('now')}::timestamptz
            where id = ${placeholder('messageId')} and status in ('received', 'processing')
            returning id, conversation_id, created_at
          ), reply as (
            insert into messages (id, conversation_id, role, text, status, reply_to_id, provider, model, cached, fallback,
                                  fallback_reason, attempts, latency_ms, input_tokens, output_tokens, created_at, updated_at)
            select ${placeholder('replyId')}::uuid, conversation_id, 'assistant', ${placeholder('text')}, ${placeholder('status')}, id,
                   ${placeholder('provider')}, ${placeholder('model')}, ${placeholder('cached')}, ${placeholder('fallback')},
                   ${placeholder('fallbackReason')}, ${placeholder('attempts')}::jsonb, ${placeholder('latencyMs')},
                   ${placeholder('inputTokens')}::integer, ${placeholder('outputTokens')}::integer,
                   -- strictly after the user message even when clocks tie, so history order is stable
                   greatest(${placeholder('now')}::timestamptz, created_at + interval '1 millisecond'), ${placeholder('now')}::timestamptz
            from closed
            returning id
          ), touched as (
            update conversations set updated_at = ${placeholder('now')}::timestamptz where id in (select conversation_id from closed)
          )
          select id from reply`,
    ),
  };
}

/** Every read and write the message pipeline makes, in one place, over drizzle. */
export class ConversationStore {
  readonly #hot: ReturnType<typeof prepareHotStatements>;

  constructor(private readonly db: Db) {
    this.#hot = prepareHotStatements(db);
  }

  async createConversation(identity: ConversationIdentity & { id?: string; tokenHash?: string }): Promise<Conversation> {
    const [row] = await this.db
      .insert(conversations)
      .values({
        id: identity.id ?? randomUUID(),
        channel: identity.channel,
        externalUserId: identity.externalUserId,
        threadKey: identity.threadKey ?? '',
        tokenHash: identity.tokenHash ?? null,
      })
      .returning();
    return row!;
  }

  /**
   * One conversation per channel identity, created on first contact; safe under concurrent
   * first messages. One statement either way: the insert, or (on conflict) the existing row.
   */
  async findOrCreateConversation(identity: ConversationIdentity): Promise<Conversation> {
    const [row] = await this.#hot.findOrCreateConversation({
      id: randomUUID(),
      channel: identity.channel,
      externalUserId: identity.externalUserId,
      threadKey: identity.threadKey ?? '',
    });
    if (row) return toConversation(row);
    // Another transaction inserted the same identity and had not committed when this
    // statement's snapshot was taken: it is visible now.
    return (await this.findConversation(identity))!;
  }

  /**
   * First contact and message in one round trip, for channels that know a person by
   * identity (Slack, SMS, WhatsApp): finds or creates the conversation and stores the
   * message as `received`, as findOrCreateConversation then acceptMessage would.
   *
   * With `cachedAnswer` (a reply-cache hit for this text), a message that turns out to be
   * the first of its conversation is stored already answered, with that answer as its
   * reply, in the same statement: one commit for the whole turn. Any other message is
   * stored as `received` and the cached answer is not used.
   */
  async acceptInbound(
    identity: ConversationIdentity,
    input: { text: string; externalMessageId?: string },
    cachedAnswer?: CachedAnswer,
  ): Promise<{ conversation: Conversation; accepted: AcceptedMessage; answeredFromCache: boolean }> {
    const threadKey = identity.threadKey ?? '';
    const now = new Date();
    const at = now.toISOString();
    const message: Message = {
      id: randomUUID(),
      conversationId: '',
      role: 'user',
      text: input.text,
      status: 'received',
      externalMessageId: input.externalMessageId ?? null,
      replyToId: null,
      provider: null,
      model: null,
      cached: false,
      fallback: false,
      fallbackReason: null,
      attempts: null,
      latencyMs: null,
      inputTokens: null,
      outputTokens: null,
      followUp: null,
      createdAt: now,
      updatedAt: now,
    };
    const answer = cachedAnswer ?? null;
    const [row] = await this.#hot.acceptInbound({
      conversationId: randomUUID(),
      channel: identity.channel,
      externalUserId: identity.externalUserId,
      threadKey,
      messageId: message.id,
      text: message.text,
      externalMessageId: message.externalMessageId,
      at,
      hasAnswer: answer !== null,
      answerId: randomUUID(),
      answerText: answer?.text ?? null,
      answerProvider: answer?.provider ?? null,
      answerModel: answer?.model ?? null,
      answerLatencyMs: answer?.latencyMs ?? null,
    });
    if (!row) {
      // Another transaction created this identity's conversation after this statement's
      // snapshot was taken: it is visible to the next one (and the cache is not used).
      const conversation = await this.findOrCreateConversation(identity);
      const accepted = await this.acceptMessage({ conversationId: conversation.id, ...input });
      return { conversation, accepted, answeredFromCache: false };
    }
    const conversation = toConversation(row);
    if (row.inserted) {
      const stored: Message = row.answered
        ? {
            ...message,
            conversationId: conversation.id,
            status: 'answered',
            provider: answer!.provider,
            model: answer!.model,
            cached: true,
            attempts: [],
            latencyMs: answer!.latencyMs,
          }
        : { ...message, conversationId: conversation.id };
      return {
        conversation,
        accepted: { message: stored, duplicate: false, firstInConversation: !row.has_earlier },
        answeredFromCache: row.answered,
      };
    }
    const existing = await this.findByExternalId(conversation.id, input.externalMessageId!);
    return { conversation, accepted: { message: existing!, duplicate: true, firstInConversation: false }, answeredFromCache: false };
  }

  /** The conversation of a channel identity, if it has one (no creation). */
  async findConversation(identity: ConversationIdentity): Promise<Conversation | undefined> {
    const [row] = await this.db
      .select()
      .from(conversations)
      .where(
        and(
          eq(conversations.channel, identity.channel),
          eq(conversations.externalUserId, identity.externalUserId),
          eq(conversations.threadKey, identity.threadKey ?? ''),
        ),
      );
    return row;
  }

  async findConversationByTokenHash(tokenHash: string): Promise<Conversation | undefined> {
    const [row] = await this.db.select().from(conversations).where(eq(conversations.tokenHash, tokenHash));
    return row;
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    const [row] = await this.db.select().from(conversations).where(eq(conversations.id, id));
    return row;
  }

  /**
   * Stores an inbound user message as `received`. A repeated external id in the
   * same conversation returns the first row, flagged duplicate, and stores nothing.
   */
  async acceptMessage(input: { conversationId: string; text: string; externalMessageId?: string }): Promise<AcceptedMessage> {
    const [inserted] = await this.#hot.acceptMessage.execute({
      id: randomUUID(),
      conversationId: input.conversationId,
      text: input.text,
      externalMessageId: input.externalMessageId ?? null,
      // The app clock orders a turn's rows (see completeTurn), so both sides use it.
      createdAt: new Date(),
    });
    if (inserted) {
      const { hasEarlier, ...message } = inserted;
      return { message, duplicate: false, firstInConversation: !hasEarlier };
    }
    const [existing] = await this.db
      .select()
      .from(messages)
      .where(
        and(eq(messages.conversationId, input.conversationId), eq(messages.externalMessageId, input.externalMessageId!)),
      );
    return { message: existing!, duplicate: true, firstInConversation: false };
  }

  /** The message a channel already delivered under this id, if any. */
  async findByExternalId(conversationId: string, externalMessageId: string): Promise<Message | undefined> {
    const [row] = await this.db
      .select()
      .from(messages)
      .where(and(eq(messages.conversationId, conversationId), eq(messages.externalMessageId, externalMessageId)));
    return row;
  }

  async getMessage(id: string): Promise<Message | undefined> {
    const [row] = await this.db.select().from(messages).where(eq(messages.id, id));
    return row;
  }

  /**
   * Opens the turn of a stored user message (`processing`) and returns it with its
   * conversation (one statement) and its history (as loadHistory trims it; read alongside, in
   * the same round trip time); undefined when it is not an open user message (its turn already
   * ended, e.g. a redelivered job).
   */
  async startTurn(
    messageId: string,
    historyCharBudget: number,
  ): Promise<{ message: Message; conversation: Conversation; history: HistoryEntry[] } | undefined> {
    // Both at once (two pooled connections): the history read does not wait for the start's
    // commit, and the start only touches this message, which is not part of its own history.
    const [[row], history] = await Promise.all([
      this.#hot.startTurn.execute({ id: messageId, now: new Date().toISOString() }),
      this.#hot.loadHistoryBefore.execute({ id: messageId }),
    ]);
    if (!row) return undefined;
    const {
      conversationChannel,
      conversationExternalUserId,
      conversationThreadKey,
      conversationTokenHash,
      conversationCreatedAt,
      conversationUpdatedAt,
      ...message
    } = row;
    return {
      message,
      conversation: {
        id: message.conversationId,
        channel: conversationChannel,
        externalUserId: conversationExternalUserId,
        threadKey: conversationThreadKey,
        tokenHash: conversationTokenHash,
        createdAt: conversationCreatedAt,
        updatedAt: conversationUpdatedAt,
      },
      history: trimHistory(history, historyCharBudget),
    };
  }

  async setMessageStatus(id: string, status: MessageStatus): Promise<void> {
    await this.db.update(messages).set({ status, updatedAt: new Date() }).where(eq(messages.id, id));
  }

  /** The assistant reply of a user message, if the turn has finished. */
  async findReply(userMessageId: string): Promise<Message | undefined> {
    const [row] = await this.db
      .select()
      .from(messages)
      .where(and(eq(messages.replyToId, userMessageId), eq(messages.role, 'assistant')))
      .orderBy(desc(messages.createdAt))
      .limit(1);
    return row;
  }

  /**
   * The conversation before `beforeMessage`, trimmed to `charBudget` characters and
   * returned oldest first (see trimHistory).
   */
  async loadHistory(conversationId: string, beforeMessage: Message, charBudget: number): Promise<HistoryEntry[]> {
    const rows = await this.#hot.loadHistory.execute({ conversationId, before: beforeMessage.createdAt.toISOString() });
    return trimHistory(rows, charBudget);
  }

  /**
   * Writes the reply and closes the ledger entry of the user message, atomically: one
   * statement (data-modifying CTEs), so one round trip instead of a transaction's six.
   * Only an open entry (received / processing) can be closed, so a turn that ran twice
   * (a redelivered queue job) stores one reply: the second gets TurnAlreadyCompletedError.
   */
  async completeTurn(userMessage: Message, outcome: TurnOutcome): Promise<CompletedTurn> {
    const now = new Date().toISOString();
    const attempts = outcome.attempts === undefined || outcome.attempts === null ? null : JSON.stringify(outcome.attempts);
    const [reply] = await this.#hot.completeTurn({
      messageId: userMessage.id,
      replyId: randomUUID(),
      status: outcome.status,
      text: outcome.text,
      provider: outcome.provider,
      model: outcome.model,
      cached: outcome.cached,
      fallback: outcome.fallback,
      fallbackReason: outcome.fallbackReason,
      attempts,
      latencyMs: outcome.latencyMs,
      inputTokens: outcome.inputTokens,
      outputTokens: outcome.outputTokens,
      followUp: outcome.followUp ?? null,
      now,
    });
    if (!reply) throw new TurnAlreadyCompletedError(userMessage.id);
    return { replyId: reply.id };
  }

  async findToolCallByIdempotencyKey(key: string): Promise<ToolCall | undefined> {
    const [row] = await this.db.select().from(toolCalls).where(eq(toolCalls.idempotencyKey, key));
    return row;
  }

  /** Records a tool call before it runs; returns undefined when the same key is already recorded. */
  async startToolCall(input: {
    conversationId: string;
    messageId: string;
    callId: string;
    toolName: string;
    arguments: unknown;
    status: ToolCallStatus;
    provider: string | null;
    model: string | null;
    step: number;
    idempotencyKey: string;
  }): Promise<ToolCall | undefined> {
    const [row] = await this.db
      .insert(toolCalls)
      .values({ id: randomUUID(), ...input })
      .onConflictDoNothing({ target: toolCalls.idempotencyKey })
      .returning();
    return row;
  }

  async finishToolCall(
    id: string,
    outcome: { status: ToolCallStatus; result?: unknown; error?: string | null; durationMs: number },
  ): Promise<void> {
    await this.db
      .update(toolCalls)
      .set({
        status: outcome.status,
        result: outcome.result ?? null,
        error: outcome.error ?? null,
        durationMs: outcome.durationMs,
        completedAt: new Date(),
      })
      .where(eq(toolCalls.id, id));
  }

  async listMessages(conversationId: string): Promise<Message[]> {
    return this.db.select().from(messages).where(eq(messages.conversationId, conversationId)).orderBy(messages.createdAt);
  }

  async listToolCalls(conversationId: string): Promise<ToolCall[]> {
    return this.db.select().from(toolCalls).where(eq(toolCalls.conversationId, conversationId)).orderBy(toolCalls.createdAt);
  }
}
