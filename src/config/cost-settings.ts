import { z } from 'zod';
import { emptyAsUndefined } from './env-fields.js';

/*
 * The cost settings' field types: MODEL_PRICES and the BUDGET_*_USD limits (README "Cost and
 * budgets"). Zod only; the prices are applied in agent/model-prices.ts, the budgets in turn/budgets.ts.
 */

const usdPerMillion = z.number().min(0).max(100_000);
const modelPriceTable = z.record(z.string().trim().min(1).max(200), z.object({ input: usdPerMillion, output: usdPerMillion }).strict());

const MODEL_PRICES_SHAPE = 'expected a JSON object of "<provider>/<model>" or "<model>" to {"input": USD per million tokens, "output": USD per million tokens}';

/** `{"openai/gpt-4o-mini":{"input":0.15,"output":0.6}}`; unset: the built-in defaults only. */
export const modelPricesSetting = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return {};
      let json: unknown;
      try {
        json = JSON.parse(value);
      } catch {
        // JSON.parse's message quotes the input: the variable is named, its value never echoed.
        ctx.addIssue({ code: 'custom', message: `not valid JSON; ${MODEL_PRICES_SHAPE}` });
        return z.NEVER;
      }
      const parsed = modelPriceTable.safeParse(json);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
        ctx.addIssue({ code: 'custom', message: `${MODEL_PRICES_SHAPE} (${problems.join('; ')})` });
        return z.NEVER;
      }
      return parsed.data;
    }),
);

/** A spending limit in USD; unset (or empty): no limit. 0 refuses every model call of that scope. */
export const usdLimit = z.preprocess(emptyAsUndefined, z.coerce.number().min(0).max(1_000_000_000).optional());
