import type { Config } from '../config/config.js';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { Logger } from '../observability/logger.js';
import type { WorkspaceDirectory } from './workspace-directory.js';
import { parseWorkspaceSettings } from './workspace-settings.js';

/** One workspace's effective configuration: the deployment's, with its settings and credentials over it. */
export interface WorkspaceConfig {
  workspaceId: string;
  config: Config;
  /** ENABLED_TOOLS of the workspace; undefined: every configured tool. */
  enabledTools: string[] | undefined;
  /** True when nothing overrides the deployment's config (the default workspace as configured by environment). */
  isDeploymentConfig: boolean;
}

/** The credentials a workspace's config takes over the environment's (workspaces/integrations.ts credentialOverlay). */
export type CredentialOverlay = (workspaceId: string) => Promise<Partial<Config>>;

/**
 * Resolves a workspace's effective config: the global config, then the workspace's settings,
 * then its credentials (by each integration's mode). Built once per workspace and kept until
 * the directory reports a change (a setting, a credential, a binding), on this instance or
 * another; the default workspace with nothing set is the deployment's config object itself, so
 * a deployment without workspaces runs exactly as before.
 */
export class WorkspaceConfigs {
  readonly #cache = new Map<string, Promise<WorkspaceConfig>>();
  readonly #settings = new Map<string, WorkspaceConfig>();
  #generation = 0;

  constructor(
    private readonly global: Config,
    private readonly directory: WorkspaceDirectory,
    private readonly credentials: CredentialOverlay | undefined,
    private readonly logger: Logger,
  ) {
    directory.onChange(() => this.invalidate());
  }

  /** Drops every built config (the next turn of each workspace builds it again). */
  invalidate(): void {
    this.#generation += 1;
    this.#cache.clear();
    this.#settings.clear();
  }

  /** Bumped on every change: holders of things built from a config rebuild when it moved. */
  get generation(): number {
    return this.#generation;
  }

  configFor(workspaceId: string): Promise<WorkspaceConfig> {
    const cached = this.#cache.get(workspaceId);
    if (cached) return cached;
    const built = this.build(workspaceId);
    this.#cache.set(workspaceId, built);
    // A failed build (a credential that no longer opens) is not kept: the next call tries again.
    built.catch(() => this.#cache.get(workspaceId) === built && this.#cache.delete(workspaceId));
    return built;
  }

  /**
   * The workspace's settings over the deployment's, without its credentials: answered from
   * memory (the directory holds every workspace's settings), for what is read on every message
   * (handoff keywords and texts, rate limits). Credentials need `configFor`.
   */
  settingsFor(workspaceId: string): WorkspaceConfig {
    let resolved = this.#settings.get(workspaceId);
    if (!resolved) {
      const parsed = this.parsedSettings(workspaceId);
      const isDeploymentConfig = Object.keys(parsed.overrides).length === 0 && parsed.enabledTools === undefined;
      resolved = {
        workspaceId,
        config: isDeploymentConfig ? this.global : { ...this.global, ...parsed.overrides },
        enabledTools: parsed.enabledTools,
        isDeploymentConfig,
      };
      this.#settings.set(workspaceId, resolved);
    }
    return resolved;
  }

  private parsedSettings(workspaceId: string): ReturnType<typeof parseWorkspaceSettings> {
    try {
      return parseWorkspaceSettings(this.directory.get(workspaceId)?.settings ?? {});
    } catch (error) {
      // Settings are validated when written; a stored value a newer release reads differently must not stop turns.
      this.logger.error({ err: error, workspace: workspaceId }, 'workspace settings no longer valid: the deployment defaults are used');
      return { overrides: {}, enabledTools: undefined };
    }
  }

  private async build(workspaceId: string): Promise<WorkspaceConfig> {
    const settings = this.settingsFor(workspaceId);
    const credentials = workspaceId === DEFAULT_WORKSPACE_ID || !this.credentials ? {} : await this.credentials(workspaceId);
    if (Object.keys(credentials).length === 0) return settings;
    return { ...settings, config: { ...settings.config, ...credentials }, isDeploymentConfig: false };
  }
}
