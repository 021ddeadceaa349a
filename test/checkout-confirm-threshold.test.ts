import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { buildTools } from '../src/tools/build-tools.js';
import type { AnyTool } from '../src/tools/tool.js';

/**
 * CHECKOUT_CONFIRM_ABOVE is an amount in CHECKOUT_CONFIRM_CURRENCY; other currencies
 * have their own thresholds in CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY, and a currency with
 * none always needs confirmation. The tool is built from the config as at start-up; its
 * `confirmation.required` is what the executor asks before running a sensitive call.
 */

const logger = createLogger({ level: 'silent' });
// Building the tool contacts nobody, so no Stripe endpoint is needed to ask it about confirmation.
const STRIPE = { STRIPE_SECRET_KEY: 'sk_test_thresholds', PUBLIC_URL: 'https://shop.example.com' };

async function checkoutTool(env: Record<string, string> = {}): Promise<AnyTool> {
  const tools = await buildTools(loadConfig({ ...STRIPE, ...env }), logger);
  return tools.find((tool) => tool.name === 'create_checkout_link')!;
}

function needsConfirmation(tool: AnyTool, amount: number, currency: string, quantity = 1): boolean {
  return tool.confirmation!.required!(tool.input.parse({ amount, currency, description: 'Item', quantity }));
}

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('checkout confirmation settings', () => {
  it('defaults to 500 in USD with no other currency', () => {
    const config = loadConfig({});
    expect(config.CHECKOUT_CONFIRM_ABOVE).toBe(500);
    expect(config.CHECKOUT_CONFIRM_CURRENCY).toBe('USD');
    expect(config.CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY).toEqual({});
  });

  it('parses per-currency thresholds case-insensitively, with spaces, in each currency’s major unit', () => {
    const config = loadConfig({ CHECKOUT_CONFIRM_CURRENCY: ' eur ', CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'jpy:50000, USD : 499.99 ,kwd:1.5,gbp:0,' });
    expect(config.CHECKOUT_CONFIRM_CURRENCY).toBe('EUR');
    expect(config.CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY).toEqual({ JPY: 50_000, USD: 499.99, KWD: 1.5, GBP: 0 });
    expect(loadConfig({ CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: '  ' }).CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY).toEqual({});
  });

  it.each([
    ['CHECKOUT_CONFIRM_CURRENCY', 'xyz', /^Invalid configuration: CHECKOUT_CONFIRM_CURRENCY: expected an ISO 4217 currency code that Stripe can charge in/],
    ['CHECKOUT_CONFIRM_CURRENCY', 'dollars', /CHECKOUT_CONFIRM_CURRENCY: expected an ISO 4217/],
    ['CHECKOUT_CONFIRM_CURRENCY', 'irr', /CHECKOUT_CONFIRM_CURRENCY: expected an ISO 4217/],
    ['CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY', 'jpy', /CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: entry 1: expected currency:amount/],
    ['CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY', 'jpy:50000;eur:100', /CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: entry 1: expected currency:amount/],
    ['CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY', 'jpy:50000,eur:-5', /CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: entry 2: expected currency:amount with an amount of 0 or more/],
    ['CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY', 'eur:lots', /CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: entry 1: expected currency:amount/],
    ['CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY', 'eur:1e3', /CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: entry 1: expected currency:amount/],
    ['CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY', 'eur:100,xyz:5', /CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: entry 2: expected an ISO 4217 currency code/],
    ['CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY', 'eur:100,EUR:200', /CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: entry 2: the currency is already listed/],
  ])('refuses %s=%s with a message naming the variable', (name, value, message) => {
    const error = configError({ [name]: value });
    expect(error).toMatch(message);
    expect(error.split('\n')).toHaveLength(1);
  });

  it('refuses an amount too large to be a number', () => {
    expect(configError({ CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: `eur:${'9'.repeat(400)}` })).toMatch(
      /CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: entry 1: the amount is too large/,
    );
  });
});

describe('create_checkout_link: when a link needs confirmation', () => {
  it('keeps the old meaning for the default currency: totals above 500 USD', async () => {
    const tool = await checkoutTool();
    expect(needsConfirmation(tool, 499, 'USD')).toBe(false);
    expect(needsConfirmation(tool, 500, 'usd')).toBe(false);
    expect(needsConfirmation(tool, 500.01, 'USD')).toBe(true);
    expect(needsConfirmation(tool, 250, 'USD', 2)).toBe(false);
    expect(needsConfirmation(tool, 250.01, 'USD', 2)).toBe(true);
  });

  it('never compares across currencies: a currency without a threshold always needs confirmation', async () => {
    const tool = await checkoutTool();
    // 4,900 JPY is about 33 USD, and 1 EUR is less than 500 USD: neither is judged by the USD threshold.
    expect(needsConfirmation(tool, 4900, 'JPY')).toBe(true);
    expect(needsConfirmation(tool, 1, 'EUR')).toBe(true);
  });

  it('uses each currency’s own threshold from CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY', async () => {
    const tool = await checkoutTool({ CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'jpy:50000,eur:100,kwd:1.5', CHECKOUT_MAX_AMOUNT: '100000' });
    expect(needsConfirmation(tool, 4900, 'JPY')).toBe(false);
    expect(needsConfirmation(tool, 5000, 'JPY', 10)).toBe(false);
    expect(needsConfirmation(tool, 5001, 'JPY', 10)).toBe(true);
    expect(needsConfirmation(tool, 100, 'EUR')).toBe(false);
    expect(needsConfirmation(tool, 100.01, 'EUR')).toBe(true);
    // Three-decimal currency: 1.5 KWD is 1500 fils, 1.51 KWD is above it.
    expect(needsConfirmation(tool, 1.5, 'KWD')).toBe(false);
    expect(needsConfirmation(tool, 1.51, 'KWD')).toBe(true);
    expect(needsConfirmation(tool, 499, 'USD')).toBe(false);
    expect(needsConfirmation(tool, 5, 'GBP')).toBe(true);
  });

  it('names the default currency with CHECKOUT_CONFIRM_CURRENCY, and a per-currency entry wins over it', async () => {
    const euro = await checkoutTool({ CHECKOUT_CONFIRM_CURRENCY: 'eur', CHECKOUT_CONFIRM_ABOVE: '100' });
    expect(needsConfirmation(euro, 100, 'EUR')).toBe(false);
    expect(needsConfirmation(euro, 101, 'EUR')).toBe(true);
    expect(needsConfirmation(euro, 1, 'USD')).toBe(true);

    const overridden = await checkoutTool({ CHECKOUT_CONFIRM_ABOVE: '500', CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'usd:50' });
    expect(needsConfirmation(overridden, 60, 'USD')).toBe(true);
    expect(needsConfirmation(overridden, 50, 'USD')).toBe(false);
  });

  it('compares exactly in minor units, and 0 means every link in that currency', async () => {
    const tool = await checkoutTool({ CHECKOUT_CONFIRM_ABOVE: '0.3', CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'jpy:0' });
    // 0.1 × 3 is 0.30000000000000004 in floating point; in cents it is exactly 30.
    expect(needsConfirmation(tool, 0.1, 'USD', 3)).toBe(false);
    expect(needsConfirmation(tool, 0.31, 'USD')).toBe(true);
    expect(needsConfirmation(tool, 1, 'JPY')).toBe(true);

    const every = await checkoutTool({ CHECKOUT_CONFIRM_ABOVE: '0' });
    expect(needsConfirmation(every, 0.01, 'USD')).toBe(true);
  });
});
