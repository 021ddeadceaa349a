import Stripe from 'stripe';
import { stripeEvent } from '../test/helpers/stripe-webhook.js';
import type { PacedRequest } from './paced-requests.js';

/** Types Switchboard stores as `ignored` (it acts on checkout, invoice and subscription events only). */
const IGNORED_TYPES = ['payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded', 'customer.created'] as const;
/** Every 20th delivery is a redelivery: 5 %. */
const REDELIVERY_EVERY = 20;

export type DeliveryKind = 'checkout' | 'ignored' | 'redelivery';

export interface Delivery {
  kind: DeliveryKind;
  eventId: string;
  request: PacedRequest;
}

/**
 * What Stripe would send to `POST /stripe/webhook`: new events, alternately
 * `checkout.session.completed` for a session no checkout link of ours made (handled after the 200
 * as `unknown_session`) and a type we do not act on (stored as `ignored`); and every 20th, a
 * redelivery of an event already acknowledged, signed anew as Stripe signs each attempt.
 * Each delivery is signed when it is built, so its timestamp is always fresh.
 */
export class StripeDeliveries {
  readonly #payloads = new Map<string, { kind: Exclude<DeliveryKind, 'redelivery'>; payload: string }>();
  readonly #acknowledged: string[] = [];
  #built = 0;
  #created = 0;

  constructor(
    private readonly label: string,
    private readonly secret: string,
  ) {}

  next(): Delivery {
    const position = ++this.#built;
    if (position % REDELIVERY_EVERY === 0 && this.#acknowledged.length > 0) {
      const eventId = this.#acknowledged[Math.floor(Math.random() * this.#acknowledged.length)]!;
      return { kind: 'redelivery', eventId, request: this.#signed(this.#payloads.get(eventId)!.payload) };
    }
    const index = this.#created++;
    const eventId = `evt_${this.label}_${index}`;
    const kind = index % 2 === 0 ? 'checkout' : 'ignored';
    const event =
      kind === 'checkout'
        ? stripeEvent(
            'checkout.session.completed',
            { id: `cs_test_${this.label}_${index}`, object: 'checkout.session', payment_status: 'paid', amount_total: 4999, currency: 'usd', metadata: {} },
            { id: eventId },
          )
        : stripeEvent(IGNORED_TYPES[(index >> 1) % IGNORED_TYPES.length]!, { id: `pi_${this.label}_${index}`, object: 'payment_intent' }, { id: eventId });
    const payload = JSON.stringify(event);
    this.#payloads.set(eventId, { kind, payload });
    return { kind, eventId, request: this.#signed(payload) };
  }

  /** An event answered 200: from now on it may be redelivered. */
  acknowledge(eventId: string): void {
    this.#acknowledged.push(eventId);
  }

  /** Every event id sent at least once, with the kind it was first sent as. */
  sent(): ReadonlyMap<string, Exclude<DeliveryKind, 'redelivery'>> {
    return new Map([...this.#payloads].map(([id, { kind }]) => [id, kind]));
  }

  #signed(payload: string): PacedRequest {
    return {
      method: 'POST',
      path: '/stripe/webhook',
      headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: this.secret }) },
      body: payload,
    };
  }
}
