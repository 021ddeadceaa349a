import type { ModelCall } from '../agent/agent.js';
import type { ModelChain } from '../agent/model-chain.js';
import { ModelPrices } from '../agent/model-prices.js';
import { responseCacheKeyer, type ResponseCache } from '../infra/response-cache.js';
import type { RateLimiter } from '../infra/rate-limiter.js';
import type { InProcessTurnQueue } from '../infra/in-process-turn-queue.js';
import type { InstanceLiveness } from '../infra/instance-heartbeat.js';
import type { TurnQueue } from '../infra/turn-queue.js';
import type { PipelineEvents } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import type { ApprovalPolicy } from '../tools/approval.js';
import { ToolExecutor } from '../tools/tool-executor.js';
import { requestHumanTool } from '../tools/request-human.js';
import type { ToolRegistry } from '../tools/tool-registry.js';
import { BudgetGuard } from './budgets.js';
import { ConfirmationService } from './confirmations.js';
import { TurnDispatcher } from './dispatcher.js';
import { FollowUpRunner } from './follow-ups.js';
import { HandoffService, type HandoffSettings, type OperatorNotifier } from './handoffs.js';
import { InFlight } from './in-flight.js';
import { Intake } from './intake.js';
import { OrphanSweeper } from './orphan-sweeper.js';
import { recoverStuckMessages } from './recovery.js';
import { ReplyDelivery } from './reply-delivery.js';
import type { TurnSettings } from './settings.js';
import { TransportRegistry } from './transports.js';
import { TurnRunner } from './turn-runner.js';
import { WorkspaceTurns, type WorkspaceLimits, type WorkspaceTurn, type WorkspaceTurnParts } from './workspace-turns.js';

export interface SpineDeps {
  store: Store;
  chain: ModelChain;
  tools: ToolRegistry;
  settings: TurnSettings;
  events: PipelineEvents;
  logger: Logger;
  queues: { durable: TurnQueue; local: InProcessTurnQueue };
  /**
   * A process that runs turns, with Redis: turns run here first (up to `concurrency`, then
   * BullMQ), the messages name this instance (`liveness.id`), and every `sweepIntervalMs` the
   * open turns of instances whose heartbeat stopped are re-queued. Without it (no Redis, or
   * the web role) turns go where they did.
   */
  placement?: { liveness: InstanceLiveness; concurrency: number; sweepIntervalMs: number } | undefined;
  cache?: ResponseCache | undefined;
  limiter?: RateLimiter | undefined;
  /** Which calls wait for the person (SENSITIVE_TOOLS); without it every call runs at once. */
  approvals?: ApprovalPolicy;
  /** TOOL_TIMEOUT_MS. */
  toolTimeoutMs: number;
  /** FOLLOW_UP_INTERVAL_MS. */
  followUpIntervalMs: number;
  /**
   * Workspaces: a workspace's models, tools and settings, built from its config (undefined when
   * its config is the deployment's); `generation` moves on every change. Without it every
   * message is the default workspace's.
   */
  workspaces?:
    | {
        partsFor: (workspaceId: string) => Promise<WorkspaceTurnParts | undefined>;
        generation: () => number;
        limits: (workspaceId: string) => WorkspaceLimits;
        /** Several workspaces share the deployment: turns are placed fairly between them. */
        shared: () => boolean;
      }
    | undefined;
  /** Human handoff (HANDOFF_*); without it conversations never leave the agent. */
  handoff?: { settings: HandoffSettings; settingsFor?: (workspaceId: string) => HandoffSettings; consoleLink: (conversationId: string) => string; notifier?: () => OperatorNotifier | undefined };
}

/** The channel-agnostic spine, wired: what the composition root and the channels use. */
export interface Spine {
  readonly transports: TransportRegistry;
  readonly intake: Intake;
  readonly runner: TurnRunner;
  readonly delivery: ReplyDelivery;
  readonly confirmations: ConfirmationService;
  readonly followUps: FollowUpRunner;
  /** Handing conversations to people, and the operators' actions on them; undefined when not configured. */
  readonly handoffs: HandoffService | undefined;
  /** The default workspace's executor (each workspace has its own: `workspaceTurns`). */
  readonly executor: ToolExecutor;
  /** Each workspace's turn machinery (models, tools, settings, budgets, cache key). */
  readonly workspaceTurns: WorkspaceTurns;
  readonly dispatcher: TurnDispatcher;
  readonly inFlight: InFlight;
  /** Takes over the turns of instances that stopped (with a placement; start it once channels are attached). */
  readonly orphans: OrphanSweeper | undefined;
  /** Starts consuming turns (the durable queue only where `consumeDurable`). */
  start(consumeDurable: boolean): Promise<void>;
  /** Re-queues messages the ledger shows unfinished since before `olderThanMs` ago. */
  recover(olderThanMs: number): Promise<number>;
  /** Stops intake, lets turns in flight finish (aborted after `timeoutMs`), closes the queue. */
  drain(timeoutMs: number): Promise<void>;
}

/**
 * Wires the spine: channel → intake → queue → runner → agent → tools, with the outcome
 * returning by value to the one delivery path, which reaches the channel through the
 * transport registry. No part holds a reference back up this chain.
 */
export function createSpine(deps: SpineDeps): Spine {
  const { store, chain, settings, events, logger } = deps;
  const transports = new TransportRegistry();
  const inFlight = new InFlight();
  const placement = deps.placement;
  const dispatcher = new TurnDispatcher(
    deps.queues,
    logger,
    placement && { owner: placement.liveness.id, concurrency: placement.concurrency },
    deps.workspaces?.shared,
  );
  const orphans =
    placement && new OrphanSweeper({ store, dispatcher, liveness: placement.liveness, logger, intervalMs: placement.sweepIntervalMs });
  const delivery = new ReplyDelivery({ store, transports, events, cache: deps.cache, logger });
  const handoffs = deps.handoff
    ? new HandoffService({
        store,
        delivery,
        events,
        inFlight,
        logger,
        settings: deps.handoff.settings,
        settingsFor: deps.handoff.settingsFor,
        consoleLink: deps.handoff.consoleLink,
        // Looked up when a handoff starts: the notifier's channel (Slack) is mounted after the spine.
        notifier: { waiting: (input) => deps.handoff?.notifier?.()?.waiting(input) ?? Promise.resolve() },
      })
    : undefined;
  // A reply the channel could not carry (WhatsApp outside its 24-hour window) goes to a person's inbox.
  events.on('delivery.undeliverable', ({ conversation }) => {
    void handoffs
      ?.request(conversation, 'undeliverable', { tellPerson: false })
      .catch((error: unknown) => logger.error({ err: error, conversationId: conversation.id }, 'undeliverable reply not handed to a person'));
  });
  // request_human is the spine's own tool: it switches the conversation's mode, in code.
  const requestHuman =
    handoffs && handoffs.settings.enabled
      ? requestHumanTool({
          requestHuman: async (context, input) => {
            const conversation = await store.conversations.getConversation(context.conversationId);
            if (!conversation) throw new Error('the conversation of this turn is gone');
            const { handoff } = await handoffs.request(conversation, 'requested', {
              messageId: context.messageId,
              ...(input.reason && { summary: input.reason }),
              tellPerson: false,
            });
            return { status: handoff.status === 'active' ? 'active' : 'waiting', notice: handoffs.noticeFor(conversation) };
          },
        })
      : undefined;
  /** One workspace's turn machinery from its parts: the executor over its tools, its prices, budgets and cache key. */
  const assemble = (workspaceId: string, parts: WorkspaceTurnParts): WorkspaceTurn => {
    const tools = requestHuman ? parts.tools.withEverywhere([requestHuman]) : parts.tools;
    const executor = new ToolExecutor({
      registry: tools,
      log: store.toolCalls,
      logger,
      timeoutMs: deps.toolTimeoutMs,
      ...(parts.approvals && { approvals: parts.approvals }),
      onFinished: (event) => events.emit('tool-call.finished', event),
    });
    const agent = {
      store,
      chain: parts.chain,
      tools,
      executor,
      settings: parts.settings,
      signal: inFlight.signal,
      prices: new ModelPrices(parts.settings.modelPrices),
      onModelCall: (call: ModelCall) => events.emit('model.called', { ...call, workspaceId }),
    };
    return {
      workspaceId,
      agent,
      // BUDGET_*_USD: with no limit set there is no guard, and no statement per turn.
      budgets: parts.settings.budgets && BudgetGuard.from({ store, settings: parts.settings.budgets, events }),
      // The reply cache answers first messages only, keyed by everything that shapes an answer, and by the workspace.
      cacheKey:
        deps.cache && !parts.chain.isEmpty
          ? responseCacheKeyer({ workspaceId, systemPrompt: parts.settings.systemPrompt, tools: tools.specs(), chain: parts.chain.models.map((model) => `${model.provider}:${model.model}`) })
          : undefined,
    };
  };
  const workspaceTurns = new WorkspaceTurns({
    deploymentParts: { chain, tools: deps.tools, settings, approvals: deps.approvals },
    partsFor: deps.workspaces?.partsFor,
    generation: deps.workspaces?.generation,
    assemble,
    logger,
  });
  const { agent } = workspaceTurns.deployment;
  const executor = agent.executor;
  for (const model of chain.models) {
    if (!agent.prices?.priceOf(model.provider, model.model)) {
      logger.warn({ provider: model.provider, model: model.model }, 'no price for this model (MODEL_PRICES): its tokens are stored, its cost is not, and budgets do not count it');
    }
  }
  const runner = new TurnRunner({ turns: workspaceTurns, delivery, transports, inFlight, logger, handoffs });
  const intake = new Intake({
    store,
    dispatcher,
    delivery,
    events,
    inFlight,
    logger,
    maxMessageChars: settings.maxMessageChars,
    limiter: deps.limiter,
    limits: deps.workspaces?.limits,
    cache: deps.cache,
    turns: workspaceTurns,
    handoffs,
  });
  const confirmations = new ConfirmationService({
    store,
    executorFor: (workspaceId) => {
      const turn = workspaceTurns.get(workspaceId);
      return turn instanceof Promise ? turn.then((built) => built.agent.executor) : turn.agent.executor;
    },
    delivery, inFlight, events, logger, toolTimeoutMs: deps.toolTimeoutMs });
  const followUps = new FollowUpRunner({ turns: workspaceTurns, delivery, inFlight, logger, intervalMs: deps.followUpIntervalMs });
  return {
    transports,
    intake,
    runner,
    delivery,
    confirmations,
    followUps,
    handoffs,
    executor,
    workspaceTurns,
    dispatcher,
    inFlight,
    orphans,
    start: (consumeDurable) =>
      dispatcher.start(
        { run: (messageId, turnOwner) => runner.run(messageId, turnOwner), exhausted: (messageId, error) => runner.fail(messageId, error) },
        consumeDurable,
      ),
    recover: (olderThanMs) => recoverStuckMessages({ store, dispatcher, logger, liveness: placement?.liveness }, olderThanMs),
    async drain(timeoutMs) {
      await orphans?.stop();
      confirmations.stopSweeper();
      handoffs?.stopSweeper();
      await followUps.stop();
      await inFlight.drain(timeoutMs, () => dispatcher.drain(timeoutMs));
      await dispatcher.close();
    },
  };
}
