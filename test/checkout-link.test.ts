import type Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ToolExecutionError } from '../src/errors/index.js';
import { createCheckoutLinkTool, createStripeClient, type CheckoutLink } from '../src/tools/create-checkout-link.js';
import { isStripeCurrency, toMinorUnits } from '../src/config/currencies.js';
import type { ToolContext } from '../src/tools/tool.js';
import { runTool } from '../src/tools/run-tool.js';
import { ToolRegistry } from '../src/tools/tool-registry.js';
import { startFakeStripeServer, type FakeStripeServer } from './fakes/fake-stripe-server.js';

const SECRET = 'sk_test_51SwitchboardSecretKeyForTests0000abcd';
const SUCCESS_URL = 'https://shop.example/checkout/success';
const CANCEL_URL = 'https://shop.example/checkout/cancel';
const MAX_AMOUNT = 10_000;

let server: FakeStripeServer;
let stripe: Stripe;
let callNumber = 0;

beforeAll(async () => {
  server = await startFakeStripeServer({ secretKey: SECRET });
  stripe = createStripeClient({ secretKey: SECRET, apiUrl: server.url });
});
afterAll(() => server.close());
beforeEach(() => server.reset());

function checkoutTool(client: Stripe = stripe) {
  return createCheckoutLinkTool({ stripe: client, successUrl: SUCCESS_URL, cancelUrl: CANCEL_URL, maxAmount: MAX_AMOUNT });
}

function context(overrides: Partial<ToolContext> = {}): ToolContext {
  callNumber += 1;
  return {
    conversationId: 'conv_1',
    messageId: `msg_${callNumber}`,
    channel: 'web',
    idempotencyKey: `conv_1:call_${callNumber}`,
    toolCallId: `00000000-0000-4000-8000-${String(callNumber).padStart(12, '0')}`,
    signal: new AbortController().signal,
    ...overrides,
  };
}

/** As the executor runs a tool: validate the model's arguments with the tool's schema, then execute. */
async function run(args: unknown, ctx: ToolContext = context(), tool = checkoutTool()): Promise<CheckoutLink> {
  return tool.execute(tool.input.parse(args), ctx);
}

/** The readable message the executor would hand back to the model for invalid arguments. */
function rejection(args: unknown): string {
  const result = checkoutTool().input.safeParse(args);
  if (result.success) throw new Error(`expected ${JSON.stringify(args)} to be rejected`);
  return z.prettifyError(result.error);
}

function wireLineItem(index = 0) {
  const body = server.requests[index]!.body as {
    line_items: Array<{ quantity: string; price_data: { currency: string; unit_amount: string; product_data: { name: string } } }>;
  };
  return body.line_items[0]!;
}

async function failure(promise: Promise<unknown>): Promise<ToolExecutionError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the tool to fail');
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ToolExecutionError);
  return error as ToolExecutionError;
}

describe('create_checkout_link against the fake Stripe API', () => {
  it('creates a session for 49.99 USD with unit_amount 4999 on the wire and returns its link', async () => {
    const ctx = context();
    const link = await run({ amount: 49.99, currency: 'usd', description: 'Annual plan' }, ctx);

    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/checkout/sessions');
    expect(request.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request.headers['idempotency-key']).toBe(ctx.idempotencyKey);
    expect(request.rawBody).toContain('line_items[0][price_data][unit_amount]=4999');
    expect(request.body).toEqual({
      mode: 'payment',
      line_items: [
        { price_data: { currency: 'usd', unit_amount: '4999', product_data: { name: 'Annual plan' } }, quantity: '1' },
      ],
      success_url: SUCCESS_URL,
      cancel_url: CANCEL_URL,
      // What a webhook event about this session finds its conversation and call by.
      client_reference_id: 'conv_1',
      metadata: { conversation_id: 'conv_1', tool_call_id: ctx.toolCallId, channel: 'web' },
    });

    const session = server.sessions[0]!;
    expect(session.amount_total).toBe(4999);
    expect(session.metadata).toEqual({ conversation_id: 'conv_1', tool_call_id: ctx.toolCallId, channel: 'web' });
    expect(link).toEqual({
      url: session.url,
      sessionId: session.id,
      amount: 49.99,
      currency: 'USD',
      quantity: 1,
      expiresAt: new Date(session.expires_at * 1000).toISOString(),
    });
    expect(link.url).toMatch(/^https:\/\/checkout\.stripe\.com\/c\/pay\/cs_test_/);
  });

  it.each([
    [49.99, 'USD', '4999'],
    [19.99, 'USD', '1999'],
    [0.07, 'EUR', '7'],
    [1.1, 'GBP', '110'],
    [1.15, 'USD', '115'],
    [4.35, 'CAD', '435'],
    [0.29, 'USD', '29'],
    [1234.56, 'CHF', '123456'],
    [4900, 'JPY', '4900'],
    [4900, 'jpy', '4900'],
    [1, 'KRW', '1'],
    [1.5, 'KWD', '1500'],
    [0.01, 'BHD', '10'],
    [2.35, 'OMR', '2350'],
    [40, 'ISK', '4000'],
  ])('%s %s is unit_amount %s on the wire', async (amount, currency, unitAmount) => {
    const link = await run({ amount, currency, description: 'Item' });
    const item = wireLineItem();
    expect(item.price_data.unit_amount).toBe(unitAmount);
    expect(item.price_data.currency).toBe(currency.toLowerCase());
    expect(link.amount).toBe(amount);
    expect(link.currency).toBe(currency.toUpperCase());
  });

  it('sends the quantity, and Stripe totals the session from it', async () => {
    const link = await run({ amount: 12.5, currency: 'EUR', description: 'Ticket', quantity: 3 });
    expect(wireLineItem().quantity).toBe('3');
    expect(server.sessions[0]!.amount_total).toBe(3750);
    expect(server.lineItems.get(link.sessionId)).toEqual([
      { currency: 'eur', unit_amount: 1250, quantity: 3, amount_total: 3750, description: 'Ticket' },
    ]);
    expect(link.quantity).toBe(3);
  });

  it('trims the description before it becomes the product name', async () => {
    await run({ amount: 5, currency: 'USD', description: '  Coffee beans  ' });
    expect(wireLineItem().price_data.product_data.name).toBe('Coffee beans');
  });

  it('creates one session when the same call runs twice with the same idempotency key', async () => {
    const ctx = context();
    const args = { amount: 49.99, currency: 'USD', description: 'Annual plan' };
    const first = await run(args, ctx);
    const second = await run(args, { ...ctx });

    expect(server.requests).toHaveLength(2);
    expect(server.sessions).toHaveLength(1);
    expect(second).toEqual(first);
    expect(server.requests[1]!.headers['idempotency-key']).toBe(ctx.idempotencyKey);
    expect(server.requests[1]!.response?.headers['idempotent-replayed']).toBe('true');
  });

  it('creates separate sessions for separate calls', async () => {
    const args = { amount: 49.99, currency: 'USD', description: 'Annual plan' };
    const first = await run(args);
    const second = await run(args);
    expect(server.sessions).toHaveLength(2);
    expect(second.url).not.toBe(first.url);
  });

  it('keeps an over-long idempotency key stable by hashing it to a length Stripe accepts', async () => {
    const ctx = context({ idempotencyKey: `conv_1:${'x'.repeat(300)}` });
    const args = { amount: 10, currency: 'USD', description: 'Item' };
    const first = await run(args, ctx);
    const second = await run(args, ctx);

    const sent = server.requests.map((request) => request.headers['idempotency-key'] as string);
    expect(sent[0]!.length).toBeLessThanOrEqual(255);
    expect(sent[1]).toBe(sent[0]);
    expect(server.sessions).toHaveLength(1);
    expect(second.sessionId).toBe(first.sessionId);
  });

  it('reports a reused idempotency key with different details as a readable error', async () => {
    const ctx = context();
    await run({ amount: 49.99, currency: 'USD', description: 'Annual plan' }, ctx);
    const error = await failure(run({ amount: 59.99, currency: 'USD', description: 'Annual plan' }, ctx));
    expect(error.message).toMatch(/conflicting repeat/);
    expect(server.sessions).toHaveLength(1);
  });

  it('returns nothing secret', async () => {
    const link = await run({ amount: 49.99, currency: 'USD', description: 'Annual plan' });
    const text = JSON.stringify(link);
    expect(text).not.toContain(SECRET);
    expect(text).not.toMatch(/sk_(test|live)_/);
    expect(Object.keys(link).sort()).toEqual(['amount', 'currency', 'expiresAt', 'quantity', 'sessionId', 'url']);
  });
});

describe('create_checkout_link when Stripe’s answer has no expires_at', () => {
  const args = { amount: 49.99, currency: 'USD', description: 'Annual plan' };

  it('still returns the link, with expiresAt null, and describes it without an expiry', async () => {
    server.omitFromNextSession('expires_at');
    const link = await run(args);

    const answer = server.requests[0]!.response!;
    expect(answer.status).toBe(200);
    expect(answer.body).not.toHaveProperty('expires_at');
    const session = server.sessions[0]!;
    expect(link).toEqual({ url: session.url, sessionId: session.id, amount: 49.99, currency: 'USD', quantity: 1, expiresAt: null });
    expect(checkoutTool().describeResult!(link)).toBe(`Here is the payment link (49.99 USD): ${session.url}`);
  });

  it('through runTool: status ok, not “the tool failed unexpectedly”', async () => {
    server.omitFromNextSession('expires_at');
    const tool = checkoutTool();
    const outcome = await runTool(tool, tool.input.parse(args), context(), 5000);
    expect(outcome).toMatchObject({ status: 'ok', result: { url: server.sessions[0]!.url, expiresAt: null } });
  });

  it('tells the person when the link expires when Stripe says so', async () => {
    const link = await run(args);
    const expiry = new Date(server.sessions[0]!.expires_at * 1000);
    expect(link.expiresAt).toBe(expiry.toISOString());
    const text = checkoutTool().describeResult!(link);
    expect(text).toMatch(/^Here is the payment link \(49\.99 USD\): \S+ \(valid until .+ UTC\)$/);
    expect(text).toContain(String(expiry.getUTCFullYear()));
  });
});

describe('create_checkout_link input validation', () => {
  it.each([
    ['zero', { amount: 0, currency: 'USD', description: 'x' }, 'amount must be greater than 0'],
    ['a negative amount', { amount: -5, currency: 'USD', description: 'x' }, 'amount must be greater than 0'],
    ['an amount above the cap', { amount: 10_000.01, currency: 'USD', description: 'x' }, 'amount must be at most 10000'],
    ['a huge amount', { amount: 1e12, currency: 'USD', description: 'x' }, 'amount must be at most 10000'],
    ['a total above the cap', { amount: 4000, currency: 'USD', description: 'x', quantity: 3 }, 'the total (amount × quantity) must be at most 10000 USD'],
    ['NaN', { amount: Number.NaN, currency: 'USD', description: 'x' }, 'amount must be a number'],
    ['Infinity', { amount: Number.POSITIVE_INFINITY, currency: 'USD', description: 'x' }, 'amount must be a number'],
    ['a word', { amount: 'abc', currency: 'USD', description: 'x' }, 'amount must be a number'],
    ['a numeric string', { amount: '49.99', currency: 'USD', description: 'x' }, 'amount must be a number'],
    ['a missing amount', { currency: 'USD', description: 'x' }, 'amount must be a number'],
    ['three decimals in USD', { amount: 10.005, currency: 'USD', description: 'x' }, 'USD amounts can have at most 2 decimal places (got 10.005)'],
    ['decimals in JPY', { amount: 4900.5, currency: 'JPY', description: 'x' }, 'JPY has no minor unit, so the amount must be a whole number (got 4900.5)'],
    ['a KWD amount whose last decimal is not 0', { amount: 1.505, currency: 'KWD', description: 'x' }, 'KWD amounts must be a multiple of 0.01'],
    ['fractional krónur', { amount: 40.1, currency: 'ISK', description: 'x' }, 'ISK amounts must be whole numbers'],
    ['a float artefact', { amount: 0.1 + 0.2, currency: 'USD', description: 'x' }, 'USD amounts can have at most 2 decimal places'],
    ['an unknown currency', { amount: 5, currency: 'XYZ', description: 'x' }, 'currency "XYZ" is not an ISO 4217 code that Stripe can charge in'],
    ['a currency Stripe cannot charge in', { amount: 5, currency: 'IRR', description: 'x' }, 'currency "IRR" is not an ISO 4217 code'],
    ['a two-letter currency', { amount: 5, currency: 'US', description: 'x' }, 'currency must be a 3-letter ISO 4217 code'],
    ['a currency symbol', { amount: 5, currency: '$', description: 'x' }, 'currency must be a 3-letter ISO 4217 code'],
    ['an extra key', { amount: 5, currency: 'USD', description: 'x', success_url: 'https://evil.example' }, 'unknown field "success_url"'],
    ['an empty description', { amount: 5, currency: 'USD', description: '' }, 'description must not be empty'],
    ['a blank description', { amount: 5, currency: 'USD', description: '   ' }, 'description must not be empty'],
    ['a description over 500 characters', { amount: 5, currency: 'USD', description: 'a'.repeat(501) }, 'description must be at most 500 characters'],
    ['quantity 0', { amount: 5, currency: 'USD', description: 'x', quantity: 0 }, 'quantity must be at least 1'],
    ['quantity 101', { amount: 5, currency: 'USD', description: 'x', quantity: 101 }, 'quantity must be at most 100'],
    ['a fractional quantity', { amount: 5, currency: 'USD', description: 'x', quantity: 1.5 }, 'quantity must be a whole number'],
  ])('rejects %s with a readable message', (_name, args, message) => {
    expect(rejection(args)).toContain(message);
  });

  it('accepts amounts at the cap and fills in quantity 1', () => {
    const parsed = checkoutTool().input.parse({ amount: 10_000, currency: ' usd ', description: 'x' });
    expect(parsed).toEqual({ amount: 10_000, currency: 'USD', description: 'x', quantity: 1 });
  });

  it('offers the model a JSON schema with the fields, their limits and no extra keys', () => {
    const [spec] = new ToolRegistry([checkoutTool()]).specs();
    expect(spec!.name).toBe('create_checkout_link');
    expect(spec!.inputSchema).toMatchObject({
      type: 'object',
      required: ['amount', 'currency', 'description'],
      additionalProperties: false,
      properties: {
        amount: { type: 'number', exclusiveMinimum: 0, maximum: MAX_AMOUNT },
        currency: { type: 'string' },
        description: { type: 'string', minLength: 1, maxLength: 500 },
        quantity: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
      },
    });
  });
});

describe('create_checkout_link when Stripe fails', () => {
  const args = { amount: 49.99, currency: 'USD', description: 'Annual plan' };

  it('reports rejected credentials as a configuration problem without echoing any key', async () => {
    const wrongKey = 'sk_test_51WrongKeyThatStripeDoesNotKnow9876';
    const tool = checkoutTool(createStripeClient({ secretKey: wrongKey, apiUrl: server.url }));
    const error = await failure(run(args, context(), tool));

    const answer = server.requests[0]!.response!;
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ error: { type: 'invalid_request_error', message: 'Invalid API Key provided: sk_test_****9876' } });
    expect(error.message).toContain('payment provider rejected our credentials');
    expect(error.message).not.toContain(wrongKey);
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toMatch(/sk_(test|live)_/);
    expect(error.cause).toBeUndefined();
    expect(server.sessions).toHaveLength(0);
  });

  it('maps a scripted 401 the same way', async () => {
    server.failNext({ status: 401 });
    const error = await failure(run(args));
    expect(error.message).toContain('rejected our credentials');
    expect(error.message).not.toMatch(/sk_(test|live)_/);
  });

  it('maps a 429 to a rate-limit message', async () => {
    server.failNext({ status: 429 });
    const error = await failure(run(args));
    expect(error.message).toContain('rate limiting');
    expect(server.requests).toHaveLength(1);
  });

  it('maps a 500 to an internal-error message, with no retry by the SDK', async () => {
    server.failNext({ status: 500 });
    const error = await failure(run(args));
    expect(error.message).toContain('internal error');
    expect(error.message).toMatch(/Stripe request req_fake\d+/);
    // The SDK would retry a 500 twice by default; this project keeps retries with one owner.
    expect(server.requests).toHaveLength(1);
  });

  it('passes on Stripe’s message and parameter for an invalid request', async () => {
    server.failNext({ status: 400, message: 'Not a valid URL', param: 'success_url', code: 'url_invalid' });
    const error = await failure(run(args));
    expect(error.message).toContain('the payment provider rejected the request: Not a valid URL (parameter success_url)');
  });

  it('redacts anything key-shaped from an invalid-request message', async () => {
    server.failNext({ status: 400, message: `Something about ${SECRET} went wrong` });
    const error = await failure(run(args));
    expect(error.message).not.toContain(SECRET);
    expect(error.message).toContain('[redacted key]');
  });

  it('reports a timeout as an unreachable provider', async () => {
    server.failNext({ hang: true });
    const tool = checkoutTool(createStripeClient({ secretKey: SECRET, apiUrl: server.url, timeoutMs: 200 }));
    const error = await failure(run(args, context(), tool));
    expect(error.message).toContain('could not reach the payment provider');
  });

  it('reports a refused connection as an unreachable provider', async () => {
    const gone = await startFakeStripeServer({ secretKey: SECRET });
    await gone.close();
    const tool = checkoutTool(createStripeClient({ secretKey: SECRET, apiUrl: gone.url }));
    const error = await failure(run(args, context(), tool));
    expect(error.message).toContain('could not reach the payment provider');
  });

  it('stops waiting as soon as the call is aborted', async () => {
    server.failNext({ hang: true });
    const controller = new AbortController();
    const tool = checkoutTool(createStripeClient({ secretKey: SECRET, apiUrl: server.url, timeoutMs: 500 }));
    const pending = run(args, context({ signal: controller.signal }), tool);
    await expect.poll(() => server.requests.length).toBe(1);

    const started = performance.now();
    controller.abort();
    const error = await failure(pending);
    expect(error.message).toContain('cancelled');
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('does not call Stripe when the call was aborted before it started', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await failure(run(args, context({ signal: controller.signal })));
    expect(error.message).toContain('cancelled');
    expect(server.requests).toHaveLength(0);
  });
});

describe('createStripeClient', () => {
  it('refuses an API URL with a path, which the SDK could not honour', () => {
    expect(() => createStripeClient({ secretKey: SECRET, apiUrl: `${server.url}/v1` })).toThrow(/without a path/);
  });

  it('refuses a non-http API URL', () => {
    expect(() => createStripeClient({ secretKey: SECRET, apiUrl: 'ftp://127.0.0.1:21' })).toThrow(/http\(s\)/);
  });
});

describe('currencies', () => {
  it('knows Stripe’s currencies case-insensitively and nothing else', () => {
    expect(['USD', 'eur', 'Jpy', 'KWD', 'ISK', 'XOF'].every(isStripeCurrency)).toBe(true);
    expect(['XYZ', 'IRR', 'BTC', 'usdt'].some(isStripeCurrency)).toBe(false);
  });

  it('converts without float error over a sweep of two-decimal prices', () => {
    const wrong: number[] = [];
    for (let cents = 1; cents <= 100_000; cents += 7) {
      const converted = toMinorUnits(Number((cents / 100).toFixed(2)), 'USD');
      if (!converted.ok || converted.value !== cents) wrong.push(cents);
    }
    expect(wrong).toEqual([]);
  });
});

describe('fake Stripe server', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/v1/checkout/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
  const validBody =
    'mode=payment&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=500' +
    '&line_items[0][price_data][product_data][name]=Tea&line_items[0][quantity]=2&success_url=https%3A%2F%2Fa.example%2Fok';

  it('rejects a request without a key in Stripe’s error format', async () => {
    const response = await fetch(`${server.url}/v1/checkout/sessions`, { method: 'POST', body: validBody });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toContain('You did not provide an API key');
  });

  it('rejects a non-integer unit_amount as Stripe does', async () => {
    const response = await post(validBody.replace('unit_amount]=500', 'unit_amount]=49.99'));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: {
        type: 'invalid_request_error',
        code: 'parameter_invalid_integer',
        param: 'line_items[0][price_data][unit_amount]',
        message: 'Invalid integer: 49.99',
      },
    });
    expect(server.sessions).toHaveLength(0);
  });

  it('replays a saved 500 for the same key, as Stripe’s API v1 does', async () => {
    server.failNext({ status: 500 });
    const first = await post(validBody, { 'idempotency-key': 'key-500' });
    const second = await post(validBody, { 'idempotency-key': 'key-500' });
    expect(first.status).toBe(500);
    expect(second.status).toBe(500);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.json()).toEqual(await first.json());
    expect(server.sessions).toHaveLength(0);
  });

  it('answers 400 idempotency_error when a key is reused with other parameters', async () => {
    expect((await post(validBody, { 'idempotency-key': 'key-1' })).status).toBe(200);
    const response = await post(validBody.replace('quantity]=2', 'quantity]=3'), { 'idempotency-key': 'key-1' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: 'idempotency_error' } });
  });

  it('retrieves a created session and 404s an unknown one', async () => {
    const created = (await (await post(validBody)).json()) as { id: string };
    const found = await fetch(`${server.url}/v1/checkout/sessions/${created.id}`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(await found.json()).toMatchObject({ id: created.id, object: 'checkout.session', amount_total: 1000, status: 'open' });
    const missing = await fetch(`${server.url}/v1/checkout/sessions/cs_test_nope`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'resource_missing' } });
  });
});
