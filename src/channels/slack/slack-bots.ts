import { webApi } from '@slack/bolt';
import { DEFAULT_WORKSPACE_ID } from '../../config/workspace.js';
import type { CredentialVault } from '../../workspaces/credential-vault.js';

/** Who the bot is in its Slack team (auth.test, or the installation). */
export interface BotIdentity {
  botUserId?: string;
  botId?: string;
  teamId?: string;
}

export interface SlackBot extends BotIdentity {
  token: string;
}

/** A workspace with no bot token to answer with (never installed, or uninstalled since). */
export class SlackNotInstalledError extends Error {
  override readonly name = 'SlackNotInstalledError';
  constructor(readonly workspaceId: string) {
    super(`workspace ${workspaceId} has no Slack bot token: install the Slack app for it from the console`);
  }
}

export interface SlackBotsOptions {
  /** SLACK_BOT_TOKEN: the default workspace's bot (the deployment's own Slack team). */
  envToken: string | undefined;
  clientOptions: webApi.WebClientOptions;
  /** Every other workspace's token (an OAuth installation, or one set in the console). */
  vault: CredentialVault | undefined;
}

/**
 * The bot each workspace answers with: the default workspace's from SLACK_BOT_TOKEN, any other
 * workspace's from its sealed `slack` credentials. One Web API client per token, built once with
 * the token as its default header (not form-encoded into each call), and each token's identity
 * learnt once (from the installation, else one auth.test).
 */
export class SlackBots {
  readonly #clients = new Map<string, webApi.WebClient>();
  readonly #identities = new Map<string, Promise<BotIdentity>>();

  constructor(private readonly options: SlackBotsOptions) {}

  get envToken(): string | undefined {
    return this.options.envToken;
  }

  client(token: string): webApi.WebClient {
    let client = this.#clients.get(token);
    if (!client) {
      client = new webApi.WebClient(token, this.options.clientOptions);
      this.#clients.set(token, client);
    }
    return client;
  }

  /** auth.test once per token, cached; a failure is retried on the next call instead of poisoning the cache. */
  identity(token: string): Promise<BotIdentity> {
    let identity = this.#identities.get(token);
    if (!identity) {
      identity = this.client(token)
        .auth.test()
        .then((result) => ({
          ...(typeof result.user_id === 'string' && { botUserId: result.user_id }),
          ...(typeof result.bot_id === 'string' && { botId: result.bot_id }),
          ...(typeof result.team_id === 'string' && { teamId: result.team_id }),
        }));
      this.#identities.set(token, identity);
      const settled = identity;
      settled.catch(() => this.#identities.get(token) === settled && this.#identities.delete(token));
    }
    return identity;
  }

  /** The Slack team of SLACK_BOT_TOKEN: it belongs to the default workspace. */
  async envTeamId(): Promise<string | undefined> {
    return this.options.envToken === undefined ? undefined : (await this.identity(this.options.envToken)).teamId;
  }

  /** The token a workspace sends with (replies, notices): no Slack call. */
  async token(workspaceId: string): Promise<string> {
    if (workspaceId === DEFAULT_WORKSPACE_ID && this.options.envToken) return this.options.envToken;
    const stored = await this.options.vault?.get(workspaceId, 'slack');
    if (!stored?.SLACK_BOT_TOKEN) throw new SlackNotInstalledError(workspaceId);
    return stored.SLACK_BOT_TOKEN;
  }

  /** The token and identity an inbound event of the workspace is handled with. */
  async bot(workspaceId: string): Promise<SlackBot> {
    if (workspaceId === DEFAULT_WORKSPACE_ID && this.options.envToken) {
      return { token: this.options.envToken, ...(await this.identity(this.options.envToken)) };
    }
    const stored = await this.options.vault?.get(workspaceId, 'slack');
    if (!stored?.SLACK_BOT_TOKEN) throw new SlackNotInstalledError(workspaceId);
    const token = stored.SLACK_BOT_TOKEN;
    const installed = stored.installation as { bot?: { userId?: unknown; id?: unknown }; team?: { id?: unknown } } | undefined;
    const botUserId = installed?.bot?.userId;
    const botId = installed?.bot?.id;
    // An installation names its bot; a token set by hand in the console is asked once.
    if (typeof botUserId === 'string' && typeof botId === 'string') {
      return { token, botUserId, botId, ...(typeof installed?.team?.id === 'string' && { teamId: installed.team.id }) };
    }
    return { token, ...(await this.identity(token)) };
  }

  /** After a workspace or credential change: tokens may be gone; the env token's client and identity stay. */
  forgetWorkspaceTokens(): void {
    for (const token of [...this.#clients.keys()]) if (token !== this.options.envToken) this.#clients.delete(token);
    for (const token of [...this.#identities.keys()]) if (token !== this.options.envToken) this.#identities.delete(token);
  }
}
