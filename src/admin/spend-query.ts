import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { ModelPrices } from '../agent/model-prices.js';
import { PROVIDER_SETTINGS } from '../agent/providers/settings.js';
import { configuredProviders, type Config } from '../config/config.js';
import type { Db } from '../store/database.js';
import { rows } from '../store/rows.js';
import { SwitchboardError } from '../errors/index.js';
import { parseQuery, statsQuerySchema } from './admin-filters.js';
import { personLabel } from './person-identity.js';
import { MAX_WINDOW_MS } from './stats-query.js';

const DEFAULT_WINDOW_MS = 30 * 24 * 3600_000;

/** `from` / `to` (ISO 8601, from inclusive, to exclusive; default the last 30 days, at most 366 days), `limit` conversations (1–100, default 10). */
const spendQuerySchema = statsQuerySchema.extend({
  limit: z.preprocess((value) => (value === '' ? undefined : value), z.coerce.number().int().min(1).max(100).default(10)),
});

/** GET /api/admin/spend's query, validated; a bad or reversed range is a 400 naming the field. */
export function parseSpendQuery(query: unknown) {
  const parsed = parseQuery(spendQuerySchema, query);
  if (parsed.from && parsed.to && parsed.from >= parsed.to) throw new SwitchboardError('invalid_payload', 'from: must be before to');
  const to = parsed.to ?? new Date();
  const from = parsed.from ?? new Date(to.getTime() - DEFAULT_WINDOW_MS);
  if (to.getTime() - from.getTime() > MAX_WINDOW_MS) throw new SwitchboardError('invalid_payload', 'from: the range is at most 366 days');
  return { from, to, limit: parsed.limit };
}

/** A sum or count from PostgreSQL (numeric and bigint come as strings); none is 0. */
const num = (value: unknown) => (value === null || value === undefined ? 0 : Number(value));

/**
 * What one workspace's model calls cost over one window (default: the last 30 days), from the priced assistant
 * messages (`messages.cost_usd`, read through its partial index): in total, per provider and model,
 * per channel, per UTC day and for the costliest conversations. Also what could not be priced
 * (models without a price), the turns budgets refused, and the prices and budgets in effect.
 */
export async function loadSpend(db: Db, config: Config, workspaceId: string, window: { from: Date; to: Date; limit: number }) {
  const { from, to } = window;
  // One workspace's messages (every statement below reads through this condition).
  const inWindow = sql`m.workspace_id = ${workspaceId} and m.created_at >= ${from.toISOString()}::timestamptz and m.created_at < ${to.toISOString()}::timestamptz`;
  const priced = sql`m.cost_usd is not null and ${inWindow}`;
  const spend = sql`sum(m.cost_usd) as cost, count(*) as turns, coalesce(sum(m.input_tokens), 0) as input_tokens, coalesce(sum(m.output_tokens), 0) as output_tokens`;
  type SpendRow = { cost: string | number; turns: string; input_tokens: string; output_tokens: string };

  const [totals, byModel, byChannel, byDay, byConversation, unpriced, refusals] = await Promise.all([
    rows<SpendRow>(db, sql`select ${spend} from messages m where ${priced}`),
    rows<SpendRow & { provider: string | null; model: string | null }>(
      db,
      sql`select m.provider, m.model, ${spend} from messages m where ${priced} group by m.provider, m.model order by cost desc`,
    ),
    rows<SpendRow & { channel: string }>(
      db,
      sql`select c.channel, ${spend} from messages m join conversations c on c.id = m.conversation_id
          where ${priced} group by c.channel order by cost desc`,
    ),
    rows<SpendRow & { day: string }>(
      db,
      sql`select to_char(m.created_at at time zone 'UTC', 'YYYY-MM-DD') as day, ${spend} from messages m where ${priced} group by 1 order by 1`,
    ),
    rows<SpendRow & { id: string; channel: string; external_user_id: string }>(
      db,
      sql`with top as (
            select m.conversation_id, ${spend} from messages m where ${priced}
            group by m.conversation_id order by cost desc limit ${window.limit})
          select c.id, c.channel, c.external_user_id, top.cost, top.turns, top.input_tokens, top.output_tokens
          from top join conversations c on c.id = top.conversation_id order by top.cost desc`,
    ),
    // Turns whose model has no price: tokens only (set MODEL_PRICES to count them).
    rows<{ provider: string | null; model: string | null; turns: string; input_tokens: string; output_tokens: string }>(
      db,
      sql`select m.provider, m.model, count(*) as turns, coalesce(sum(m.input_tokens), 0) as input_tokens,
                 coalesce(sum(m.output_tokens), 0) as output_tokens
          from messages m where m.role = 'assistant' and m.cost_usd is null and m.input_tokens is not null and ${inWindow}
          group by m.provider, m.model order by turns desc`,
    ),
    rows<{ reason: string; count: string }>(
      db,
      sql`select m.fallback_reason as reason, count(*) as count from messages m
          where m.role = 'user' and m.fallback_reason like 'budget:%' and ${inWindow} group by 1 order by 2 desc`,
    ),
  ]);

  const tokens = (row: { turns: string; input_tokens: string; output_tokens: string }) => ({
    turns: num(row.turns),
    inputTokens: num(row.input_tokens),
    outputTokens: num(row.output_tokens),
  });
  const total = totals[0];
  return {
    window: { from: from.toISOString(), to: to.toISOString() },
    total: { costUsd: num(total?.cost), ...(total ? tokens(total) : { turns: 0, inputTokens: 0, outputTokens: 0 }) },
    byModel: byModel.map((row) => ({ provider: row.provider, model: row.model, costUsd: num(row.cost), ...tokens(row) })),
    byProvider: perProvider(byModel.map((row) => ({ provider: row.provider, costUsd: num(row.cost), ...tokens(row) }))),
    byChannel: byChannel.map((row) => ({ channel: row.channel, costUsd: num(row.cost), ...tokens(row) })),
    byDay: byDay.map((row) => ({ day: row.day, costUsd: num(row.cost), ...tokens(row) })),
    topConversations: byConversation.map((row) => ({
      id: row.id,
      channel: row.channel,
      user: personLabel(row.channel, row.external_user_id),
      costUsd: num(row.cost),
      ...tokens(row),
    })),
    unpriced: unpriced.map((row) => ({ provider: row.provider, model: row.model, ...tokens(row) })),
    budgetRefusals: refusals.map((row) => ({ scope: row.reason.slice('budget:'.length), count: num(row.count) })),
    prices: pricesInEffect(config),
    budgets: {
      conversationUsd: config.BUDGET_CONVERSATION_USD ?? null,
      userDailyUsd: config.BUDGET_USER_DAILY_USD ?? null,
      globalDailyUsd: config.BUDGET_GLOBAL_DAILY_USD ?? null,
    },
  };
}

function perProvider(models: { provider: string | null; costUsd: number; turns: number; inputTokens: number; outputTokens: number }[]) {
  const totals = new Map<string, { provider: string; costUsd: number; turns: number; inputTokens: number; outputTokens: number }>();
  for (const row of models) {
    const provider = row.provider ?? 'none';
    const sum = totals.get(provider) ?? { provider, costUsd: 0, turns: 0, inputTokens: 0, outputTokens: 0 };
    sum.costUsd += row.costUsd;
    sum.turns += row.turns;
    sum.inputTokens += row.inputTokens;
    sum.outputTokens += row.outputTokens;
    totals.set(provider, sum);
  }
  return [...totals.values()].sort((a, b) => b.costUsd - a.costUsd);
}

/** The configured providers' models and the price each is charged at (null: no price, tokens only). */
function pricesInEffect(config: Config) {
  const prices = new ModelPrices(config.MODEL_PRICES);
  return configuredProviders(config).map((name) => {
    const model = PROVIDER_SETTINGS.find((settings) => settings.name === name)!.connection(config).model;
    const price = prices.priceOf(name, model);
    return { provider: name, model, inputPerMillionUsd: price?.input ?? null, outputPerMillionUsd: price?.output ?? null };
  });
}
