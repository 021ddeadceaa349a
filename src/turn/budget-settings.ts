import type { Config } from '../config/config.js';

/** BUDGET_*_USD (undefined: no limit), and what a person a budget refused is told (turn/budgets.ts). */
export interface BudgetSettings {
  conversationUsd?: number | undefined;
  userDailyUsd?: number | undefined;
  globalDailyUsd?: number | undefined;
  reply: string;
  replyByChannel: Record<string, string>;
}

export function budgetSettingsFrom(config: Config): BudgetSettings {
  return {
    conversationUsd: config.BUDGET_CONVERSATION_USD,
    userDailyUsd: config.BUDGET_USER_DAILY_USD,
    globalDailyUsd: config.BUDGET_GLOBAL_DAILY_USD,
    reply: config.BUDGET_REPLY,
    replyByChannel: config.BUDGET_REPLY_BY_CHANNEL,
  };
}
