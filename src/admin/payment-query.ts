import { and, desc, eq, gte, lt, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../store/database.js';
import { conversations, paymentEvents } from '../store/schema.js';
import type { PaymentFilters } from './admin-filters.js';
import { CURSOR_TIME_FORMAT, decodeCursor, encodeCursor } from './cursor.js';
import type { Page } from './tool-call-query.js';

export interface PaymentEventItem {
  id: string;
  type: string;
  createdAt: string;
  receivedAt: string;
  processedAt: string | null;
  livemode: boolean;
  objectId: string | null;
  checkoutSessionId: string | null;
  invoiceId: string | null;
  subscriptionId: string | null;
  conversationId: string | null;
  channel: string | null;
  toolCallId: string | null;
  amount: number | null;
  currency: string | null;
  paymentStatus: string | null;
  status: string;
  outcome: string | null;
  notified: boolean;
  error: string | null;
}

const eventId = z.string().regex(/^evt_[A-Za-z0-9_]{1,250}$/);

/** One workspace's Stripe webhook events, newest received first, keyset-paginated; no personal data is stored in them. */
export async function listPaymentEvents(db: Db, workspaceId: string, filters: PaymentFilters): Promise<Page<PaymentEventItem>> {
  const conditions: SQL[] = [eq(paymentEvents.workspaceId, workspaceId)];
  if (filters.type) conditions.push(eq(paymentEvents.type, filters.type));
  if (filters.outcome) conditions.push(eq(paymentEvents.outcome, filters.outcome));
  if (filters.status) conditions.push(eq(paymentEvents.status, filters.status));
  if (filters.conversation) conditions.push(eq(paymentEvents.conversationId, filters.conversation));
  if (filters.from) conditions.push(gte(paymentEvents.receivedAt, filters.from));
  if (filters.to) conditions.push(lt(paymentEvents.receivedAt, filters.to));
  if (filters.cursor) {
    const cursor = decodeCursor(filters.cursor, eventId);
    const at = sql`${cursor.at}::timestamptz`;
    conditions.push(or(lt(paymentEvents.receivedAt, at), and(eq(paymentEvents.receivedAt, at), lt(paymentEvents.id, cursor.id)))!);
  }
  const rows = await db
    .select({
      event: paymentEvents,
      channel: conversations.channel,
      cursorAt: sql<string>`to_char(${paymentEvents.receivedAt} at time zone 'UTC', ${CURSOR_TIME_FORMAT})`,
    })
    .from(paymentEvents)
    .leftJoin(conversations, eq(conversations.id, paymentEvents.conversationId))
    .where(and(...conditions))
    .orderBy(desc(paymentEvents.receivedAt), desc(paymentEvents.id))
    .limit(filters.limit + 1);
  const more = rows.length > filters.limit;
  const pageRows = more ? rows.slice(0, filters.limit) : rows;
  const last = pageRows.at(-1);
  return {
    items: pageRows.map(({ event, channel }) => ({
      id: event.id,
      type: event.type,
      createdAt: event.createdAt.toISOString(),
      receivedAt: event.receivedAt.toISOString(),
      processedAt: event.status === 'received' ? null : (event.processedAt?.toISOString() ?? null),
      livemode: event.livemode,
      objectId: event.objectId,
      checkoutSessionId: event.checkoutSessionId,
      invoiceId: event.invoiceId,
      subscriptionId: event.subscriptionId,
      conversationId: event.conversationId,
      channel,
      toolCallId: event.toolCallId,
      amount: event.amount,
      currency: event.currency,
      paymentStatus: event.paymentStatus,
      status: event.status,
      outcome: event.outcome,
      notified: event.notified,
      error: event.error,
    })),
    nextCursor: more && last ? encodeCursor({ at: last.cursorAt, id: last.event.id }) : null,
  };
}
