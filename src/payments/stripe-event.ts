import { z } from 'zod';
import type { NewPaymentEvent } from '../store/index.js';
import type { PaymentStatus } from '../store/schema.js';

/**
 * A verified Stripe event, read with zod as far as we act on it. Stripe adds fields at will, so
 * objects are loose; ids and types must look like Stripe's.
 */
const metadataSchema = z.record(z.string(), z.string()).nullish();
/** Stripe's object ids (`cs_…`, `in_…`, `sub_…`): letters, digits and underscores — nothing a database refuses (NUL). */
const stripeId = z.string().regex(/^[A-Za-z0-9_]{1,255}$/);
const currency = z.string().regex(/^[A-Za-z]{3}$/);
/** Minor units that fit the column. */
const amount = z.number().int().min(-2_147_483_648).max(2_147_483_647);
const eventSchema = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9_]{1,250}$/),
  object: z.literal('event'),
  type: z.string().regex(/^[a-z][a-z0-9_.]{0,99}$/),
  created: z.number().int().positive().max(253_402_300_799), // up to 9999-12-31
  livemode: z.boolean(),
  data: z.object({ object: z.looseObject({ id: stripeId.optional() }) }),
});

const checkoutSessionSchema = z.looseObject({
  id: stripeId.startsWith('cs_'),
  amount_total: amount.nullish(),
  currency: currency.nullish(),
  payment_status: z.enum(['paid', 'unpaid', 'no_payment_required']).nullish(),
  client_reference_id: z.string().nullish(),
  metadata: metadataSchema,
});

const invoiceSchema = z.looseObject({
  id: stripeId,
  amount_due: amount.nullish(),
  amount_paid: amount.nullish(),
  currency: currency.nullish(),
  subscription: z.union([stripeId, z.looseObject({ id: stripeId })]).nullish(),
  subscription_details: z.looseObject({ metadata: metadataSchema }).nullish(),
  // Newer API versions move the subscription under `parent`.
  parent: z.looseObject({ subscription_details: z.looseObject({ subscription: stripeId.nullish(), metadata: metadataSchema }).nullish() }).nullish(),
  metadata: metadataSchema,
});

const subscriptionSchema = z.looseObject({ id: stripeId, currency: currency.nullish(), metadata: metadataSchema });

/**
 * The workspace an event's metadata names (`workspace_id`, written by `create_checkout_link` for
 * every workspace but the default): on the object, or on an invoice's subscription details. Reads
 * any JSON, verified or not: the webhook uses it on the unverified body only to choose the secrets
 * to check the signature with. Undefined: none named (the default workspace).
 */
export function namedWorkspace(event: unknown): string | undefined {
  const object = (event as { data?: { object?: Record<string, unknown> } } | null)?.data?.object;
  if (typeof object !== 'object' || object === null) return undefined;
  const details = [
    object.metadata,
    (object.subscription_details as { metadata?: unknown } | null | undefined)?.metadata,
    (object.parent as { subscription_details?: { metadata?: unknown } | null } | null | undefined)?.subscription_details?.metadata,
  ];
  for (const metadata of details) {
    const id = (metadata as { workspace_id?: unknown } | null | undefined)?.workspace_id;
    if (typeof id === 'string' && id.length > 0 && id.length <= 64) return id;
  }
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuidOrNull = (value: string | null | undefined) => (value && UUID.test(value) ? value.toLowerCase() : null);

/** The checkout events we act on, and the payment state each reports. */
export function checkoutPaymentStatus(type: string, paymentStatus: string | null | undefined): PaymentStatus | undefined {
  switch (type) {
    case 'checkout.session.completed':
      // Delayed methods (bank debits) complete unpaid; their outcome follows as async_payment_*.
      return paymentStatus === 'unpaid' ? 'processing' : 'paid';
    case 'checkout.session.async_payment_succeeded':
      return 'paid';
    case 'checkout.session.async_payment_failed':
      return 'failed';
    case 'checkout.session.expired':
      return 'expired';
    default:
      return undefined;
  }
}

export const SUBSCRIPTION_EVENTS = new Set([
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
]);

export class StripeEventError extends Error {
  override readonly name = 'StripeEventError';
}

/**
 * The row a verified event is stored as: which conversation and checkout call it is about (from
 * the metadata `create_checkout_link` wrote, never guessed), its amount, and the payment state it
 * reports. Types we do not act on are stored as `ignored`.
 */
export function toPaymentEvent(raw: unknown): NewPaymentEvent {
  const parsed = eventSchema.safeParse(raw);
  if (!parsed.success) throw new StripeEventError(`not a Stripe event: ${z.prettifyError(parsed.error).split('\n')[0]}`);
  const event = parsed.data;
  const base = {
    id: event.id,
    type: event.type,
    createdAt: new Date(event.created * 1000),
    livemode: event.livemode,
    objectId: event.data.object.id ?? null,
    checkoutSessionId: null,
    invoiceId: null,
    subscriptionId: null,
    conversationId: null,
    toolCallId: null,
    amount: null,
    currency: null,
    paymentStatus: null,
    status: 'received' as const,
    outcome: null,
  };

  if (event.type.startsWith('checkout.session.')) {
    const session = checkoutSessionSchema.safeParse(event.data.object);
    const status = checkoutPaymentStatus(event.type, session.success ? session.data.payment_status : null);
    if (!session.success || !status) return { ...base, status: 'ignored', outcome: 'ignored' };
    const metadata = session.data.metadata ?? {};
    return {
      ...base,
      checkoutSessionId: session.data.id,
      conversationId: uuidOrNull(metadata.conversation_id ?? session.data.client_reference_id),
      toolCallId: uuidOrNull(metadata.tool_call_id),
      amount: session.data.amount_total ?? null,
      currency: session.data.currency?.toLowerCase() ?? null,
      paymentStatus: status,
    };
  }
  if (event.type.startsWith('invoice.') && SUBSCRIPTION_EVENTS.has(event.type)) {
    const invoice = invoiceSchema.safeParse(event.data.object);
    if (!invoice.success) return { ...base, status: 'ignored', outcome: 'ignored' };
    const { data } = invoice;
    const subscription = typeof data.subscription === 'string' ? data.subscription : (data.subscription?.id ?? data.parent?.subscription_details?.subscription ?? null);
    const metadata = { ...data.metadata, ...data.subscription_details?.metadata, ...data.parent?.subscription_details?.metadata };
    return {
      ...base,
      invoiceId: data.id,
      subscriptionId: subscription,
      conversationId: uuidOrNull(metadata.conversation_id),
      amount: (event.type === 'invoice.payment_succeeded' ? data.amount_paid : data.amount_due) ?? null,
      currency: data.currency?.toLowerCase() ?? null,
    };
  }
  if (SUBSCRIPTION_EVENTS.has(event.type)) {
    const subscription = subscriptionSchema.safeParse(event.data.object);
    if (!subscription.success) return { ...base, status: 'ignored', outcome: 'ignored' };
    return {
      ...base,
      subscriptionId: subscription.data.id,
      conversationId: uuidOrNull(subscription.data.metadata?.conversation_id),
      currency: subscription.data.currency?.toLowerCase() ?? null,
    };
  }
  return { ...base, status: 'ignored', outcome: 'ignored' };
}
