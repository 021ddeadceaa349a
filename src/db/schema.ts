import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/**
 * The single source of truth for Switchboard's tables. Migrations in ../../drizzle
 * are generated from this file (`npm run db:generate`) and committed.
 */

export const MESSAGE_STATUSES = ['received', 'processing', 'answered', 'fallback', 'failed'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const TOOL_CALL_STATUSES = ['running', 'ok', 'error', 'invalid', 'refused', 'pending', 'declined', 'expired'] as const;
export type ToolCallStatus = (typeof TOOL_CALL_STATUSES)[number];

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
};

export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey(),
    channel: text('channel').notNull(),
    externalUserId: text('external_user_id').notNull(),
    /** Sub-conversation inside one identity, e.g. a Slack thread; '' when the channel has none. */
    threadKey: text('thread_key').notNull().default(''),
    /** sha256 of the web resume token; the token itself is never stored. */
    tokenHash: text('token_hash'),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('conversations_identity_uq').on(table.channel, table.externalUserId, table.threadKey),
    uniqueIndex('conversations_token_hash_uq').on(table.tokenHash),
    index('conversations_updated_at_idx').on(table.updatedAt),
  ],
);

export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['user', 'assistant'] }).notNull(),
    text: text('text').notNull(),
    /** On user messages: the ledger of the turn (received → processing → answered / fallback / failed). */
    status: text('status', { enum: MESSAGE_STATUSES }).notNull(),
    /** The channel's own id for an inbound message (web clientMessageId, Slack event id, Twilio MessageSid): dedupe key. */
    externalMessageId: text('external_message_id'),
    /** On assistant messages: the user message this answers. */
    replyToId: uuid('reply_to_id'),
    provider: text('provider'),
    model: text('model'),
    cached: boolean('cached').notNull().default(false),
    fallback: boolean('fallback').notNull().default(false),
    fallbackReason: text('fallback_reason'),
    /** Provider attempts of the turn: [{ provider, model, outcome, error?, ms }]. */
    attempts: jsonb('attempts'),
    latencyMs: integer('latency_ms'),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    ...timestamps,
  },
  (table) => [
    index('messages_conversation_created_idx').on(table.conversationId, table.createdAt),
    uniqueIndex('messages_external_id_uq')
      .on(table.conversationId, table.externalMessageId)
      .where(sql`${table.externalMessageId} is not null`),
    index('messages_status_idx').on(table.status, table.updatedAt).where(sql`${table.role} = 'user'`),
  ],
);

export const toolCalls = pgTable(
  'tool_calls',
  {
    id: uuid('id').primaryKey(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    /** The user message whose turn made this call. */
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    /** The provider's id for the call (tool_call id / tool_use id). */
    callId: text('call_id').notNull(),
    toolName: text('tool_name').notNull(),
    arguments: jsonb('arguments'),
    result: jsonb('result'),
    status: text('status', { enum: TOOL_CALL_STATUSES }).notNull(),
    error: text('error'),
    durationMs: integer('duration_ms'),
    provider: text('provider'),
    model: text('model'),
    step: integer('step').notNull().default(0),
    /** conversation + call id: the same call never runs its side effect twice. */
    idempotencyKey: text('idempotency_key').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    uniqueIndex('tool_calls_idempotency_key_uq').on(table.idempotencyKey),
    index('tool_calls_created_at_idx').on(table.createdAt),
    index('tool_calls_tool_created_idx').on(table.toolName, table.createdAt),
    index('tool_calls_message_idx').on(table.messageId),
  ],
);

export type Conversation = typeof conversations.$inferSelect;
export type Message = typeof messages.$inferSelect;
export type ToolCall = typeof toolCalls.$inferSelect;
