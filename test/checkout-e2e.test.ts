import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_STRIPE_SECRET_KEY, startFakeStripeServer, type FakeStripeServer } from './fakes/fake-stripe-server.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';
import { listToolCalls } from './helpers/store-queries.js';

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
    const { reply } = await sendAndCollect(socket, 'I want the pro plan');
    socket.disconnect();

    expect(openai.requests[0]!.body.tools.map((t: { function: { name: string } }) => t.function.name)).toContain('create_checkout_link');
    expect(stripe.sessions).toHaveLength(1);
    const request = stripe.requests[0]!;
    expect(request.headers['idempotency-key']).toBe(`${session.conversationId}:call_pay`);
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
});
