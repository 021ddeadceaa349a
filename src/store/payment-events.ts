import { and, asc, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db } from './database.js';
import { paymentEvents, toolCalls, type PaymentEvent, type PaymentEventStatus, type PaymentStatus, type ToolCall } from './schema.js';

/** The fields of a verified Stripe event that are kept (never the whole payload). */
export type NewPaymentEvent = Pick<
  PaymentEvent,
  | 'id'
  | 'type'
  | 'createdAt'
  | 'livemode'
  | 'objectId'
  | 'checkoutSessionId'
  | 'invoiceId'
  | 'subscriptionId'
  | 'conversationId'
  | 'toolCallId'
  | 'amount'
  | 'currency'
  | 'paymentStatus'
> & {
  status: 'received' | 'ignored';
  outcome: string | null;
  /** The workspace the event belongs to (its metadata's, checked by the webhook); default: the default workspace. */
  workspaceId?: string;
};

/** What applying a checkout event to its tool call did. */
export type AppliedPayment =
  | { result: 'applied'; call: ToolCall }
  /** This event had already set the status (a recovered event): the person may still need telling. */
  | { result: 'already_applied'; call: ToolCall }
  /** A later state is already recorded: events arrive out of order, and a terminal state never moves. */
  | { result: 'stale'; call: ToolCall }
  /** No checkout link of ours matches the session, conversation and call the event names. */
  | { result: 'unknown_session' };

/** How long a claimed event is left to its claimer before another instance may take it over. */
const CLAIM_LEASE_MS = 30_000;
/** An event whose handling failed this many times is given up and marked failed (an admin sees it). */
export const MAX_HANDLING_ATTEMPTS = 5;

/**
 * Stripe webhook events and the payment state they give checkout links. An event is stored once
 * by its id; handling claims it with a lease (so two instances never handle one at once, and a
 * crashed claimer's event is taken over), then records its outcome.
 */
export class PaymentEventRecords {
  constructor(private readonly db: Db) {}

  /**
   * The stored row when the event is new; undefined for a redelivery (nothing is written). With
   * `claim`, the inserter holds the handling lease from the start (one commit fewer than claiming
   * after): if it stops before handling, the event is taken up once the lease lapses.
   */
  async insert(event: NewPaymentEvent, options: { claim?: boolean } = {}): Promise<PaymentEvent | undefined> {
    const [row] = await this.db
      .insert(paymentEvents)
      .values({ ...event, processedAt: event.status === 'ignored' || options.claim ? new Date() : null, attempts: options.claim ? 1 : 0 })
      .onConflictDoNothing({ target: paymentEvents.id })
      .returning();
    return row;
  }

  /** Takes an unhandled event for handling; undefined when it is handled, or another claimer holds it. */
  async claim(id: string): Promise<PaymentEvent | undefined> {
    const now = new Date();
    const [row] = await this.db
      .update(paymentEvents)
      .set({ processedAt: now, attempts: sql`${paymentEvents.attempts} + 1` })
      .where(
        and(
          eq(paymentEvents.id, id),
          eq(paymentEvents.status, 'received'),
          or(isNull(paymentEvents.processedAt), lt(paymentEvents.processedAt, new Date(now.getTime() - CLAIM_LEASE_MS))),
        ),
      )
      .returning();
    if (row && row.attempts > MAX_HANDLING_ATTEMPTS) {
      await this.finish(row.id, { status: 'failed', outcome: 'gave_up', error: `handling failed ${MAX_HANDLING_ATTEMPTS} times` });
      return undefined;
    }
    return row;
  }

  /** Events stored but not handled (the process stopped between the two), oldest first. */
  async listUnhandled(receivedBefore: Date, limit = 100): Promise<string[]> {
    const rows = await this.db
      .select({ id: paymentEvents.id })
      .from(paymentEvents)
      .where(and(eq(paymentEvents.status, 'received'), lt(paymentEvents.receivedAt, receivedBefore)))
      .orderBy(asc(paymentEvents.receivedAt))
      .limit(limit);
    return rows.map((row) => row.id);
  }

  async finish(
    id: string,
    outcome: { status: Exclude<PaymentEventStatus, 'received'>; outcome: string; notified?: boolean; error?: string | null; toolCallId?: string | null },
  ): Promise<void> {
    await this.db
      .update(paymentEvents)
      .set({
        status: outcome.status,
        outcome: outcome.outcome,
        notified: outcome.notified ?? false,
        error: outcome.error ?? null,
        processedAt: new Date(),
        ...(outcome.toolCallId !== undefined && { toolCallId: outcome.toolCallId }),
      })
      .where(eq(paymentEvents.id, id));
  }

  /**
   * Moves a checkout link's payment forward: from nothing (open) to any state, from `processing`
   * to a final one; a final state (paid, failed, expired) never changes. The call must be ours:
   * the checkout tool's call, in the conversation the event names, whose result holds the session.
   */
  async applyToToolCall(input: {
    toolCallId: string;
    conversationId: string;
    checkoutSessionId: string;
    status: PaymentStatus;
    amount: number | null;
    currency: string | null;
    at: Date;
    eventId: string;
  }): Promise<AppliedPayment> {
    const ours = and(
      eq(toolCalls.id, input.toolCallId),
      eq(toolCalls.conversationId, input.conversationId),
      eq(toolCalls.toolName, 'create_checkout_link'),
      sql`${toolCalls.result}->>'sessionId' = ${input.checkoutSessionId}`,
    );
    const forward =
      input.status === 'processing'
        ? isNull(toolCalls.paymentStatus)
        : or(isNull(toolCalls.paymentStatus), eq(toolCalls.paymentStatus, 'processing'));
    const [applied] = await this.db
      .update(toolCalls)
      .set({
        paymentStatus: input.status,
        // An event without the total (Stripe omits it on some) keeps what an earlier one said.
        paymentAmount: sql`coalesce(${input.amount}::integer, ${toolCalls.paymentAmount})`,
        paymentCurrency: sql`coalesce(${input.currency}::text, ${toolCalls.paymentCurrency})`,
        paymentAt: input.at,
        paymentEventId: input.eventId,
      })
      .where(and(ours, forward))
      .returning();
    if (applied) return { result: 'applied', call: applied };
    const [call] = await this.db.select().from(toolCalls).where(ours);
    if (!call) return { result: 'unknown_session' };
    return { result: call.paymentEventId === input.eventId ? 'already_applied' : 'stale', call };
  }
}
