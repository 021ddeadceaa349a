import type { ModelPriceTable } from '../agent/model-prices.js';
import type { Config } from '../config/config.js';
import { budgetSettingsFrom, type BudgetSettings } from './budget-settings.js';

/** The turn spine's settings, read from config once. */
export interface TurnSettings {
  systemPrompt: string;
  maxToolSteps: number;
  maxMessageChars: number;
  historyCharBudget: number;
  maxOutputTokens: number;
  /** Reply text deltas are joined and sent at most this often (after the first, sent at once); 0 sends each. */
  streamCoalesceMs?: number;
  fallbackReply: string;
  /** Per-channel fallback text; channels not listed get `fallbackReply`. */
  fallbackReplyByChannel?: Record<string, string>;
  /** Answer fallback-answered messages properly once a provider recovers (FOLLOW_UP_ENABLED). */
  followUp?: boolean;
  /** MODEL_PRICES, over the built-in defaults (agent/model-prices.ts). */
  modelPrices?: ModelPriceTable;
  /** BUDGET_*_USD and BUDGET_REPLY; without a limit no turn is checked. */
  budgets?: BudgetSettings;
}

export function turnSettingsFrom(config: Config): TurnSettings {
  return {
    systemPrompt: config.SYSTEM_PROMPT,
    maxToolSteps: config.MAX_TOOL_STEPS,
    maxMessageChars: config.MAX_MESSAGE_CHARS,
    historyCharBudget: config.HISTORY_CHAR_BUDGET,
    maxOutputTokens: config.MAX_OUTPUT_TOKENS,
    streamCoalesceMs: config.STREAM_COALESCE_MS,
    fallbackReply: config.FALLBACK_REPLY,
    fallbackReplyByChannel: config.FALLBACK_REPLY_BY_CHANNEL,
    followUp: config.FOLLOW_UP_ENABLED,
    modelPrices: config.MODEL_PRICES,
    budgets: budgetSettingsFrom(config),
  };
}

