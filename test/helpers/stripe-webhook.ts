import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { postWebhook, type WebhookAnswer } from './post-webhook.js';

/** A Stripe event as Stripe sends it to a webhook endpoint (the fields Switchboard reads, and a few more). */
export function stripeEvent(type: string, object: Record<string, unknown>, overrides: { id?: string; created?: number } = {}) {
  return {
    id: overrides.id ?? `evt_${randomBytes(12).toString('hex')}`,
    object: 'event',
    api_version: '2025-03-31.basil',
    created: overrides.created ?? Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  };
}

/**
 * POSTs a payload to /stripe/webhook signed as Stripe signs it: `t=<unix>,v1=<HMAC-SHA256(secret, "t.payload")>`
 * (the SDK's own test helper builds the header). `secrets`: several sign at once (as Stripe does
 * while rotating), `timestamp` backdates it, `header` replaces it.
 */
export function postStripeEvent(
  baseUrl: string,
  event: unknown,
  options: { secrets?: string[]; timestamp?: number; header?: string | null; raw?: string } = {},
): Promise<WebhookAnswer> {
  const payload = options.raw ?? JSON.stringify(event);
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const signatures = (options.secrets ?? []).map((secret) => Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }).split(',v1=')[1]);
  const header = options.header !== undefined ? options.header : `t=${timestamp},${signatures.map((signature) => `v1=${signature}`).join(',')}`;
  return postWebhook(`${baseUrl}/stripe/webhook`, payload, {
    'content-type': 'application/json; charset=utf-8',
    ...(header !== null && { 'stripe-signature': header }),
  });
}
