import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { toPaymentEvent } from '../src/payments/stripe-event.js';
import { paymentEvents, toolCalls } from '../src/store/schema.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_STRIPE_SECRET_KEY, startFakeStripeServer, type FakeStripeServer } from './fakes/fake-stripe-server.js';
import { AdminClient } from './helpers/admin-client.js';
import { postStripeEvent, stripeEvent } from './helpers/stripe-webhook.js';
import { connectClient, type ClientSocket, type RunningApp, startTestApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Signed Stripe webhooks through the real server: the SDK verifies the signature over the raw
 * body; each event is stored once and moves its checkout link's payment forward; the web visitor
 * who asked for the link is told, once; the admin API and metrics show it.
 */

const OLD_SECRET = 'whsec_old_0123456789abcdef';
const SECRET = 'whsec_new_0123456789abcdef';
const ADMIN_TOKEN = 'payments-admin-token-0123456789abcdef';

let openai: FakeProviderServer;
let stripe: FakeStripeServer;
let server: RunningApp;
let admin: AdminClient;
const sockets: ClientSocket[] = [];

/** A web visitor who got a checkout link from the agent: their conversation, the call and the fake's session. */
async function visitorWithLink(description = 'Pro plan', amount = 49.99) {
  const { socket, session } = await connectClient(server.url);
  sockets.push(socket);
  const dones: any[] = [];
  socket.on('reply.done', (payload) => dones.push(payload));
  openai.push({ toolCalls: [{ name: 'create_checkout_link', arguments: { amount, currency: 'usd', description } }] }, { text: 'Here is your link.' });
  await socket.timeout(5000).emitWithAck('message', { text: 'I want to buy', clientMessageId: randomUUID() });
  await waitFor(() => dones.length > 0, 'the reply with the link');
  const [call] = await server.app.database.db.select().from(toolCalls).where(eq(toolCalls.conversationId, session.conversationId));
  const checkout = stripe.sessions.find((candidate) => candidate.metadata.tool_call_id === call!.id)!;
  return { socket, conversationId: session.conversationId, token: session.token, dones, call: call!, checkout };
}

const sessionObject = (checkout: object, paymentStatus: 'paid' | 'unpaid' = 'paid') => ({ ...checkout, payment_status: paymentStatus, status: 'complete' });
const send = (event: unknown, options: Parameters<typeof postStripeEvent>[2] = { secrets: [SECRET] }) => postStripeEvent(server.url, event, options);
const eventRow = async (id: string) => (await server.app.database.db.select().from(paymentEvents).where(eq(paymentEvents.id, id)))[0];
const handled = (id: string) => waitFor(async () => {
  const row = await eventRow(id);
  return row && row.status !== 'received' ? row : undefined;
}, `event ${id} handled`);

beforeAll(async () => {
  [openai, stripe] = await Promise.all([startFakeOpenAIServer(), startFakeStripeServer()]);
  server = await startTestApp({
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: openai.url,
    LLM_PROVIDERS: 'openai',
    STRIPE_SECRET_KEY: FAKE_STRIPE_SECRET_KEY,
    STRIPE_API_URL: stripe.url,
    // Rotating: both the old and the new secret verify.
    STRIPE_WEBHOOK_SECRET: `${OLD_SECRET},${SECRET}`,
    ADMIN_TOKEN,
  });
  admin = AdminClient.bearer(server.url, ADMIN_TOKEN);
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  openai.reset();
});
afterAll(async () => {
  await server?.stop();
  await Promise.all([openai?.close(), stripe?.close()]);
});

describe('the signature', () => {
  it('refuses a missing, forged, stale or malformed signature with a precise 400 and stores nothing', async () => {
    const event = stripeEvent('checkout.session.completed', { id: 'cs_test_forged', object: 'checkout.session', payment_status: 'paid' });
    const cases: [Parameters<typeof postStripeEvent>[2], string][] = [
      [{ header: null }, 'signature_missing'],
      [{ secrets: ['whsec_someone_else'] }, 'signature_invalid'],
      [{ secrets: [SECRET], timestamp: Math.floor(Date.now() / 1000) - 600 }, 'signature_expired'],
      [{ header: 'garbage' }, 'signature_invalid'],
      [{ secrets: [SECRET], header: `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` }, 'signature_invalid'],
    ];
    for (const [options, code] of cases) {
      const response = await send(event, options);
      expect([response.status, response.body.error?.code], code).toEqual([400, code]);
    }
    // A body changed after signing does not verify.
    const timestamp = Math.floor(Date.now() / 1000);
    const header = Stripe.webhooks.generateTestHeaderString({ payload: JSON.stringify(event), secret: SECRET, timestamp });
    const tampered = await postStripeEvent(server.url, undefined, { raw: JSON.stringify({ ...event, livemode: true }), header });
    expect([tampered.status, tampered.body.error.code]).toEqual([400, 'signature_invalid']);
    expect(await eventRow(event.id)).toBeUndefined();
    expect(await server.app.database.db.select().from(paymentEvents)).toEqual([]);
  });

  it('accepts a header with several v1 signatures, and the old secret while rotating; refuses bodies that are not events', async () => {
    const event = stripeEvent('payment_intent.created', { id: 'pi_1', object: 'payment_intent' });
    const both = await send(event, { secrets: ['whsec_unrelated', SECRET] });
    expect(both).toEqual({ status: 200, body: { received: true } });
    const old = await send(stripeEvent('payment_intent.created', { id: 'pi_2', object: 'payment_intent' }), { secrets: [OLD_SECRET] });
    expect(old.status).toBe(200);
    expect(await eventRow(event.id)).toMatchObject({ status: 'ignored', outcome: 'ignored', type: 'payment_intent.created' });

    const notJson = await postStripeEvent(server.url, undefined, { secrets: [SECRET], raw: 'not json at all' });
    expect([notJson.status, notJson.body.error.code]).toEqual([400, 'invalid_payload']);
    const notEvent = await postStripeEvent(server.url, undefined, { secrets: [SECRET], raw: JSON.stringify({ id: 'nope', type: 'x' }) });
    expect([notEvent.status, notEvent.body.error.code]).toEqual([400, 'invalid_payload']);
    const huge = await postStripeEvent(server.url, undefined, { secrets: [SECRET], raw: JSON.stringify({ pad: 'x'.repeat(600 * 1024) }) });
    expect(huge.status).toBe(413);
  });
});

describe('checkout links', () => {
  it('a paid session: the link is paid, the visitor told once, a redelivery does nothing, a late expiry undoes nothing', async () => {
    const visitor = await visitorWithLink();
    expect(visitor.checkout.metadata).toEqual({ conversation_id: visitor.conversationId, tool_call_id: visitor.call.id, channel: 'web' });
    expect(visitor.checkout.client_reference_id).toBe(visitor.conversationId);

    const completed = stripeEvent('checkout.session.completed', sessionObject(visitor.checkout));
    expect(await send(completed)).toEqual({ status: 200, body: { received: true } });
    await waitFor(() => visitor.dones.length >= 2, 'the payment notice');
    expect(visitor.dones[1]).toMatchObject({ text: 'Payment received: Pro plan, 49.99 USD. Thank you!', author: 'system' });
    expect(await handled(completed.id)).toMatchObject({ status: 'processed', outcome: 'paid', notified: true, toolCallId: visitor.call.id, amount: 4999, currency: 'usd' });

    expect(await send(completed)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    const expired = stripeEvent('checkout.session.expired', { ...visitor.checkout, status: 'expired' }, { created: completed.created - 60 });
    expect((await send(expired)).status).toBe(200);
    expect(await handled(expired.id)).toMatchObject({ outcome: 'stale', notified: false });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(visitor.dones).toHaveLength(2);

    const [call] = await server.app.database.db.select().from(toolCalls).where(eq(toolCalls.id, visitor.call.id));
    expect(call).toMatchObject({ paymentStatus: 'paid', paymentAmount: 4999, paymentCurrency: 'usd', paymentEventId: completed.id });
    const list = await admin.get(`/api/admin/tool-calls?conversation=${visitor.conversationId}`);
    expect(list.body.items[0].payment).toEqual({ status: 'paid', amount: 4999, currency: 'usd', at: new Date(completed.created * 1000).toISOString() });
    const payments = await admin.get(`/api/admin/payments?conversation=${visitor.conversationId}`);
    expect(payments.body.items.map((item: any) => [item.type, item.outcome, item.channel])).toEqual([
      ['checkout.session.expired', 'stale', 'web'],
      ['checkout.session.completed', 'paid', 'web'],
    ]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_payments_total\{type="checkout.session.completed",outcome="paid"\} [1-9]/);

    // The agent knows: the notice is in the history of the next turn.
    await visitor.socket.timeout(5000).emitWithAck('message', { text: 'did my payment go through?', clientMessageId: randomUUID() });
    await waitFor(() => visitor.dones.length >= 3, 'the next reply');
    const history = openai.requests.at(-1)!.body.messages as { role: string; content: string }[];
    expect(history).toContainEqual(expect.objectContaining({ role: 'assistant', content: 'Payment received: Pro plan, 49.99 USD. Thank you!' }));
  });

  it('a delayed payment: processing, then failed; an unpaid link expires; an unknown session is recorded, nobody told', async () => {
    const visitor = await visitorWithLink('Starter pack', 19);
    const completed = stripeEvent('checkout.session.completed', sessionObject(visitor.checkout, 'unpaid'));
    await send(completed);
    await waitFor(() => visitor.dones.length >= 2, 'the processing notice');
    expect(visitor.dones[1].text).toBe("Thank you! Your payment for Starter pack (19.00 USD) is being processed; I'll let you know once it is confirmed.");
    const failed = stripeEvent('checkout.session.async_payment_failed', sessionObject(visitor.checkout, 'unpaid'));
    await send(failed);
    await waitFor(() => visitor.dones.length >= 3, 'the failed notice');
    expect(visitor.dones[2].text).toBe('The payment for Starter pack (19.00 USD) did not go through. You can try again, or ask me for a new link.');
    expect(await handled(failed.id)).toMatchObject({ outcome: 'failed', notified: true });

    const other = await visitorWithLink('Gift card', 25);
    const expiry = stripeEvent('checkout.session.expired', { ...other.checkout, status: 'expired' });
    await send(expiry);
    await waitFor(() => other.dones.length >= 2, 'the expiry notice');
    expect(other.dones[1].text).toBe('The payment link for Gift card expired; ask me for a new one if you still want it.');

    const stranger = stripeEvent('checkout.session.completed', { id: 'cs_test_not_ours', object: 'checkout.session', payment_status: 'paid', amount_total: 100, currency: 'usd', metadata: {} });
    await send(stranger);
    expect(await handled(stranger.id)).toMatchObject({ status: 'processed', outcome: 'unknown_session', notified: false });
    // Metadata naming a call that is not that session's is not trusted either.
    const mismatched = stripeEvent('checkout.session.completed', { ...sessionObject(other.checkout), id: 'cs_test_other' });
    await send(mismatched);
    expect(await handled(mismatched.id)).toMatchObject({ outcome: 'unknown_session' });
    expect(other.dones).toHaveLength(2);
  });

  it('subscription and invoice events are stored for admins; the person is told only when the subscription came from their conversation', async () => {
    const visitor = await visitorWithLink('Team plan', 99);
    const created = stripeEvent('customer.subscription.created', { id: 'sub_1', object: 'subscription', currency: 'usd', metadata: { conversation_id: visitor.conversationId } });
    const foreign = stripeEvent('invoice.payment_failed', { id: 'in_1', object: 'invoice', amount_due: 9900, currency: 'usd', subscription: 'sub_2', metadata: {} });
    const failedOurs = stripeEvent('invoice.payment_failed', {
      id: 'in_2',
      object: 'invoice',
      amount_due: 9900,
      currency: 'usd',
      parent: { subscription_details: { subscription: 'sub_1', metadata: { conversation_id: visitor.conversationId } } },
    });
    for (const event of [created, foreign, failedOurs]) expect((await send(event)).status).toBe(200);
    await waitFor(() => visitor.dones.length >= 3, 'two subscription notices');
    expect(visitor.dones.slice(1).map((done) => done.text)).toEqual([
      'Your subscription has started. Thank you!',
      'A payment for your subscription (99.00 USD) did not go through; please check your payment method.',
    ]);
    expect(await handled(foreign.id)).toMatchObject({ outcome: 'invoice_failed', notified: false, invoiceId: 'in_1', subscriptionId: 'sub_2' });
    expect(await handled(failedOurs.id)).toMatchObject({ outcome: 'invoice_failed', notified: true, subscriptionId: 'sub_1' });
    const invoices = await admin.get('/api/admin/payments?type=invoice.payment_failed');
    expect(invoices.body.items).toHaveLength(2);
    const bad = await admin.get('/api/admin/payments?status=unknown');
    expect(bad.status).toBe(400);
  });
});

describe('durability', () => {
  it('an event stored but not handled (the process stopped) is handled when a server starts', async () => {
    const visitor = await visitorWithLink('Recovered plan', 10);
    await server.app.store.payments.insert({
      id: 'evt_stored_before_a_crash',
      type: 'checkout.session.completed',
      createdAt: new Date(),
      livemode: false,
      objectId: visitor.checkout.id,
      checkoutSessionId: visitor.checkout.id,
      invoiceId: null,
      subscriptionId: null,
      conversationId: visitor.conversationId,
      toolCallId: visitor.call.id,
      amount: 1000,
      currency: 'usd',
      paymentStatus: 'paid',
      status: 'received',
      outcome: null,
    });
    const restarted = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      STRIPE_WEBHOOK_SECRET: SECRET,
      DATABASE_URL: server.config.DATABASE_URL!.reveal(),
    });
    try {
      expect(await handled('evt_stored_before_a_crash')).toMatchObject({ outcome: 'paid' });
      const rows = await server.app.database.db.select().from(toolCalls).where(eq(toolCalls.id, visitor.call.id));
      expect(rows[0]!.paymentStatus).toBe('paid');
    } finally {
      await restarted.stop();
    }
  });

  it('an event whose handling keeps failing is given up after five attempts and shown as failed', async () => {
    const event = stripeEvent('checkout.session.completed', { id: 'cs_test_poison', object: 'checkout.session', payment_status: 'paid', metadata: {} });
    await server.app.store.payments.insert({ ...toPaymentEvent(event) });
    // Five earlier attempts, the last one's lease long gone.
    await server.app.database.db.update(paymentEvents).set({ attempts: 5, processedAt: new Date(Date.now() - 3600_000) }).where(eq(paymentEvents.id, event.id));
    expect(await server.app.store.payments.claim(event.id)).toBeUndefined();
    expect(await eventRow(event.id)).toMatchObject({ status: 'failed', outcome: 'gave_up', attempts: 6 });
    const listed = await admin.get('/api/admin/payments?status=failed');
    expect(listed.body.items.map((item: any) => [item.id, item.error])).toEqual([[event.id, 'handling failed 5 times']]);
  });
});
