import type { AgentTurnResult } from '../agent/agent.js';
import { AllProvidersFailedError } from '../agent/model-chain.js';
import type { Logger } from '../observability/logger.js';
import type { Message } from '../store/schema.js';
import { storableText } from '../store/storable-text.js';
import { runAgentFor } from './agent-run.js';
import type { InFlight } from './in-flight.js';
import type { ReplyDelivery } from './reply-delivery.js';
import { turnLogger } from './turn-runner.js';
import type { WorkspaceTurns } from './workspace-turns.js';

export interface FollowUpDeps {
  /** Each workspace's models, tools, settings and budgets (BUDGET_*_USD: a follow-up is a model call like a turn, and is refused like one). */
  turns: WorkspaceTurns;
  delivery: ReplyDelivery;
  inFlight: InFlight;
  logger: Logger;
  /** FOLLOW_UP_INTERVAL_MS. */
  intervalMs: number;
  batchSize?: number;
}

/**
 * Answers fallback-answered messages once a provider recovers: every
 * FOLLOW_UP_INTERVAL_MS, while some provider's breaker lets calls through. Oldest
 * first; a pass stops at the first message no provider can answer yet.
 */
export class FollowUpRunner {
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly deps: FollowUpDeps) {}

  start(): void {
    this.#timer = setInterval(() => void this.runPass(), this.deps.intervalMs);
    this.#timer.unref();
  }

  /** One pass over pending follow-ups; concurrent calls share the pass in progress. */
  runPass(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#pass ??= this.deps.inFlight
      .track(this.pass())
      .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'follow-up pass failed'))
      .finally(() => {
        this.#pass = undefined;
      });
    return this.#pass;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#pass;
  }

  private async pass(): Promise<void> {
    const { deployment } = this.deps.turns;
    const pending = await deployment.agent.store.unfinished.listPendingFollowUps(this.deps.batchSize ?? 20);
    for (const message of pending) {
      if (this.#stopped) return;
      if ((await this.answer(message)) === 'unavailable') return;
    }
  }

  /**
   * Answers one fallback-answered message properly and delivers it to the same conversation.
   * `unavailable` while every provider still fails, so the pass stops for now.
   */
  async answer(message: Message): Promise<'answered' | 'unavailable' | 'skipped'> {
    const { delivery } = this.deps;
    const { store } = this.deps.turns.deployment.agent;
    const conversation = await store.conversations.getConversation(message.conversationId);
    const { agent, budgets } = conversation ? await this.deps.turns.get(conversation.workspaceId) : this.deps.turns.deployment;
    // Nothing to try while every provider of this workspace is open-circuited (or it has none): the pass stops for now.
    if (conversation && (agent.chain.isEmpty || !agent.chain.anyAvailable)) return 'unavailable';
    if (!conversation || !agent.settings.followUp) {
      await agent.store.unfinished.skipFollowUp(message.id);
      return 'skipped';
    }
    const turn = { message, conversation };
    const log = turnLogger(this.deps.logger, turn);
    const started = performance.now();
    const budget = await budgets?.check(message.id);
    if (budgets && budget?.refused) {
      // The person already has the fallback reply; a proper answer would spend a budget that is spent.
      log.info({ scope: budget.refused }, 'budget spent: the follow-up is dropped');
      budgets.refused(turn, budget.refused, 'follow-up');
      await agent.store.unfinished.skipFollowUp(message.id);
      return 'skipped';
    }
    let result: AgentTurnResult;
    try {
      result = await runAgentFor(agent, turn, {
        workspaceId: conversation.workspaceId,
        log,
        onApproval: (request) => delivery.showApproval({ conversation, messageId: message.id }, request, log),
        ...(budgets && budget?.headroom && { budget: { remainingUsd: budget.headroom.usd, reply: budgets.replyFor(conversation) } }),
      });
    } catch (error) {
      if (error instanceof AllProvidersFailedError) return 'unavailable';
      throw error;
    }
    const answer = {
      text: storableText(result.text),
      provider: result.provider,
      model: result.model,
      attempts: result.attempts,
      latencyMs: Math.round(performance.now() - started),
      inputTokens: result.inputTokens,
      outputTokens: result.outputTokens,
      costUsd: result.costUsd,
    };
    if (budgets && budget?.headroom && result.stoppedBy === 'budget') budgets.refused(turn, budget.headroom.scope, 'mid-turn');
    return (await delivery.deliverFollowUp(turn, answer, result.toolCalls, log)) ? 'answered' : 'skipped';
  }
}
