import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { ModelChain } from '../agent/model-chain.js';
import type { Logger } from '../observability/logger.js';
import type { ApprovalPolicy } from '../tools/approval.js';
import type { ToolRegistry } from '../tools/tool-registry.js';
import type { AgentRunDeps } from './agent-run.js';
import type { BudgetGuard } from './budgets.js';
import type { TurnSettings } from './settings.js';

/** What a workspace's own config builds: its models (its keys, its provider chain), tools (its credentials, its policy) and settings. */
export interface WorkspaceTurnParts {
  chain: ModelChain;
  tools: ToolRegistry;
  settings: TurnSettings;
  approvals?: ApprovalPolicy | undefined;
}

/** A workspace's own rate limits (RATE_LIMIT_*_PER_MINUTE over the deployment's). */
export interface WorkspaceLimits {
  userPerMinute: number;
  ipPerMinute: number;
}

/** Everything a turn of one workspace runs with. */
export interface WorkspaceTurn {
  workspaceId: string;
  agent: AgentRunDeps;
  /** BUDGET_*_USD of the workspace; undefined when it sets no limit (no statement per turn). */
  budgets: BudgetGuard | undefined;
  /** The reply-cache key of a first message's text, keyed by the workspace; undefined when the cache is off. */
  cacheKey: ((text: string) => string) | undefined;
}

export interface WorkspaceTurnsOptions {
  /** The parts built from the deployment's config (environment). */
  deploymentParts: WorkspaceTurnParts;
  /**
   * Builds a workspace's parts from its config; undefined when its config is the deployment's
   * (its turns then run on the deployment's parts, with their own cache key). Without it every
   * message is the default workspace's.
   */
  partsFor?: ((workspaceId: string) => Promise<WorkspaceTurnParts | undefined>) | undefined;
  /** Turns parts into a workspace turn (the spine's wiring: executor, request_human, budgets, cache key). */
  assemble: (workspaceId: string, parts: WorkspaceTurnParts) => WorkspaceTurn;
  /** Bumped whenever a workspace's settings or credentials change: what was built before is built again. */
  generation?: (() => number) | undefined;
  logger: Logger;
}

/**
 * Each workspace's turn machinery, built on its first turn and kept until its settings or
 * credentials change. A workspace whose config is the deployment's (the default one, with
 * nothing set) runs on the deployment's objects; the answer comes from memory after the first
 * build, so a turn costs no statement or Redis command to find its workspace's settings.
 */
export class WorkspaceTurns {
  readonly #built = new Map<string, WorkspaceTurn>();
  readonly #building = new Map<string, Promise<WorkspaceTurn>>();
  #generation = 0;
  /**
   * The default workspace's turn on the deployment's parts: built once, the single-workspace path.
   * The default's own settings (set in the console) are read like any workspace's on its first turn.
   */
  readonly deployment: WorkspaceTurn;

  constructor(private readonly options: WorkspaceTurnsOptions) {
    this.#generation = options.generation?.() ?? 0;
    this.deployment = options.assemble(DEFAULT_WORKSPACE_ID, options.deploymentParts);
  }

  /** The workspace's turn: at once when built (the common case), else once built. */
  get(workspaceId: string): WorkspaceTurn | Promise<WorkspaceTurn> {
    this.dropIfChanged();
    if (!this.options.partsFor) return this.deployment;
    return this.#built.get(workspaceId) ?? this.build(workspaceId);
  }

  private dropIfChanged(): void {
    const generation = this.options.generation?.() ?? 0;
    if (generation === this.#generation) return;
    this.#generation = generation;
    this.#built.clear();
    this.#building.clear();
  }

  private build(workspaceId: string): Promise<WorkspaceTurn> {
    let building = this.#building.get(workspaceId);
    if (building) return building;
    const generation = this.#generation;
    building = this.options.partsFor!(workspaceId).then(
      (parts) => {
        const turn =
          parts === undefined && workspaceId === DEFAULT_WORKSPACE_ID ? this.deployment : this.options.assemble(workspaceId, parts ?? this.options.deploymentParts);
        if (generation === this.#generation) this.#built.set(workspaceId, turn);
        this.#building.delete(workspaceId);
        return turn;
      },
      (error: unknown) => {
        this.#building.delete(workspaceId);
        // The turn fails and is retried; after the last attempt TurnRunner.fail answers with the fallback reply.
        this.options.logger.error({ err: error, workspace: workspaceId }, 'workspace config could not be built');
        throw error;
      },
    );
    this.#building.set(workspaceId, building);
    return building;
  }
}
