import { and, asc, desc, eq, gte, inArray, like, lt, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../store/database.js';
import { conversations, messages, toolCalls } from '../store/schema.js';
import type { ToolCallFilters } from './admin-filters.js';
import { CURSOR_TIME_FORMAT, decodeCursor, encodeCursor } from './cursor.js';
import { redactText, redactValue } from '../observability/redaction.js';
import { personLabel } from './person-identity.js';
import { outcomeMessageKey } from '../store/tool-calls.js';

/** One row of the tool-call table (list mode: emails and phone numbers masked). */
export interface ToolCallListItem {
  id: string;
  createdAt: string;
  completedAt: string | null;
  toolName: string;
  status: string;
  durationMs: number | null;
  provider: string | null;
  model: string | null;
  channel: string;
  user: string;
  /** The person as lists name them, masked: "Web visitor 3f2a…", "SMS ***67" (person-identity.ts). */
  userLabel: string;
  conversationId: string;
  messageId: string;
  arguments: unknown;
  error: string | null;
  /** Checkout links: the payment as Stripe's webhooks reported it (`open` until the first event); null for other tools. */
  payment: PaymentView | null;
  /** Calls held for the person's confirmation: where the decision stands; null for calls that ran at once. */
  confirmation: ConfirmationView | null;
}

/** A held call's confirmation: the person's decision and how long it took them (or how long it has waited). */
export interface ConfirmationView {
  /** `pending` until the person answers (or the call expires). */
  state: 'pending' | 'confirmed' | 'declined' | 'expired';
  decidedAt: string | null;
  expiresAt: string | null;
  /** decided_at − created_at; while pending, how long it has waited so far. */
  waitMs: number;
}

/** A held call's confirmation from its row; null for a call that was never held (no expiry was set). */
function confirmationView(
  call: { createdAt: Date; confirmationExpiresAt: Date | null; confirmationDecision: string | null; confirmationDecidedAt: Date | null },
  now = new Date(),
): ConfirmationView | null {
  if (!call.confirmationExpiresAt) return null;
  const decidedAt = call.confirmationDecision ? call.confirmationDecidedAt : null;
  return {
    state: (call.confirmationDecision as ConfirmationView['state'] | null) ?? 'pending',
    decidedAt: decidedAt?.toISOString() ?? null,
    expiresAt: call.confirmationExpiresAt.toISOString(),
    waitMs: Math.max(0, (decidedAt ?? now).getTime() - call.createdAt.getTime()),
  };
}

export interface PaymentView {
  status: 'open' | 'processing' | 'paid' | 'failed' | 'expired';
  /** Minor units, as Stripe reports the session's total. */
  amount: number | null;
  currency: string | null;
  at: string | null;
}

/** The payment of a checkout call: what the webhooks said, or `open` for a link created and not heard of since. */
function paymentView(call: { toolName: unknown; status: unknown; paymentStatus: unknown; paymentAmount: unknown; paymentCurrency: unknown; paymentAt: unknown }): PaymentView | null {
  if (call.toolName !== 'create_checkout_link' || call.status !== 'ok') return null;
  return {
    status: (call.paymentStatus as PaymentView['status'] | null) ?? 'open',
    amount: (call.paymentAmount as number | null) ?? null,
    currency: (call.paymentCurrency as string | null) ?? null,
    at: call.paymentAt instanceof Date ? call.paymentAt.toISOString() : null,
  };
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

const listColumns = {
  id: toolCalls.id,
  createdAt: toolCalls.createdAt,
  completedAt: toolCalls.completedAt,
  toolName: toolCalls.toolName,
  status: toolCalls.status,
  durationMs: toolCalls.durationMs,
  provider: toolCalls.provider,
  model: toolCalls.model,
  channel: conversations.channel,
  externalUserId: conversations.externalUserId,
  conversationId: toolCalls.conversationId,
  messageId: toolCalls.messageId,
  arguments: toolCalls.arguments,
  error: toolCalls.error,
  paymentStatus: toolCalls.paymentStatus,
  paymentAmount: toolCalls.paymentAmount,
  paymentCurrency: toolCalls.paymentCurrency,
  paymentAt: toolCalls.paymentAt,
  confirmationExpiresAt: toolCalls.confirmationExpiresAt,
  confirmationDecision: toolCalls.confirmationDecision,
  confirmationDecidedAt: toolCalls.confirmationDecidedAt,
  cursorAt: sql<string>`to_char(${toolCalls.createdAt} at time zone 'UTC', ${CURSOR_TIME_FORMAT})`,
};

type ListRow = { [K in keyof typeof listColumns]: unknown } & {
  id: string;
  createdAt: Date;
  completedAt: Date | null;
  externalUserId: string;
  confirmationExpiresAt: Date | null;
  confirmationDecision: string | null;
  confirmationDecidedAt: Date | null;
  cursorAt: string;
};

/** Escapes LIKE wildcards so free text matches literally. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;

/** One workspace's calls matching the filters (its rows share their conversation's workspace). */
export function toolCallConditions(workspaceId: string, filters: Omit<ToolCallFilters, 'limit' | 'cursor'>): SQL[] {
  const conditions: SQL[] = [eq(toolCalls.workspaceId, workspaceId)];
  if (filters.tool) conditions.push(eq(toolCalls.toolName, filters.tool));
  if (filters.status?.length) conditions.push(inArray(toolCalls.status, filters.status));
  if (filters.provider) conditions.push(eq(toolCalls.provider, filters.provider));
  if (filters.conversation) conditions.push(eq(toolCalls.conversationId, filters.conversation));
  if (filters.channel) conditions.push(eq(conversations.channel, filters.channel));
  if (filters.user) conditions.push(eq(conversations.externalUserId, filters.user));
  if (filters.from) conditions.push(gte(toolCalls.createdAt, filters.from));
  if (filters.to) conditions.push(lt(toolCalls.createdAt, filters.to));
  if (filters.q) conditions.push(sql`${toolCalls.arguments}::text ilike ${likePattern(filters.q)}`);
  return conditions;
}

/** Newest first, keyset-paginated; every filter is an index-backed equality or range except `q`. */
export async function listToolCalls(db: Db, workspaceId: string, filters: ToolCallFilters): Promise<Page<ToolCallListItem>> {
  const conditions = toolCallConditions(workspaceId, filters);
  if (filters.cursor) {
    const cursor = decodeCursor(filters.cursor);
    const at = sql`${cursor.at}::timestamptz`;
    conditions.push(or(lt(toolCalls.createdAt, at), and(eq(toolCalls.createdAt, at), lt(toolCalls.id, cursor.id)))!);
  }
  const rows = (await db
    .select(listColumns)
    .from(toolCalls)
    .innerJoin(conversations, eq(conversations.id, toolCalls.conversationId))
    .where(and(...conditions))
    .orderBy(desc(toolCalls.createdAt), desc(toolCalls.id))
    .limit(filters.limit + 1)) as ListRow[];
  const more = rows.length > filters.limit;
  const pageRows = more ? rows.slice(0, filters.limit) : rows;
  const last = pageRows.at(-1);
  return {
    items: pageRows.map(toListItem),
    nextCursor: more && last ? encodeCursor({ at: last.cursorAt, id: last.id }) : null,
  };
}

export function toListItem(row: ListRow): ToolCallListItem {
  return {
    id: row.id,
    createdAt: row.createdAt.toISOString(),
    completedAt: row.completedAt ? row.completedAt.toISOString() : null,
    toolName: row.toolName as string,
    status: row.status as string,
    durationMs: row.durationMs as number | null,
    provider: row.provider as string | null,
    model: row.model as string | null,
    channel: row.channel as string,
    user: redactText(row.externalUserId, 'list'),
    userLabel: personLabel(row.channel as string, row.externalUserId),
    conversationId: row.conversationId as string,
    messageId: row.messageId as string,
    arguments: redactValue(row.arguments, 'list'),
    error: row.error === null ? null : redactText(row.error as string, 'list'),
    payment: paymentView(row),
    confirmation: confirmationView(row),
  };
}

/**
 * One tool call in full (detail mode): with the user message that caused it and the reply that
 * carried its outcome. For most calls that is the turn's reply; for a call held for the person's
 * confirmation it is the message sent once they decided (null until then), and the turn's reply,
 * which asked them to confirm, is `confirmation.prompt`.
 */
export async function getToolCallDetail(db: Db, id: string, workspaceId: string) {
  const [row] = await db
    .select({ call: toolCalls, channel: conversations.channel, externalUserId: conversations.externalUserId, threadKey: conversations.threadKey })
    .from(toolCalls)
    .innerJoin(conversations, eq(conversations.id, toolCalls.conversationId))
    .where(and(eq(toolCalls.id, id), eq(toolCalls.workspaceId, workspaceId)));
  if (!row) return undefined;
  const call = row.call;
  const view = toolCallDetailView(call);
  const [[message], [turnReply], [outcome]] = await Promise.all([
    db.select().from(messages).where(eq(messages.id, call.messageId)),
    db
      .select()
      .from(messages)
      .where(and(eq(messages.replyToId, call.messageId), eq(messages.role, 'assistant')))
      .orderBy(desc(messages.createdAt))
      .limit(1),
    view.confirmation
      ? db
          .select()
          .from(messages)
          .where(and(eq(messages.conversationId, call.conversationId), eq(messages.role, 'assistant'), like(messages.externalMessageId, `${outcomeMessageKey(call.id)}%`)))
          .orderBy(asc(messages.createdAt))
          .limit(1)
      : Promise.resolve([]),
  ]);
  const reply = view.confirmation ? outcome : turnReply;
  return {
    ...view,
    idempotencyKey: call.idempotencyKey,
    callId: call.callId,
    step: call.step,
    model: call.model,
    completedAt: call.completedAt?.toISOString() ?? null,
    conversation: { id: call.conversationId, channel: row.channel, user: redactText(row.externalUserId, 'detail'), userLabel: personLabel(row.channel, row.externalUserId), threadKey: row.threadKey },
    message: message ? messageView(message) : null,
    reply: reply ? messageView(reply) : null,
    confirmation: view.confirmation && { ...view.confirmation, prompt: turnReply ? messageView(turnReply) : null },
  };
}

/** A tool call's own fields in detail mode, shared by the detail route and the transcript. */
export function toolCallDetailView(call: typeof toolCalls.$inferSelect) {
  const confirmation = confirmationView(call);
  return {
    id: call.id,
    toolName: call.toolName,
    status: call.status,
    arguments: redactValue(call.arguments, 'detail'),
    result: redactValue(call.result, 'detail'),
    error: call.error === null ? null : redactText(call.error, 'detail'),
    durationMs: call.durationMs,
    provider: call.provider,
    payment: paymentView(call),
    /** What the person was asked (plain language), the decision, when, and the wait; null for calls that ran at once. */
    confirmation: confirmation && { summary: call.confirmationSummary === null ? null : redactText(call.confirmationSummary, 'detail'), ...confirmation },
    createdAt: call.createdAt.toISOString(),
  };
}

export function messageView(message: typeof messages.$inferSelect) {
  return {
    id: message.id,
    role: message.role,
    text: redactText(message.text, 'detail'),
    status: message.status,
    provider: message.provider,
    model: message.model,
    cached: message.cached,
    fallback: message.fallback,
    fallbackReason: message.fallbackReason,
    attempts: redactValue(message.attempts, 'detail'),
    latencyMs: message.latencyMs,
    inputTokens: message.inputTokens,
    outputTokens: message.outputTokens,
    /** USD of the turn's model calls (assistant rows); null: unpriced, or no model call. */
    costUsd: message.costUsd,
    // Who wrote an assistant-side message: the agent, an operator (by name), or a notice.
    author: message.role === 'assistant' ? (message.author ?? 'agent') : null,
    authorName: message.authorName,
    createdAt: message.createdAt.toISOString(),
  };
}

/** The list-row shape for one id, and its workspace: what the live feed sends (to that workspace's consoles) for a call that just finished. */
export async function getToolCallListItem(db: Db, id: string): Promise<{ item: ToolCallListItem; workspaceId: string } | undefined> {
  const [row] = (await db
    .select({ ...listColumns, workspaceId: toolCalls.workspaceId })
    .from(toolCalls)
    .innerJoin(conversations, eq(conversations.id, toolCalls.conversationId))
    .where(eq(toolCalls.id, id))) as (ListRow & { workspaceId: string })[];
  return row ? { item: toListItem(row), workspaceId: row.workspaceId } : undefined;
}
