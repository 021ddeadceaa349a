import type { PipelineEvents } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import type { Conversation, PaymentEvent, PaymentEventStatus } from '../store/schema.js';
import type { InFlight } from '../turn/in-flight.js';
import type { DeliveryResult, ReplyDelivery } from '../turn/reply-delivery.js';
import { fill, formatAmount, type PaymentNotices } from './payment-notices.js';
import { SUBSCRIPTION_EVENTS } from './stripe-event.js';

export interface PaymentProcessorDeps {
  store: Store;
  delivery: ReplyDelivery;
  events: PipelineEvents;
  inFlight: InFlight;
  logger: Logger;
  notices: PaymentNotices;
  now?: () => Date;
}

interface Handled {
  status: Exclude<PaymentEventStatus, 'received'>;
  outcome: string;
  notified?: boolean;
}

/** Outcomes the subscription events record (the person is told only of some). */
const SUBSCRIPTION_OUTCOMES: Record<string, { outcome: string; notice?: keyof PaymentNotices }> = {
  'customer.subscription.created': { outcome: 'subscription_created', notice: 'subscriptionStarted' },
  'customer.subscription.updated': { outcome: 'subscription_updated' },
  'customer.subscription.deleted': { outcome: 'subscription_deleted', notice: 'subscriptionEnded' },
  'invoice.payment_succeeded': { outcome: 'invoice_paid' },
  'invoice.payment_failed': { outcome: 'invoice_failed', notice: 'invoiceFailed' },
};

/**
 * Handles stored Stripe events: a checkout event moves its link's payment forward and tells the
 * person, in the channel they used, through the one reply-delivery path (in human mode too: the
 * operator sees it in the transcript, and the agent reads it in the history of its next turn).
 * The webhook stores an event and answers at once; handling runs after, and an event a crash left
 * unhandled is taken up again by the sweep (claims with a lease keep it to one instance at a time).
 */
export class PaymentEventProcessor {
  readonly #now: () => Date;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly deps: PaymentProcessorDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  /** Handles a just-stored event (its lease taken by the insert) after the webhook has answered. */
  schedule(event: PaymentEvent): void {
    void this.deps.inFlight.track(this.run(event));
  }

  /** Handles one stored event if it can claim it (the sweep); a failure leaves it for a later sweep. */
  async process(id: string): Promise<void> {
    const event = await this.deps.store.payments.claim(id).catch((error: unknown) => {
      this.deps.logger.error({ err: error, paymentEventId: id }, 'payment event not claimed');
      return undefined;
    });
    if (event) await this.run(event);
  }

  private async run(event: PaymentEvent): Promise<void> {
    const log = this.deps.logger.child({ paymentEventId: event.id, type: event.type });
    try {
      const handled = await this.handle(event, log);
      await this.deps.store.payments.finish(event.id, handled);
      this.deps.events.emit('payment.processed', { type: event.type, outcome: handled.outcome, conversationId: event.conversationId });
      log.info({ outcome: handled.outcome, notified: handled.notified ?? false }, 'payment event handled');
    } catch (error) {
      log.error({ err: error }, 'payment event not handled; the sweep tries again once its lease lapses');
    }
  }

  /** Events stored but not handled (a crash, a failed attempt): handled now, oldest first. */
  async sweep(olderThanMs: number): Promise<number> {
    const ids = await this.deps.store.payments.listUnhandled(new Date(this.#now().getTime() - olderThanMs));
    for (const id of ids) await this.process(id);
    return ids.length;
  }

  startSweeper(intervalMs: number): void {
    if (this.#sweeper) return;
    this.#sweeper = setInterval(() => {
      void this.deps.inFlight.track(this.sweep(intervalMs)).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'payment event sweep failed'));
    }, intervalMs);
    this.#sweeper.unref();
  }

  stopSweeper(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  private async handle(event: PaymentEvent, log: Logger): Promise<Handled> {
    if (event.paymentStatus && event.checkoutSessionId) return this.handleCheckout(event, log);
    if (SUBSCRIPTION_EVENTS.has(event.type)) return this.handleSubscription(event, log);
    return { status: 'ignored', outcome: 'ignored' };
  }

  private async handleCheckout(event: PaymentEvent, log: Logger): Promise<Handled> {
    if (!event.toolCallId || !event.conversationId) return { status: 'processed', outcome: 'unknown_session' };
    const conversation = await this.deps.store.conversations.getConversation(event.conversationId);
    if (conversation && conversation.workspaceId !== event.workspaceId) return otherWorkspace(event, log);
    const applied = await this.deps.store.payments.applyToToolCall({
      toolCallId: event.toolCallId,
      conversationId: event.conversationId,
      checkoutSessionId: event.checkoutSessionId!,
      status: event.paymentStatus!,
      amount: event.amount,
      currency: event.currency,
      at: event.createdAt,
      eventId: event.id,
    });
    if (applied.result === 'unknown_session') return { status: 'processed', outcome: 'unknown_session' };
    if (applied.result === 'stale') {
      log.info({ recorded: applied.call.paymentStatus, reported: event.paymentStatus }, 'payment event older than the recorded state: not applied');
      return { status: 'processed', outcome: 'stale' };
    }
    if (!conversation) return { status: 'processed', outcome: event.paymentStatus! };
    const description = describeOrder(applied.call.arguments);
    const recorded = applied.call.paymentAmount !== null && applied.call.paymentCurrency !== null;
    const text = fill(this.deps.notices[event.paymentStatus!], {
      description,
      // Stripe's total when an event carried it; else the price the link was made for.
      amount: recorded ? formatAmount(applied.call.paymentAmount, applied.call.paymentCurrency) : askedAmount(applied.call.arguments),
    });
    const delivery = await this.tell(conversation, text, event.id, log);
    return { status: 'processed', outcome: event.paymentStatus!, notified: delivery === 'sent' };
  }

  private async handleSubscription(event: PaymentEvent, log: Logger): Promise<Handled> {
    const { outcome, notice } = SUBSCRIPTION_OUTCOMES[event.type]!;
    // Told only when the subscription came from one of our conversations (its metadata says which).
    const conversation = event.conversationId ? await this.deps.store.conversations.getConversation(event.conversationId) : undefined;
    if (conversation && conversation.workspaceId !== event.workspaceId) return otherWorkspace(event, log);
    if (!conversation || !notice) return { status: 'processed', outcome };
    const delivery = await this.tell(conversation, fill(this.deps.notices[notice], { amount: formatAmount(event.amount, event.currency) }), event.id, log);
    return { status: 'processed', outcome, notified: delivery === 'sent' };
  }

  /**
   * Stored and sent like any reply: the channel applies its own rules (WhatsApp's 24-hour window,
   * opt-outs). Keyed by the event, so an event handled again after a crash does not tell twice.
   */
  private async tell(conversation: Conversation, text: string, eventId: string, log: Logger): Promise<DeliveryResult | 'duplicate'> {
    const turnLog = log.child({ conversationId: conversation.id, channel: conversation.channel });
    return (await this.deps.delivery.deliverMessage(conversation, { text, author: 'system', externalMessageId: `stripe:${eventId}` }, turnLog)).delivery;
  }
}

/**
 * An event whose metadata names a conversation of another workspace than its own (which its
 * signature vouched for): never applied there, nobody told; kept as `ignored` for the admins.
 */
function otherWorkspace(event: PaymentEvent, log: Logger): Handled {
  log.warn({ workspace: event.workspaceId }, "payment event names another workspace's conversation: not applied");
  return { status: 'ignored', outcome: 'other_workspace' };
}

/** The total the checkout call was asked for (major units), e.g. "98 USD" for 2 × 49. */
function askedAmount(args: unknown): string | undefined {
  if (typeof args !== 'object' || args === null) return undefined;
  const { amount, currency, quantity } = args as { amount?: unknown; currency?: unknown; quantity?: unknown };
  if (typeof amount !== 'number' || typeof currency !== 'string') return undefined;
  const total = +(amount * (typeof quantity === 'number' ? quantity : 1)).toFixed(3);
  return `${total} ${currency.toUpperCase()}`;
}

/** The checkout call's description (what was bought), as the tool was asked for it. */
function describeOrder(args: unknown): string | undefined {
  if (typeof args !== 'object' || args === null) return undefined;
  const { description, quantity } = args as { description?: unknown; quantity?: unknown };
  if (typeof description !== 'string' || description.trim() === '') return undefined;
  return typeof quantity === 'number' && quantity > 1 ? `${quantity} × ${description}` : description;
}
