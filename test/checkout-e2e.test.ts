import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_STRIPE_SECRET_KEY, startFakeStripeServer, type FakeStripeServer } from './fakes/fake-stripe-server.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';
import { listToolCalls } from './helpers/store-queries.js';
import { toolCallKey } from '../src/tools/idempotency-key.js';

/** create_checkout_link end to end: web client → model (OpenAI wire) → Stripe SDK → fake Stripe → reply and tool_calls row. */
describe('checkout links through the web channel', () => {
  let openai: FakeProviderServer;
  let stripe: FakeStripeServer;
  let server: RunningApp;

  beforeAll(async () => {
    [openai, stripe] = await Promise.all([startFakeOpenAIServer(), startFakeStripeServer()]);
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-openai',
      OPENAI_BASE_URL: openai.url,
      STRIPE_SECRET_KEY: FAKE_STRIPE_SECRET_KEY,
      STRIPE_API_URL: stripe.url,
      PUBLIC_URL: 'https://shop.example.com',
      CHECKOUT_MAX_AMOUNT: '1000',
      // Confirmation above 500 USD (the default), 1000 JPY and 100 EUR; any other currency always asks.
      CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'jpy:1000,eur:100',
    });
  });

  afterAll(async () => {
    await server?.stop();
    await Promise.all([openai?.close(), stripe?.close()]);
  });

  it('creates a Stripe Checkout Session in minor units and returns its URL to the person', async () => {
    const { socket, session } = await connectClient(server.url);
    openai.push({ toolCalls: [{ id: 'call_pay', name: 'create_checkout_link', arguments: { amount: 49.99, currency: 'USD', description: 'Pro plan' } }] });
    openai.setResponder((body) => {
      const toolResult = JSON.parse(body.messages.at(-1).content);
      return { text: `Pay here: ${toolResult.url}` };
    });
    const { ack, reply } = await sendAndCollect(socket, 'I want the pro plan');
    socket.disconnect();

    expect(openai.requests[0]!.body.tools.map((t: { function: { name: string } }) => t.function.name)).toContain('create_checkout_link');
    expect(stripe.sessions).toHaveLength(1);
    const request = stripe.requests[0]!;
    const [recorded] = await listToolCalls(server.app.database.db, session.conversationId);
    expect(request.headers['idempotency-key']).toBe(
      toolCallKey({ messageId: ack.messageId, step: 0, toolName: 'create_checkout_link', arguments: recorded!.arguments }),
    );
    expect(request.body).toMatchObject({
      mode: 'payment',
      success_url: 'https://shop.example.com/?checkout=success',
      line_items: [{ price_data: { currency: 'usd', unit_amount: '4999', product_data: { name: 'Pro plan' } }, quantity: '1' }],
    });
    const url = stripe.sessions[0]!.url;
    expect(reply.done.text).toBe(`Pay here: ${url}`);
    expect(reply.done.toolCalls).toEqual([{ name: 'create_checkout_link', status: 'ok' }]);

    const [row] = await listToolCalls(server.app.database.db, session.conversationId);
    expect(row).toMatchObject({ toolName: 'create_checkout_link', status: 'ok', result: expect.objectContaining({ url, currency: 'USD' }) });
    expect(JSON.stringify(row)).not.toContain(FAKE_STRIPE_SECRET_KEY);
    // What the model saw carries no secret either.
    expect(JSON.stringify(openai.requests[1]!.body.messages)).not.toContain(FAKE_STRIPE_SECRET_KEY);
    openai.reset();
  });

  it('keeps zero-decimal currencies whole and refuses amounts over the cap without calling Stripe', async () => {
    const { socket, session } = await connectClient(server.url);
    stripe.reset();
    openai.push(
      {
        toolCalls: [
          { id: 'jpy', name: 'create_checkout_link', arguments: { amount: 490, currency: 'jpy', description: 'Tea' } },
          { id: 'big', name: 'create_checkout_link', arguments: { amount: 5000, currency: 'usd', description: 'Car' } },
          { id: 'neg', name: 'create_checkout_link', arguments: { amount: -5, currency: 'usd', description: 'Refund me' } },
        ],
      },
      { text: 'Done.' },
    );
    const { reply } = await sendAndCollect(socket, 'buy things');
    socket.disconnect();
    expect(reply.done.toolCalls.map((call) => call.status)).toEqual(['ok', 'invalid', 'invalid']);
    expect(stripe.sessions).toHaveLength(1);
    expect(stripe.requests[0]!.body).toMatchObject({ line_items: [{ price_data: { unit_amount: '490' } }] });
    const rows = await listToolCalls(server.app.database.db, session.conversationId);
    expect(rows.find((row) => row.callId === 'big')!.error).toMatch(/1000/);
    openai.reset();
  });

  it('reports a Stripe outage to the model as a readable tool error, and the turn still answers', async () => {
    const { socket, session } = await connectClient(server.url);
    stripe.reset();
    stripe.failNext({ status: 500 });
    openai.push(
      { toolCalls: [{ id: 'down', name: 'create_checkout_link', arguments: { amount: 10, currency: 'eur', description: 'Mug' } }] },
      { text: 'Payments are down right now, sorry.' },
    );
    const { reply } = await sendAndCollect(socket, 'buy a mug');
    socket.disconnect();
    expect(reply.done).toMatchObject({ text: 'Payments are down right now, sorry.', toolCalls: [{ name: 'create_checkout_link', status: 'error' }] });
    const [row] = await listToolCalls(server.app.database.db, session.conversationId);
    expect(row!.error).toBeTruthy();
    expect(row!.error).not.toContain(FAKE_STRIPE_SECRET_KEY);
  });

  it('asks for confirmation by each currency’s own threshold, never by another currency’s', async () => {
    const { socket, session } = await connectClient(server.url);
    stripe.reset();
    const prompts: { toolName: string; summary: string }[] = [];
    socket.on('confirmation.request', (payload) => prompts.push(payload));
    openai.push(
      {
        toolCalls: [
          // 950 JPY (about 6 USD) is above 500 but within the JPY threshold of 1000.
          { id: 'jpy', name: 'create_checkout_link', arguments: { amount: 950, currency: 'JPY', description: 'Tea' } },
          { id: 'usd_small', name: 'create_checkout_link', arguments: { amount: 499, currency: 'USD', description: 'Plan' } },
          { id: 'usd_big', name: 'create_checkout_link', arguments: { amount: 501, currency: 'USD', description: 'Big plan' } },
          { id: 'eur', name: 'create_checkout_link', arguments: { amount: 100, currency: 'EUR', description: 'Mug' } },
          // No GBP threshold: 30 GBP is not judged by the USD one.
          { id: 'gbp', name: 'create_checkout_link', arguments: { amount: 30, currency: 'GBP', description: 'Scarf' } },
        ],
      },
      { text: 'Some of these need your confirmation.' },
    );
    const { reply } = await sendAndCollect(socket, 'buy things');
    expect(reply.done.toolCalls.map((call) => call.status)).toEqual(['ok', 'ok', 'pending', 'ok', 'pending']);
    expect(stripe.sessions.map((created) => `${created.amount_total} ${created.currency}`)).toEqual(['950 jpy', '49900 usd', '10000 eur']);
    await expect.poll(() => prompts.map((prompt) => prompt.summary)).toEqual([
      'Create a payment link for “Big plan” at 501 USD.',
      'Create a payment link for “Scarf” at 30 GBP.',
    ]);
    const rows = await listToolCalls(server.app.database.db, session.conversationId);
    expect(rows.filter((row) => row.status === 'pending').map((row) => row.callId).sort()).toEqual(['gbp', 'usd_big']);
    socket.disconnect();
    openai.reset();
  });
});
