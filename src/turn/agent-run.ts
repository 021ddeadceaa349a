import { runAgentTurn, type AgentTurnResult, type ModelCall, type StepJournal, type ToolCallContext } from '../agent/agent.js';
import type { ChatMessage, ToolCallRequest } from '../agent/chat-model.js';
import type { ModelChain } from '../agent/model-chain.js';
import type { ModelPrices } from '../agent/model-prices.js';
import type { Logger } from '../observability/logger.js';
import type { HistoryEntry } from '../store/history.js';
import type { Store } from '../store/index.js';
import type { ApprovalRequest } from '../tools/approval.js';
import type { ToolExecutor } from '../tools/tool-executor.js';
import type { ToolRegistry } from '../tools/tool-registry.js';
import type { TurnSubject } from './reply-delivery.js';
import type { TurnSettings } from './settings.js';

export interface AgentRunDeps {
  store: Store;
  chain: ModelChain;
  tools: ToolRegistry;
  executor: ToolExecutor;
  settings: TurnSettings;
  /** The process's shutdown signal. */
  signal: AbortSignal;
  /** MODEL_PRICES over the defaults; without it turns store tokens only. */
  prices?: ModelPrices;
  /** Told of every model call (the cost and token metrics); must not throw. */
  onModelCall?: (call: ModelCall) => void;
}

export interface AgentRunOptions {
  /** The turn's history when already read (startTurn reads it alongside); otherwise read here. */
  history?: HistoryEntry[];
  workspaceId: string;
  stream?: { onTextDelta(delta: string): void; onDiscard(): void };
  /** A sensitive call was held: the turn shows its question (approval is data, not a side effect of the tool loop). */
  onApproval?: (request: ApprovalRequest) => Promise<void>;
  /** The turn's journal of model steps (see agent.ts StepJournal); without it every step asks the model. */
  journal?: StepJournal;
  /** What the turn may still spend before a further model call (turn/budgets.ts), and the reply that then closes it. */
  budget?: { remainingUsd: number; reply: string };
  log: Logger;
}

/** One agent run over a stored user message: its history, the channel's allowed tools, the shutdown signal. */
export async function runAgentFor(deps: AgentRunDeps, turn: TurnSubject, options: AgentRunOptions): Promise<AgentTurnResult> {
  const { store, chain, tools, executor, settings, signal } = deps;
  const { message, conversation } = turn;
  const history = options.history ?? (await store.messages.loadHistory(conversation.id, message, settings.historyCharBudget));
  const scopeOf = (context: ToolCallContext) => ({
    workspaceId: options.workspaceId,
    conversationId: conversation.id,
    messageId: message.id,
    channel: conversation.channel,
    provider: context.provider,
    model: context.model,
    step: context.step,
    signal,
  });
  return runAgentTurn(chain, {
    system: settings.systemPrompt,
    history: [...history.map((entry): ChatMessage => ({ role: entry.role, content: entry.text })), { role: 'user', content: message.text }],
    // Only the tools this channel's policy allows (the executor refuses the others too).
    tools: tools.specsFor(conversation.channel),
    maxSteps: settings.maxToolSteps,
    maxOutputTokens: settings.maxOutputTokens,
    signal,
    executeTool: async (call, context) => {
      const outcome = await executor.execute(call, scopeOf(context));
      if (outcome.approval) await options.onApproval?.(outcome.approval);
      return outcome;
    },
    refuseTool: (call: ToolCallRequest, context, error) => executor.refuse(call, scopeOf(context), error),
    ...(deps.prices && { prices: deps.prices }),
    ...(deps.onModelCall && { onModelCall: deps.onModelCall }),
    ...(options.budget && { budget: options.budget }),
    stream: {
      onTextDelta: (delta) => options.stream?.onTextDelta(delta),
      onDiscard: () => options.stream?.onDiscard(),
    },
    ...(options.journal && { journal: options.journal }),
  });
}

/**
 * The journal of one turn: what an earlier run recorded (read only when this run resumes one,
 * so a first run costs no read), and a writer for the steps this run adds.
 */
export async function journalFor(store: Store, messageId: string, resumed: boolean): Promise<StepJournal> {
  const recorded = resumed ? await store.turnSteps.list(messageId) : new Map();
  return {
    recorded: (step) => recorded.get(step),
    record: (step, output) => store.turnSteps.record(messageId, step, output),
  };
}
