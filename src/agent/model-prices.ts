import type { TokenUsage } from './chat-model.js';

/** What a model's tokens cost, in USD per million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
}

/** Prices by `<provider>/<model>` or by `<model>` alone (any provider serving that model). */
export type ModelPriceTable = Readonly<Record<string, ModelPrice>>;

/**
 * The list prices of each provider's default model (`agent/providers/<name>/settings.ts`), in USD
 * per million tokens, as the providers published them on 2026-12-07 (anthropic.com and
 * platform.claude.com pricing: Claude Sonnet 5.5 at $2 / $10; openai.com/api/pricing: GPT-4o mini
 * at $0.15 / $0.60; groq.com/pricing: Llama 3.3 70B Versatile at $0.59 / $0.79). Batch, cached
 * and negotiated prices differ: set MODEL_PRICES to what you pay.
 */
export const DEFAULT_MODEL_PRICES: ModelPriceTable = {
  'anthropic/claude-sonnet-5-5': { input: 2, output: 10 },
  'openai/gpt-4o-mini': { input: 0.15, output: 0.6 },
  'groq/llama-3.3-70b-versatile': { input: 0.59, output: 0.79 },
};

/**
 * The price of a model call: MODEL_PRICES over the built-in defaults, `<provider>/<model>` before
 * `<model>`. A model with no price has its tokens counted but no cost (null, never 0), so a report
 * never passes an unknown price off as free.
 */
export class ModelPrices {
  readonly #layers: ReadonlyMap<string, ModelPrice>[];

  constructor(overrides: ModelPriceTable = {}, defaults: ModelPriceTable = DEFAULT_MODEL_PRICES) {
    // Maps, not the parsed objects: a model named like an Object.prototype member is just a name.
    this.#layers = [new Map(Object.entries(overrides)), new Map(Object.entries(defaults))];
  }

  priceOf(provider: string, model: string): ModelPrice | undefined {
    for (const layer of this.#layers) {
      const price = layer.get(`${provider}/${model}`) ?? layer.get(model);
      if (price) return price;
    }
    return undefined;
  }

  /** USD for one call's tokens; null when the model has no price. */
  costOf(provider: string, model: string, usage: TokenUsage): number | null {
    const price = this.priceOf(provider, model);
    if (!price) return null;
    return (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000;
  }
}
