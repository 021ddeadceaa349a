import type { PipelineEvents } from '../observability/events.js';
import type { Store } from '../store/index.js';
import type { Spend, SpendScopes } from '../store/spend.js';
import type { Conversation } from '../store/schema.js';
import type { TurnResult } from './outcomes.js';
import type { BudgetSettings } from './budget-settings.js';
import type { TurnSubject } from './reply-delivery.js';

export type { BudgetSettings } from './budget-settings.js';

/** Which budget refused: the conversation's, the person's today (UTC), or everyone's today. */
export type BudgetScope = 'conversation' | 'user_daily' | 'global_daily';

/** Where a turn stands against the budgets: refused by one, or free to spend `headroom` more. */
export type BudgetCheck =
  | { refused: BudgetScope; headroom?: undefined }
  | { refused?: undefined; headroom: { usd: number; scope: BudgetScope } };

/** The ledger's mark on a message a budget kept from the model (`messages.fallback_reason`). */
export const budgetReason = (scope: BudgetScope) => `budget:${scope}`;

const SCOPES: { scope: BudgetScope; limit: keyof BudgetSettings; spent: keyof Spend }[] = [
  { scope: 'conversation', limit: 'conversationUsd', spent: 'conversation' },
  { scope: 'user_daily', limit: 'userDailyUsd', spent: 'userDaily' },
  { scope: 'global_daily', limit: 'globalDailyUsd', spent: 'globalDaily' },
];

export interface BudgetGuardDeps {
  store: Store;
  settings: BudgetSettings;
  events: PipelineEvents;
  /** The clock the UTC day is read from (tests). */
  now?: () => Date;
}

/**
 * Spending limits, enforced in code before a turn goes to a model: one statement reads what the
 * conversation, the person (channel + external user id) and everyone spent (`messages.cost_usd`;
 * days are UTC), and a scope at or over its limit refuses the turn. The turn that is let through
 * may spend the tightest headroom: the agent loop makes no further model call once it has.
 * With no limit set there is no guard and no statement. Turns running at the same moment are
 * checked against the same spend, so a limit can be passed by what they spend together.
 */
export class BudgetGuard {
  readonly #now: () => Date;

  private constructor(
    private readonly deps: BudgetGuardDeps,
    private readonly scopes: SpendScopes,
  ) {
    this.#now = deps.now ?? (() => new Date());
  }

  /** A guard when some limit is set; undefined (no statement per turn) otherwise. */
  static from(deps: BudgetGuardDeps): BudgetGuard | undefined {
    const { settings } = deps;
    const scopes: SpendScopes = {
      conversation: settings.conversationUsd !== undefined,
      userDaily: settings.userDailyUsd !== undefined,
      globalDaily: settings.globalDailyUsd !== undefined,
    };
    return Object.values(scopes).some(Boolean) ? new BudgetGuard(deps, scopes) : undefined;
  }

  /** The budgets around a stored user message, in one statement. */
  async check(messageId: string): Promise<BudgetCheck> {
    const now = this.#now();
    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    const spend = await this.deps.store.spend.around(messageId, this.scopes, dayStart);
    let headroom: { usd: number; scope: BudgetScope } | undefined;
    for (const { scope, limit, spent } of SCOPES) {
      const max = this.deps.settings[limit] as number | undefined;
      if (max === undefined) continue;
      const left = max - (spend[spent] ?? 0);
      if (left <= 0) return { refused: scope };
      if (!headroom || left < headroom.usd) headroom = { usd: left, scope };
    }
    return { headroom: headroom! };
  }

  /** BUDGET_REPLY, or this channel's BUDGET_REPLY_BY_CHANNEL. */
  replyFor(conversation: Conversation): string {
    return this.deps.settings.replyByChannel[conversation.channel] ?? this.deps.settings.reply;
  }

  /** The turn's ledger entry when a budget kept it from the model: answered with the budget reply, and why. */
  refusedTurn(turn: TurnSubject, scope: BudgetScope, latencyMs: number): TurnResult {
    return {
      record: {
        status: 'answered',
        text: this.replyFor(turn.conversation),
        provider: null,
        model: null,
        cached: false,
        fallback: false,
        fallbackReason: budgetReason(scope),
        attempts: [],
        latencyMs,
        inputTokens: null,
        outputTokens: null,
        costUsd: null,
      },
      toolCalls: [],
    };
  }

  /** Observers (metrics) hear of every refusal: before a turn, mid-turn, or of a follow-up. */
  refused(turn: TurnSubject, scope: BudgetScope, stage: 'turn' | 'mid-turn' | 'follow-up'): void {
    this.deps.events.emit('budget.refused', { workspaceId: turn.conversation.workspaceId, scope, stage, channel: turn.conversation.channel, conversationId: turn.conversation.id, messageId: turn.message.id });
  }
}
