import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PipelineEvents } from './events.js';
import type { Logger } from './logger.js';

/** Circuit-breaker states as cockatiel names them; `isolated` counts as open. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 2 };

/** A breaker some other part owns (a provider, an integration); read when scraped or shown. */
export interface BreakerSource {
  name: string;
  state(): BreakerState;
}

/** A queue some other part owns; `depth` counts jobs waiting or running. */
export interface QueueSource {
  name: string;
  depth(): number | Promise<number>;
}

/**
 * The Prometheus registry and the one place other parts feed health into: breaker
 * states and queue depths are registered as read callbacks (nothing polls them
 * until /metrics or the admin health view asks), rate-limit hits are counted.
 * Pipeline counters come from PipelineEvents; observers never break a turn.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #breakers = new Map<string, BreakerSource>();
  readonly #queues = new Map<string, QueueSource>();

  readonly messages = new Counter({
    name: 'switchboard_messages_total',
    help: 'User messages by channel and outcome (accepted, answered, fallback, failed).',
    labelNames: ['channel', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly turnLatency = new Histogram({
    name: 'switchboard_turn_duration_seconds',
    help: 'Time from accepting a message to its finished reply, by the provider that answered (none for fallback).',
    labelNames: ['provider'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
    registers: [this.registry],
  });
  readonly toolCalls = new Counter({
    name: 'switchboard_tool_calls_total',
    help: 'Tool calls by tool and final status.',
    labelNames: ['tool', 'status'] as const,
    registers: [this.registry],
  });
  readonly toolDuration = new Histogram({
    name: 'switchboard_tool_call_duration_seconds',
    help: 'Tool call duration by tool.',
    labelNames: ['tool'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15],
    registers: [this.registry],
  });
  readonly cacheHits = new Counter({
    name: 'switchboard_cache_hits_total',
    help: 'Turns answered from the reply cache.',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly fallbacks = new Counter({
    name: 'switchboard_fallbacks_total',
    help: 'Turns answered with FALLBACK_REPLY, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly handoffs = new Counter({
    name: 'switchboard_handoffs_total',
    help: 'Handoff changes: requested (by reason), claimed or started by an operator, released.',
    labelNames: ['change', 'reason', 'channel'] as const,
    registers: [this.registry],
  });
  readonly payments = new Counter({
    name: 'switchboard_payments_total',
    help: 'Stripe webhook events handled, by event type and outcome (paid, failed, expired, stale, unknown_session, ignored, …).',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly llmCost = new Counter({
    name: 'switchboard_llm_cost_usd_total',
    help: 'What model calls cost in USD at MODEL_PRICES, by provider and model (a model with no price counts tokens only).',
    labelNames: ['provider', 'model'] as const,
    registers: [this.registry],
  });
  readonly llmTokens = new Counter({
    name: 'switchboard_llm_tokens_total',
    help: 'Tokens of model calls, by provider, model and kind (input, output).',
    labelNames: ['provider', 'model', 'kind'] as const,
    registers: [this.registry],
  });
  readonly budgetRefusals = new Counter({
    name: 'switchboard_budget_refusals_total',
    help: 'Turns and follow-ups a spent budget kept from the model (or stopped before their next model call), by scope.',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });
  readonly inboundRefused = new Counter({
    name: 'switchboard_inbound_refused_total',
    help: 'Inbound messages refused because their channel identity names no (active) workspace, by channel and reason.',
    labelNames: ['channel', 'reason'] as const,
    registers: [this.registry],
  });
  /*
   * Per workspace: a few series with a `workspace` label (its id; `other` past the label limit),
   * instead of a workspace label on every series above, which would multiply providers × models ×
   * tools × channels by the number of workspaces.
   */
  readonly workspaceMessages = new Counter({
    name: 'switchboard_workspace_messages_total',
    help: 'Messages accepted and turns finished, by workspace and outcome (accepted, answered, fallback, failed, …).',
    labelNames: ['workspace', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly workspaceCost = new Counter({
    name: 'switchboard_workspace_llm_cost_usd_total',
    help: 'What model calls cost in USD at MODEL_PRICES, by workspace.',
    labelNames: ['workspace'] as const,
    registers: [this.registry],
  });
  readonly workspaceBudgetRefusals = new Counter({
    name: 'switchboard_workspace_budget_refusals_total',
    help: 'Turns and follow-ups a spent budget kept from the model, by workspace and scope.',
    labelNames: ['workspace', 'scope'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'switchboard_rate_limited_total',
    help: 'Requests refused by a rate limit, by scope.',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });

  readonly #workspaceLabels = new Set<string>();

  constructor(private readonly workspaceLabelLimit = 100) {
    collectDefaultMetrics({ register: this.registry, prefix: 'switchboard_process_' });
    const breakers = this.#breakers;
    const queues = this.#queues;
    new Gauge({
      name: 'switchboard_breaker_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
      labelNames: ['breaker'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const source of breakers.values()) this.set({ breaker: source.name }, BREAKER_STATE_VALUE[safeState(source)] ?? 2);
      },
    });
    new Gauge({
      name: 'switchboard_queue_depth',
      help: 'Jobs waiting or running, by queue.',
      labelNames: ['queue'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const source of queues.values()) {
          const depth = await Promise.resolve()
            .then(() => source.depth())
            .catch(() => undefined);
          if (typeof depth === 'number') this.set({ queue: source.name }, depth);
        }
      },
    });
  }

  /**
   * The `workspace` label: a workspace's id for the first `workspaceLabelLimit` workspaces this
   * process sees, `other` after that, so the series stay bounded however many workspaces there
   * are (METRICS_WORKSPACE_LABELS).
   */
  workspaceLabel(workspaceId: string | undefined): string {
    const id = workspaceId ?? DEFAULT_WORKSPACE_ID;
    if (this.#workspaceLabels.has(id)) return id;
    if (this.#workspaceLabels.size >= this.workspaceLabelLimit) return 'other';
    this.#workspaceLabels.add(id);
    return id;
  }

  registerBreaker(source: BreakerSource): void {
    this.#breakers.set(source.name, source);
  }

  registerQueue(source: QueueSource): void {
    this.#queues.set(source.name, source);
  }

  breakerStates(): { name: string; state: BreakerState }[] {
    return [...this.#breakers.values()].map((source) => ({ name: source.name, state: safeState(source) }));
  }

  async queueDepths(): Promise<{ name: string; depth: number | null }[]> {
    return Promise.all(
      [...this.#queues.values()].map(async (source) => ({
        name: source.name,
        depth: await Promise.resolve()
          .then(() => source.depth())
          .catch(() => null),
      })),
    );
  }

  /** Subscribes to the pipeline; returns the unsubscribe function. */
  observe(events: PipelineEvents, logger: Logger): () => void {
    const guard =
      <A extends unknown[]>(listener: (...args: A) => void) =>
      (...args: A) => {
        try {
          listener(...args);
        } catch (error) {
          logger.warn({ err: error }, 'metrics observer failed');
        }
      };
    const offs = [
      events.on(
        'message.accepted',
        guard(({ conversation }) => {
          this.messages.inc({ channel: conversation.channel, outcome: 'accepted' });
          this.workspaceMessages.inc({ workspace: this.workspaceLabel(conversation.workspaceId), outcome: 'accepted' });
        }),
      ),
      events.on(
        'turn.finished',
        guard(({ conversation, outcome }) => {
          this.messages.inc({ channel: conversation.channel, outcome: outcome.status });
          this.workspaceMessages.inc({ workspace: this.workspaceLabel(conversation.workspaceId), outcome: outcome.status });
          this.turnLatency.observe({ provider: outcome.provider ?? 'none' }, outcome.latencyMs / 1000);
          if (outcome.cached) this.cacheHits.inc({ channel: conversation.channel });
          if (outcome.fallback) this.fallbacks.inc({ reason: outcome.fallbackReason ?? 'unknown' });
        }),
      ),
      events.on(
        'handoff.changed',
        guard((event) => {
          if (event.change !== 'note') this.handoffs.inc({ change: event.change, reason: event.reason, channel: event.channel });
        }),
      ),
      events.on(
        'model.called',
        guard((call) => {
          const labels = { provider: call.provider, model: call.model };
          this.llmTokens.inc({ ...labels, kind: 'input' }, call.inputTokens);
          this.llmTokens.inc({ ...labels, kind: 'output' }, call.outputTokens);
          if (call.costUsd !== null) {
            this.llmCost.inc(labels, call.costUsd);
            this.workspaceCost.inc({ workspace: this.workspaceLabel(call.workspaceId) }, call.costUsd);
          }
        }),
      ),
      events.on(
        'budget.refused',
        guard((event) => {
          this.budgetRefusals.inc({ scope: event.scope });
          this.workspaceBudgetRefusals.inc({ workspace: this.workspaceLabel(event.workspaceId), scope: event.scope });
        }),
      ),
      events.on(
        'payment.processed',
        guard((event) => this.payments.inc({ type: event.type, outcome: event.outcome })),
      ),
      events.on(
        'tool-call.finished',
        guard((call) => {
          this.toolCalls.inc({ tool: call.toolName, status: call.status });
          this.toolDuration.observe({ tool: call.toolName }, call.durationMs / 1000);
        }),
      ),
    ];
    return () => offs.forEach((off) => off());
  }
}

function safeState(source: BreakerSource): BreakerState {
  try {
    return source.state();
  } catch {
    return 'open';
  }
}
