import type { StepJournal } from '../agent/agent.js';
import { AllProvidersFailedError } from '../agent/model-chain.js';
import { deferredChild, type Logger } from '../observability/logger.js';
import type { HistoryEntry } from '../store/history.js';
import { storableText } from '../store/storable-text.js';
import { journalFor, runAgentFor } from './agent-run.js';
import { budgetReason, type BudgetCheck } from './budgets.js';
import { DeltaCoalescer } from './delta-coalescer.js';
import type { HandoffService } from './handoffs.js';
import type { InFlight } from './in-flight.js';
import { fallbackRecord, type TurnResult } from './outcomes.js';
import type { ReplyDelivery, TurnSubject } from './reply-delivery.js';
import type { ReplyTarget } from './reply-transport.js';
import type { TransportRegistry } from './transports.js';
import type { WorkspaceTurn, WorkspaceTurns } from './workspace-turns.js';

const FINISHED_STATUSES = new Set(['answered', 'fallback', 'failed', 'human']);

export interface TurnRunnerDeps {
  /** Each workspace's models, tools, settings, budgets (BUDGET_*_USD) and reply-cache key. */
  turns: WorkspaceTurns;
  delivery: ReplyDelivery;
  transports: TransportRegistry;
  inFlight: InFlight;
  logger: Logger;
  /** Human handoff: conversations with a person run no turn; a fallback answer may hand one over (HANDOFF_ON_FALLBACK). */
  handoffs?: HandoffService | undefined;
}

/** A turn's log lines carry its message, conversation and channel (built only when something logs). */
export function turnLogger(logger: Logger, turn: TurnSubject): Logger {
  return deferredChild(logger, {
    workspace: turn.conversation.workspaceId,
    messageId: turn.message.id,
    conversationId: turn.conversation.id,
    channel: turn.conversation.channel,
  });
}

/**
 * One turn of a stored user message, as the queue runs it: open it in the ledger, run the
 * agent (streaming to the channel), and hand the outcome to the one delivery path. Provider
 * failures end in the fallback reply; only failures worth a retry (the database) throw.
 */
export class TurnRunner {
  constructor(private readonly deps: TurnRunnerDeps) {}

  /**
   * A message whose ledger entry is already closed is skipped, and closing it is
   * conditional, so a job that runs twice (a redelivery after a crash) answers once.
   * `turnOwner`: this instance when the turn runs in its own process (stored as the turn opens),
   * null when BullMQ runs it.
   */
  run(messageId: string, turnOwner: string | null = null): Promise<void> {
    return this.deps.inFlight.track(this.runTurn(messageId, turnOwner));
  }

  private async runTurn(messageId: string, turnOwner: string | null): Promise<void> {
    const { delivery } = this.deps;
    const deployment = this.deps.turns.deployment;
    const started = performance.now();
    // Opening the turn (which returns the message and its conversation) and reading its
    // history take one round trip, and so does the deployment's budgets' statement alongside
    // (when a limit is set); a finished message is skipped.
    const [opened, deploymentBudget] = await Promise.all([
      deployment.agent.store.messages.startTurn(messageId, deployment.agent.settings.historyCharBudget, turnOwner),
      deployment.budgets?.check(messageId),
    ]);
    if (!opened) return;
    const { history, resumed, ...turn } = opened;
    const log = turnLogger(this.deps.logger, turn);
    const found = this.deps.turns.get(turn.conversation.workspaceId);
    const workspace = found instanceof Promise ? await found : found;
    // Another workspace's limits are its own: checked once its workspace is known (a statement only when it sets one).
    const budget = workspace === deployment ? deploymentBudget : await workspace.budgets?.check(messageId);
    if (turn.conversation.mode === 'human') {
      // Taken over by a person after the message was accepted: theirs to answer, not the agent's.
      await this.deps.handoffs?.hold(turn);
      log.info('conversation is with a person: message kept for the operator, no turn');
      return;
    }
    if (budget?.refused) {
      await this.refuseOverBudget(workspace, turn, budget.refused, started, log);
      return;
    }
    if (resumed) log.info('resuming a turn an earlier run started: recorded steps are replayed');
    const journal = await journalFor(workspace.agent.store, turn.message.id, resumed);
    const outcome = await this.produceReply(workspace, turn, history, journal, started, log, budget);
    await delivery.finishTurn(turn, outcome, log);
    await this.afterFallback(turn, outcome, log);
  }

  /**
   * A spent budget keeps the message from the model: it is answered with the budget reply and
   * marked with the scope that refused (`fallback_reason` `budget:<scope>`), so nothing is lost and
   * admins see why; with HANDOFF_ON_BUDGET the conversation goes to a person.
   */
  private async refuseOverBudget(
    workspace: WorkspaceTurn,
    turn: TurnSubject,
    scope: NonNullable<BudgetCheck['refused']>,
    started: number,
    log: Logger,
  ): Promise<void> {
    const budgets = workspace.budgets!;
    log.info({ scope }, 'budget spent: the message is answered without a model call');
    budgets.refused(turn, scope, 'turn');
    const outcome = budgets.refusedTurn(turn, scope, Math.round(performance.now() - started));
    await this.deps.delivery.finishTurn(turn, outcome, log);
    const handoffs = this.deps.handoffs;
    if (!handoffs?.settingsOf(turn.conversation.workspaceId).onBudget) return;
    await handoffs
      .request(turn.conversation, 'budget', { messageId: turn.message.id })
      .catch((error: unknown) => log.error({ err: error }, 'handoff after the budget reply failed'));
  }

  /** HANDOFF_ON_FALLBACK: a person takes over a conversation the agent could not answer. */
  private async afterFallback(turn: TurnSubject, outcome: TurnResult, log: Logger): Promise<void> {
    const handoffs = this.deps.handoffs;
    if (!handoffs?.settingsOf(turn.conversation.workspaceId).onFallback || !outcome.record.fallback) return;
    await handoffs
      .request(turn.conversation, 'fallback', { messageId: turn.message.id })
      .catch((error: unknown) => log.error({ err: error }, 'handoff after the fallback reply failed'));
  }

  /** The queue gave up on a message: it still ends with the fallback reply, marked failed. */
  async fail(messageId: string, error: unknown): Promise<void> {
    const { delivery } = this.deps;
    const { store } = this.deps.turns.deployment.agent;
    const log = this.deps.logger.child({ messageId });
    log.error({ err: error }, 'turn failed after every retry; answering with the fallback reply');
    const message = await store.messages.getMessage(messageId);
    if (!message || FINISHED_STATUSES.has(message.status)) return;
    const conversation = await store.conversations.getConversation(message.conversationId);
    if (!conversation) return;
    // The workspace's own fallback text; if even its config cannot be built, the deployment's.
    const { agent } = await Promise.resolve(this.deps.turns.get(conversation.workspaceId)).catch(() => this.deps.turns.deployment);
    const turn = { message, conversation };
    if (conversation.mode === 'human' && this.deps.handoffs) {
      await this.deps.handoffs.hold(turn);
      return;
    }
    try {
      const outcome: TurnResult = { record: { ...fallbackRecord(agent.settings, conversation, 'turn_failed', [], 0), status: 'failed' }, toolCalls: [] };
      await delivery.finishTurn(turn, outcome, log);
      await this.afterFallback(turn, outcome, log);
    } catch (finalError) {
      await delivery.deliverFailure({ conversation, messageId }, { code: 'internal_error', message: 'the reply could not be produced; please try again' }, log);
      throw finalError;
    }
  }

  private async produceReply(
    workspace: WorkspaceTurn,
    turn: TurnSubject,
    history: HistoryEntry[],
    journal: StepJournal,
    started: number,
    log: Logger,
    budget: BudgetCheck | undefined,
  ): Promise<TurnResult> {
    const { delivery } = this.deps;
    const { agent, budgets } = workspace;
    const { settings, chain } = agent;
    const { message, conversation } = turn;
    const target: ReplyTarget = { conversation, messageId: message.id };
    const transport = this.deps.transports.get(conversation.channel);
    const elapsed = () => Math.round(performance.now() - started);
    const deltas = transport?.delta
      ? new DeltaCoalescer((text) => transport.delta!(target, text), settings.streamCoalesceMs ?? 0)
      : undefined;
    const fallback = (reason: string, attempts: unknown, followUp = false, spent?: AllProvidersFailedError['spent']): TurnResult => {
      deltas?.drop();
      transport?.discard?.(target);
      const record = fallbackRecord(settings, conversation, reason, attempts, elapsed());
      // Steps answered before the chain failed were paid for: the record (and so the budgets) keeps them.
      return { record: { ...record, ...spent, followUp: followUp && settings.followUp ? 'pending' : null }, toolCalls: [] };
    };

    if (chain.isEmpty) return fallback('no_provider_configured', []);

    // Only a first message is cacheable: with history, the same words can mean anything.
    // (Cache hits are answered at intake; a turn only stores what it produced.)
    const cacheKey = history.length === 0 ? workspace.cacheKey?.(message.text) : undefined;

    try {
      const result = await runAgentFor(agent, turn, {
        history,
        workspaceId: conversation.workspaceId,
        log,
        stream: {
          onTextDelta: (delta) => deltas?.push(delta),
          onDiscard: () => {
            deltas?.drop();
            transport?.discard?.(target);
          },
        },
        onApproval: (request) => delivery.showApproval(target, request, log),
        journal,
        ...(budget?.headroom && { budget: { remainingUsd: budget.headroom.usd, reply: budgets!.replyFor(conversation) } }),
      });
      if (result.stoppedBy === 'budget' && budget?.headroom) budgets?.refused(turn, budget.headroom.scope, 'mid-turn');
      // Whatever text is still held back goes out before the reply is stored and `done` sent.
      deltas?.flush();
      // An answer that used a tool depends on what the tool saw at the time: never replayed.
      const cacheable = cacheKey !== undefined && result.toolCalls.length === 0 && result.stoppedBy === 'answer' && result.text.length > 0;
      return {
        ...(cacheable && { cacheEntry: { key: cacheKey, reply: { text: storableText(result.text), provider: result.provider, model: result.model } } }),
        record: {
          status: 'answered',
          // Model output is untrusted input: text the database cannot hold is cleaned, not a failed turn.
          text: storableText(result.text),
          provider: result.provider,
          model: result.model,
          cached: false,
          fallback: false,
          // A turn the budget stopped before its next model call says which budget.
          fallbackReason: result.stoppedBy === 'budget' && budget?.headroom ? budgetReason(budget.headroom.scope) : null,
          attempts: result.attempts,
          latencyMs: elapsed(),
          inputTokens: result.inputTokens,
          outputTokens: result.outputTokens,
          costUsd: result.costUsd,
        },
        toolCalls: result.toolCalls,
      };
    } catch (error) {
      if (error instanceof AllProvidersFailedError) return fallback(error.reason, error.attempts, true, error.spent);
      // Anything else is our bug or the database; the person still gets an answer.
      log.error({ err: error }, 'agent turn failed unexpectedly');
      return fallback('internal_error', []);
    }
  }
}
