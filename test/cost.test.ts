import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DEFAULT_MODEL_PRICES, ModelPrices } from '../src/agent/model-prices.js';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { defineTool } from '../src/tools/tool.js';
import { startFakeAnthropicServer } from './fakes/fake-anthropic-server.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { listMessages } from './helpers/store-queries.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * Every model call's tokens are priced (MODEL_PRICES over the built-in defaults) and the turn's
 * cost is stored on its assistant row, summed over its calls, each at its own model's price. The
 * real SDKs talk to fake servers that report usage in each provider's wire format.
 */

const lookupTool = defineTool({
  name: 'lookup_order',
  description: 'Looks an order up.',
  input: z.object({ orderId: z.string() }).strict(),
  execute: async ({ orderId }) => ({ orderId, status: 'shipped' }),
});

/** USD for tokens at a price per million, as the providers bill them. */
const usd = (inputTokens: number, outputTokens: number, price: { input: number; output: number }) =>
  (inputTokens * price.input + outputTokens * price.output) / 1_000_000;

const GPT_4O_MINI = DEFAULT_MODEL_PRICES['openai/gpt-4o-mini']!;
const SONNET = DEFAULT_MODEL_PRICES['anthropic/claude-sonnet-5-5']!;

/** A counter's value for these labels, read from the server's own /metrics text (undefined: no such series). */
async function metricValue(server: RunningApp, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const [series, value] = line.split(' ');
    const inside = series!.slice(name.length + 1, -1).split(',');
    if (wanted.every((pair) => inside.includes(pair)) && inside.length === wanted.length) return Number(value);
  }
  return undefined;
}

async function turnOf(server: RunningApp, text: string) {
  const { socket, session } = await connectClient(server.url);
  try {
    const { reply } = await sendAndCollect(socket, text);
    const rows = await listMessages(server.app.database.db, session.conversationId);
    return { reply, user: rows.find((row) => row.role === 'user')!, assistant: rows.find((row) => row.role === 'assistant')! };
  } finally {
    socket.disconnect();
  }
}

describe('MODEL_PRICES and the price table', () => {
  it('prices by provider/model, then by model alone, MODEL_PRICES over the defaults; an unknown model has no price', () => {
    const prices = new ModelPrices({ 'openai/gpt-4o-mini': { input: 1, output: 2 }, 'acme-large': { input: 3, output: 4 } });
    expect(prices.priceOf('openai', 'gpt-4o-mini')).toEqual({ input: 1, output: 2 });
    // The default of another provider's default model is still there.
    expect(prices.priceOf('groq', 'llama-3.3-70b-versatile')).toEqual({ input: 0.59, output: 0.79 });
    // A model-only key prices that model whichever provider serves it.
    expect(prices.priceOf('openai', 'acme-large')).toEqual({ input: 3, output: 4 });
    expect(prices.priceOf('groq', 'acme-large')).toEqual({ input: 3, output: 4 });
    expect(prices.costOf('openai', 'acme-large', { inputTokens: 1_000_000, outputTokens: 500_000 })).toBe(5);
    expect(prices.costOf('openai', 'unknown-model', { inputTokens: 10, outputTokens: 10 })).toBeNull();
    // A model named like an Object.prototype member is only a name.
    expect(prices.priceOf('openai', 'constructor')).toBeUndefined();
    expect(prices.costOf('openai', 'toString', { inputTokens: 1, outputTokens: 1 })).toBeNull();
  });

  it('has a built-in price for the default model of every provider', () => {
    const config = loadConfig({});
    const prices = new ModelPrices(config.MODEL_PRICES);
    expect(prices.priceOf('anthropic', config.ANTHROPIC_MODEL)).toEqual({ input: 2, output: 10 });
    expect(prices.priceOf('openai', config.OPENAI_MODEL)).toEqual({ input: 0.15, output: 0.6 });
    expect(prices.priceOf('groq', config.GROQ_MODEL)).toEqual({ input: 0.59, output: 0.79 });
  });

  it('reads MODEL_PRICES as JSON, and a malformed value fails naming the variable without echoing it', () => {
    expect(loadConfig({ MODEL_PRICES: '{"openai/gpt-4o-mini":{"input":0.1,"output":0.4}}' }).MODEL_PRICES).toEqual({
      'openai/gpt-4o-mini': { input: 0.1, output: 0.4 },
    });
    expect(loadConfig({ MODEL_PRICES: '' }).MODEL_PRICES).toEqual({});
    const failure = (value: string) => {
      try {
        loadConfig({ MODEL_PRICES: value });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    const notJson = failure('{"secret-looking-model": 0.15');
    expect(notJson).toMatch(/^Invalid configuration: MODEL_PRICES: not valid JSON; expected a JSON object of "<provider>\/<model>"/);
    expect(notJson).not.toContain('secret-looking-model');
    expect(failure('{"gpt-4o-mini":{"input":-1,"output":0.6}}')).toContain('gpt-4o-mini.input');
    expect(failure('{"gpt-4o-mini":{"input":0.15}}')).toContain('gpt-4o-mini.output');
    expect(failure('{"gpt-4o-mini":{"input":0.15,"output":0.6,"cached":0.01}}')).toMatch(/MODEL_PRICES: .*cached/);
    expect(failure('[1,2]')).toMatch(/MODEL_PRICES: expected a JSON object/);
    expect(failure('{"gpt-4o-mini":{"input":"cheap","output":0.6}}')).toContain('gpt-4o-mini.input');
  });
});

describe('the cost of a turn, end to end (default prices)', () => {
  let openai: FakeProviderServer;
  let anthropic: FakeProviderServer;
  let server: RunningApp;

  beforeAll(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAIServer(), startFakeAnthropicServer()]);
    server = await startTestApp(
      {
        OPENAI_API_KEY: 'sk-openai-test',
        OPENAI_BASE_URL: openai.url,
        ANTHROPIC_API_KEY: 'sk-ant-test',
        ANTHROPIC_BASE_URL: anthropic.url,
        LLM_PROVIDERS: 'openai,anthropic',
        LLM_RETRIES: '0',
      },
      { extraTools: [lookupTool] },
    );
  });

  afterEach(() => {
    openai.reset();
    anthropic.reset();
  });

  afterAll(async () => {
    await server?.stop();
    await Promise.all([openai?.close(), anthropic?.close()]);
  });

  it('stores the exact cost of a priced call on the assistant row and counts it in the metrics', async () => {
    const costBefore = (await metricValue(server, 'switchboard_llm_cost_usd_total', { provider: 'openai', model: 'gpt-4o-mini' })) ?? 0;
    const inputBefore = (await metricValue(server, 'switchboard_llm_tokens_total', { provider: 'openai', model: 'gpt-4o-mini', kind: 'input' })) ?? 0;
    openai.push({ text: 'Hello!', usage: { inputTokens: 1200, outputTokens: 300 } });

    const { reply, user, assistant } = await turnOf(server, 'hi');

    expect(reply.done.text).toBe('Hello!');
    const expected = usd(1200, 300, GPT_4O_MINI);
    expect(expected).toBeCloseTo(0.00036, 15);
    expect(assistant).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', inputTokens: 1200, outputTokens: 300 });
    expect(assistant.costUsd).toBeCloseTo(expected, 15);
    // The cost is the reply's: the user row of the turn carries none.
    expect(user.costUsd).toBeNull();
    expect((await metricValue(server, 'switchboard_llm_cost_usd_total', { provider: 'openai', model: 'gpt-4o-mini' }))! - costBefore).toBeCloseTo(expected, 12);
    expect((await metricValue(server, 'switchboard_llm_tokens_total', { provider: 'openai', model: 'gpt-4o-mini', kind: 'input' }))! - inputBefore).toBe(1200);
  });

  it('sums every call of a tool loop, and prices a fallback mid-turn at the model that answered', async () => {
    const anthropicBefore = (await metricValue(server, 'switchboard_llm_cost_usd_total', { provider: 'anthropic', model: 'claude-sonnet-5-5' })) ?? 0;
    openai.push(
      { toolCalls: [{ id: 'call_1', name: 'lookup_order', arguments: { orderId: 'ord_1' } }], usage: { inputTokens: 1000, outputTokens: 50 } },
      // The next step fails on OpenAI and moves to Anthropic for the rest of the turn.
      { error: { status: 500 } },
    );
    anthropic.push({ text: 'Your order has shipped.', usage: { inputTokens: 2000, outputTokens: 100 } });

    const { reply, assistant } = await turnOf(server, 'where is ord_1?');

    expect(reply.done.text).toBe('Your order has shipped.');
    expect(openai.requests).toHaveLength(2);
    expect(anthropic.requests).toHaveLength(1);
    const expected = usd(1000, 50, GPT_4O_MINI) + usd(2000, 100, SONNET);
    expect(expected).toBeCloseTo(0.00518, 15);
    expect(assistant).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-5-5', inputTokens: 3000, outputTokens: 150 });
    expect(assistant.costUsd).toBeCloseTo(expected, 15);
    expect((await metricValue(server, 'switchboard_llm_cost_usd_total', { provider: 'anthropic', model: 'claude-sonnet-5-5' }))! - anthropicBefore).toBeCloseTo(
      usd(2000, 100, SONNET),
      12,
    );
  });

  it('keeps the cost of the steps answered before every provider failed, on the fallback row', async () => {
    openai.push(
      { toolCalls: [{ id: 'call_2', name: 'lookup_order', arguments: { orderId: 'ord_2' } }], usage: { inputTokens: 4000, outputTokens: 100 } },
      { error: { status: 500 } },
    );
    anthropic.push({ error: { status: 500 } });

    const { reply, user, assistant } = await turnOf(server, 'where is ord_2?');

    expect(reply.done.fallback).toBe(true);
    expect(user).toMatchObject({ status: 'fallback', fallbackReason: 'all_providers_failed' });
    // The first call was paid for: the budgets count it even though the person got the fallback.
    expect(assistant.costUsd).toBeCloseTo(usd(4000, 100, GPT_4O_MINI), 15);
    expect(assistant).toMatchObject({ inputTokens: 4000, outputTokens: 100 });
  });
});

describe('a model without a price', () => {
  let openai: FakeProviderServer;
  let anthropic: FakeProviderServer;
  let server: RunningApp;

  beforeAll(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAIServer(), startFakeAnthropicServer()]);
    server = await startTestApp(
      {
        OPENAI_API_KEY: 'sk-openai-test',
        OPENAI_BASE_URL: openai.url,
        OPENAI_MODEL: 'acme-unpriced',
        ANTHROPIC_API_KEY: 'sk-ant-test',
        ANTHROPIC_BASE_URL: anthropic.url,
        ANTHROPIC_MODEL: 'claude-house',
        MODEL_PRICES: JSON.stringify({ 'claude-house': { input: 4, output: 20 } }),
        LLM_PROVIDERS: 'openai,anthropic',
        LLM_RETRIES: '0',
      },
      { extraTools: [lookupTool] },
    );
  });

  afterEach(() => {
    openai.reset();
    anthropic.reset();
  });

  afterAll(async () => {
    await server?.stop();
    await Promise.all([openai?.close(), anthropic?.close()]);
  });

  it('stores tokens only: the cost is null, not 0, and no cost series is made up', async () => {
    openai.push({ text: 'Hi there.', usage: { inputTokens: 700, outputTokens: 40 } });

    const { assistant } = await turnOf(server, 'hello');

    expect(assistant).toMatchObject({ provider: 'openai', model: 'acme-unpriced', inputTokens: 700, outputTokens: 40, costUsd: null });
    expect(await metricValue(server, 'switchboard_llm_tokens_total', { provider: 'openai', model: 'acme-unpriced', kind: 'output' })).toBe(40);
    expect(await metricValue(server, 'switchboard_llm_cost_usd_total', { provider: 'openai', model: 'acme-unpriced' })).toBeUndefined();
  });

  it('prices the calls it can in a turn that mixes an unpriced and a priced model (MODEL_PRICES by model name)', async () => {
    openai.push(
      { toolCalls: [{ id: 'call_3', name: 'lookup_order', arguments: { orderId: 'ord_3' } }], usage: { inputTokens: 900, outputTokens: 30 } },
      { error: { status: 503 } },
    );
    anthropic.push({ text: 'Shipped.', usage: { inputTokens: 1000, outputTokens: 200 } });

    const { assistant } = await turnOf(server, 'where is ord_3?');

    expect(assistant).toMatchObject({ provider: 'anthropic', model: 'claude-house', inputTokens: 1900, outputTokens: 230 });
    expect(assistant.costUsd).toBeCloseTo(usd(1000, 200, { input: 4, output: 20 }), 15);
    expect(await metricValue(server, 'switchboard_llm_cost_usd_total', { provider: 'anthropic', model: 'claude-house' })).toBeCloseTo(0.008, 12);
  });
});
