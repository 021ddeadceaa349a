import type { FastifyInstance } from 'fastify';
import Stripe from 'stripe';
import { keepRawBodies } from '../channels/raw-body.js';
import { SwitchboardError } from '../errors/index.js';
import type { Store } from '../store/index.js';
import type { PaymentEventProcessor } from './payment-processor.js';
import { StripeEventError, toPaymentEvent } from './stripe-event.js';

/** Stripe's events are a few kilobytes; anything near this is not one. */
export const STRIPE_WEBHOOK_BODY_LIMIT = 512 * 1024;
/** Stripe's default: a signature older than five minutes is refused (replays). */
const TOLERANCE_S = 300;

export interface StripeWebhookDeps {
  /** STRIPE_WEBHOOK_SECRET: one, or the old and the new during a rotation. */
  secrets: readonly string[];
  store: Store;
  processor: PaymentEventProcessor;
}

/**
 * `POST /stripe/webhook`: the `Stripe-Signature` header is verified over the raw body with the
 * SDK (any `v1` signature of the header may match, as during Stripe's own secret rotation; and any
 * of our secrets). A verified event is stored once by its id and answered 200 at once; it is
 * handled after (PaymentEventProcessor). A redelivery answers 200 and does nothing again.
 * Missing, forged or stale signatures: 400 with a precise code, nothing stored.
 */
export function registerStripeWebhook(http: FastifyInstance, deps: StripeWebhookDeps): void {
  void http.register(async (scope) => {
    // The signature covers the exact bytes Stripe sent: keep them as they are.
    keepRawBodies(scope);
    scope.post('/stripe/webhook', { bodyLimit: STRIPE_WEBHOOK_BODY_LIMIT }, async (request) => {
      const raw = request.body;
      if (!Buffer.isBuffer(raw)) throw new SwitchboardError('invalid_payload', 'expected a JSON body (content-type: application/json)');
      const header = request.headers['stripe-signature'];
      if (typeof header !== 'string' || header.trim() === '') throw new SwitchboardError('signature_missing', 'the Stripe-Signature header is missing');
      const event = verify(raw, header, deps.secrets);
      let row;
      try {
        row = toPaymentEvent(event);
      } catch (error) {
        if (error instanceof StripeEventError) throw new SwitchboardError('invalid_payload', error.message);
        throw error;
      }
      const stored = await deps.store.payments.insert(row, { claim: true });
      if (!stored) return { received: true, duplicate: true };
      if (stored.status === 'received') deps.processor.schedule(stored);
      return { received: true };
    });
  });
}

/** The event, when one of our secrets signed the body within the tolerance; a precise error otherwise. */
function verify(raw: Buffer, header: string, secrets: readonly string[]): unknown {
  let failure: SwitchboardError | undefined;
  for (const secret of secrets) {
    try {
      return Stripe.webhooks.constructEvent(raw, header, secret, TOLERANCE_S);
    } catch (error) {
      failure = toSignatureError(error);
      // A stale timestamp or a malformed header fails the same way for every secret.
      if (failure.code !== 'signature_invalid') throw failure;
    }
  }
  throw failure ?? new SwitchboardError('signature_invalid', 'no webhook secret is configured');
}

function toSignatureError(error: unknown): SwitchboardError {
  if (error instanceof SyntaxError) return new SwitchboardError('invalid_payload', 'the body is not valid JSON');
  const message = error instanceof Error ? error.message : '';
  if (/tolerance/i.test(message)) return new SwitchboardError('signature_expired', `the signature's timestamp is more than ${TOLERANCE_S} s old`);
  if (/Unable to extract timestamp and signatures/i.test(message)) {
    return new SwitchboardError('signature_invalid', 'the Stripe-Signature header is malformed (expected t=…,v1=…)');
  }
  return new SwitchboardError('signature_invalid', 'no signature in the Stripe-Signature header matches the payload');
}
