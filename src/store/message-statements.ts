import { and, desc, eq, getTableColumns, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from './database.js';
import type { RawConversation } from './conversations.js';
import { HISTORY_ROWS } from './history.js';
import { prepareRows } from './rows.js';
import { conversations, messages } from './schema.js';

/**
 * The statements every message runs, built once: drizzle then only fills in the
 * parameters instead of assembling the SQL again on each call (its query building was
 * the largest share of the server's CPU per message).
 */
export function prepareMessageStatements(db: Db) {
  const placeholder = sql.placeholder;
  return {
    acceptMessage: db
      .insert(messages)
      .values({
        id: placeholder('id'),
        conversationId: placeholder('conversationId'),
        role: 'user',
        text: placeholder('text'),
        // A conversation with a person takes the message without a turn, decided in this statement
        // (not from a row the channel read earlier, which a takeover may have outdated).
        status: sql`case when exists (select 1 from conversations c where c.id = ${placeholder('conversationId')} and c.mode = 'human') then 'human' else 'received' end`,
        externalMessageId: placeholder('externalMessageId'),
        turnOwner: sql`${placeholder('turnOwner')}::uuid`,
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
      // The instance running the turn in its own process (null: a BullMQ worker, which BullMQ's locks watch).
      .set({ status: 'processing', turnOwner: sql`${placeholder('turnOwner')}::uuid`, updatedAt: sql`${placeholder('now')}::timestamptz` })
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
        conversationWorkspaceId: conversations.workspaceId,
        conversationChannel: conversations.channel,
        conversationExternalUserId: conversations.externalUserId,
        conversationThreadKey: conversations.threadKey,
        conversationTokenHash: conversations.tokenHash,
        conversationMode: conversations.mode,
        conversationCreatedAt: conversations.createdAt,
        conversationUpdatedAt: conversations.updatedAt,
        // RETURNING's subqueries see the row as it was before this statement: `processing` means
        // an earlier run of this turn started (a retry, or a recovery after a crash).
        resumed: sql<boolean>`(select earlier.status = 'processing' from messages as earlier where earlier.id = ${messages.id})`,
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
    // See acceptInbound.
    acceptInbound: prepareRows<RawConversation & { inserted: boolean; answered: boolean; has_earlier: boolean }>(
      db,
      'accept_inbound',
      // A conversation created here has no earlier messages, so a cached answer is used: it is
      // inserted already touched (`updated_at`) rather than updated after, which would write a
      // second row version and all six of its index entries again.
      sql`with created as (
            insert into conversations (id, workspace_id, channel, external_user_id, thread_key, token_hash, updated_at)
            values (${placeholder('conversationId')}::uuid, ${placeholder('workspaceId')}, ${placeholder('channel')}, ${placeholder('externalUserId')}, ${placeholder('threadKey')},
                    ${placeholder('tokenHash')}::text,
                    case when ${placeholder('hasAnswer')}::boolean then ${placeholder('at')}::timestamptz else now() end)
            on conflict (workspace_id, channel, external_user_id, thread_key) do nothing
            returning *
          ), conversation as (
            select * from created
            union all
            select * from conversations
            where workspace_id = ${placeholder('workspaceId')} and channel = ${placeholder('channel')} and external_user_id = ${placeholder('externalUserId')}
              and thread_key = ${placeholder('threadKey')}
              and not exists (select 1 from created)
          ), turn as (
            -- the statement's snapshot predates its own inserts: this sees earlier messages only
            select c.id as conversation_id, c.mode,
                   not exists (select 1 from messages earlier where earlier.conversation_id = c.id) as first,
                   ${placeholder('hasAnswer')}::boolean
                     and not exists (select 1 from messages earlier where earlier.conversation_id = c.id) as answered
            from conversation c
          ), message as (
            insert into messages (id, conversation_id, role, text, status, external_message_id, provider, model, cached,
                                  attempts, latency_ms, turn_owner, created_at, updated_at)
            select ${placeholder('messageId')}::uuid, t.conversation_id, 'user', ${placeholder('text')},
                   case when t.answered then 'answered' when t.mode = 'human' then 'human' else 'received' end, ${placeholder('externalMessageId')},
                   case when t.answered then ${placeholder('answerProvider')}::text end,
                   case when t.answered then ${placeholder('answerModel')}::text end,
                   t.answered,
                   case when t.answered then '[]'::jsonb end,
                   case when t.answered then ${placeholder('answerLatencyMs')}::integer end,
                   ${placeholder('turnOwner')}::uuid, ${placeholder('at')}::timestamptz, ${placeholder('at')}::timestamptz
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
                                  fallback_reason, attempts, latency_ms, input_tokens, output_tokens, cost_usd, created_at, updated_at)
            select ${placeholder('replyId')}::uuid, conversation_id, 'assistant', ${placeholder('text')}, ${placeholder('status')}, id,
                   ${placeholder('provider')}, ${placeholder('model')}, ${placeholder('cached')}, ${placeholder('fallback')},
                   ${placeholder('fallbackReason')}, ${placeholder('attempts')}::jsonb, ${placeholder('latencyMs')},
                   ${placeholder('inputTokens')}::integer, ${placeholder('outputTokens')}::integer, ${placeholder('costUsd')}::double precision,
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
