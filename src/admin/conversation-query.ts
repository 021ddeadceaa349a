import { and, asc, desc, eq, gte, lt, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../store/database.js';
import { conversationNotes, conversations, handoffs, messages, toolCalls, type Handoff } from '../store/schema.js';
import type { ConversationFilters } from './admin-filters.js';
import { CURSOR_TIME_FORMAT, decodeCursor, encodeCursor } from './cursor.js';
import { redactText } from '../observability/redaction.js';
import { personLabel } from './person-identity.js';
import { messageView, toolCallDetailView, type Page } from './tool-call-query.js';
import { outcomeMessageCallId } from '../store/tool-calls.js';

/** Tool statuses that count as "something went wrong" for the has-error filter. */
export const ERROR_TOOL_STATUSES = ['error', 'invalid'] as const;

export interface ConversationListItem {
  id: string;
  channel: string;
  user: string;
  /** The person as lists name them, masked: "Web visitor 3f2a…", "SMS ***67" (person-identity.ts). */
  userLabel: string;
  /** `human` while the conversation is with a person (handoff). */
  mode: string;
  createdAt: string;
  updatedAt: string;
  messageCount: number;
  toolCallCount: number;
  hasFallback: boolean;
  hasError: boolean;
}

/** Qualified by hand: drizzle renders a column unqualified in a single-table select, which a subquery would capture. */
const CONVERSATION_ID = sql.raw('"conversations"."id"');

const hasFallback = sql<boolean>`exists (select 1 from ${messages} m where m.conversation_id = ${CONVERSATION_ID} and m.fallback)`;
const hasError = sql<boolean>`(exists (select 1 from ${toolCalls} t where t.conversation_id = ${CONVERSATION_ID} and t.status in ('error', 'invalid'))
  or exists (select 1 from ${messages} m where m.conversation_id = ${CONVERSATION_ID} and m.status = 'failed'))`;

/**
 * One workspace's conversations, most recently active first (updated_at moves with every
 * finished turn), keyset-paginated. `scope`: conditions of the caller's own (the person view's identity).
 */
export async function listConversations(db: Db, workspaceId: string, filters: ConversationFilters, scope: SQL[] = []): Promise<Page<ConversationListItem>> {
  const conditions: SQL[] = [eq(conversations.workspaceId, workspaceId), ...scope];
  if (filters.channel) conditions.push(eq(conversations.channel, filters.channel));
  if (filters.user) conditions.push(eq(conversations.externalUserId, filters.user));
  if (filters.from) conditions.push(gte(conversations.updatedAt, filters.from));
  if (filters.to) conditions.push(lt(conversations.updatedAt, filters.to));
  if (filters.hasFallback !== undefined) conditions.push(filters.hasFallback ? hasFallback : sql`not ${hasFallback}`);
  if (filters.hasError !== undefined) conditions.push(filters.hasError ? hasError : sql`not ${hasError}`);
  if (filters.cursor) {
    const cursor = decodeCursor(filters.cursor);
    const at = sql`${cursor.at}::timestamptz`;
    conditions.push(or(lt(conversations.updatedAt, at), and(eq(conversations.updatedAt, at), lt(conversations.id, cursor.id)))!);
  }
  const rows = await db
    .select({
      id: conversations.id,
      channel: conversations.channel,
      externalUserId: conversations.externalUserId,
      mode: conversations.mode,
      createdAt: conversations.createdAt,
      updatedAt: conversations.updatedAt,
      messageCount: sql<number>`(select count(*)::int from ${messages} m where m.conversation_id = ${CONVERSATION_ID})`,
      toolCallCount: sql<number>`(select count(*)::int from ${toolCalls} t where t.conversation_id = ${CONVERSATION_ID})`,
      hasFallback,
      hasError,
      cursorAt: sql<string>`to_char(${conversations.updatedAt} at time zone 'UTC', ${CURSOR_TIME_FORMAT})`,
    })
    .from(conversations)
    .where(and(...conditions))
    .orderBy(desc(conversations.updatedAt), desc(conversations.id))
    .limit(filters.limit + 1);
  const more = rows.length > filters.limit;
  const pageRows = more ? rows.slice(0, filters.limit) : rows;
  const last = pageRows.at(-1);
  return {
    items: pageRows.map((row) => ({
      id: row.id,
      channel: row.channel,
      user: redactText(row.externalUserId, 'list'),
      userLabel: personLabel(row.channel, row.externalUserId),
      mode: row.mode,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
      messageCount: Number(row.messageCount),
      toolCallCount: Number(row.toolCallCount),
      hasFallback: toBool(row.hasFallback),
      hasError: toBool(row.hasError),
    })),
    nextCursor: more && last ? encodeCursor({ at: last.cursorAt, id: last.id }) : null,
  };
}

/**
 * The transcript, oldest first, with each turn's tool calls inline under the user message that
 * caused them. Undefined for an id that is not a conversation of this workspace (its rows share
 * the conversation's workspace, so they need no condition of their own).
 */
export async function getConversationDetail(db: Db, id: string, workspaceId: string) {
  const [conversation] = await db.select().from(conversations).where(and(eq(conversations.id, id), eq(conversations.workspaceId, workspaceId)));
  if (!conversation) return undefined;
  const [rows, calls, handoffRows, notes] = await Promise.all([
    db.select().from(messages).where(eq(messages.conversationId, id)).orderBy(asc(messages.createdAt)).limit(1000),
    db.select().from(toolCalls).where(eq(toolCalls.conversationId, id)).orderBy(asc(toolCalls.createdAt)).limit(5000),
    db.select().from(handoffs).where(eq(handoffs.conversationId, id)).orderBy(desc(handoffs.requestedAt)).limit(50),
    db.select().from(conversationNotes).where(eq(conversationNotes.conversationId, id)).orderBy(asc(conversationNotes.createdAt)).limit(500),
  ]);
  const open = handoffRows.find((row) => row.status !== 'released');
  return {
    id: conversation.id,
    channel: conversation.channel,
    user: redactText(conversation.externalUserId, 'detail'),
    userLabel: personLabel(conversation.channel, conversation.externalUserId),
    threadKey: conversation.threadKey,
    mode: conversation.mode,
    /** The open handoff (waiting or active), if any; `handoffs` is every one, newest first. */
    handoff: open ? handoffView(open) : null,
    handoffs: handoffRows.map(handoffView),
    notes: notes.map((note) => ({ id: note.id, author: note.author, text: redactText(note.text, 'detail'), createdAt: note.createdAt.toISOString() })),
    createdAt: conversation.createdAt.toISOString(),
    updatedAt: conversation.updatedAt.toISOString(),
    hasFallback: rows.some((row) => row.fallback),
    /** What this conversation's model calls cost (null: none was priced), as the per-conversation budget counts it. */
    costUsd: rows.some((row) => row.costUsd !== null) ? rows.reduce((sum, row) => sum + (row.costUsd ?? 0), 0) : null,
    hasError: calls.some((call) => (ERROR_TOOL_STATUSES as readonly string[]).includes(call.status)) || rows.some((row) => row.status === 'failed'),
    messages: rows.map((row) => ({
      ...messageView(row),
      replyToId: row.replyToId,
      /** The held tool call whose outcome (confirmed and run, declined, expired) this message told the person. */
      outcomeOf: outcomeMessageCallId(row),
      toolCalls: calls
        .filter((call) => row.role === 'user' && call.messageId === row.id)
        .map(toolCallDetailView),
    })),
  };
}

const toBool = (value: unknown) => value === true || value === 't' || value === 'true';

function handoffView(handoff: Handoff) {
  return {
    id: handoff.id,
    status: handoff.status,
    reason: handoff.reason,
    summary: handoff.summary === null ? null : redactText(handoff.summary, 'detail'),
    operator: handoff.operator,
    operatorName: handoff.operatorName,
    requestedAt: handoff.requestedAt.toISOString(),
    claimedAt: handoff.claimedAt?.toISOString() ?? null,
    releasedAt: handoff.releasedAt?.toISOString() ?? null,
  };
}
