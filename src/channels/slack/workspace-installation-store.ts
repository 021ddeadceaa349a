import type { Installation, InstallationQuery, InstallationStore } from '@slack/bolt';
import { DEFAULT_WORKSPACE_ID } from '../../config/workspace.js';
import type { CredentialVault } from '../../workspaces/credential-vault.js';
import type { WorkspaceDirectory } from '../../workspaces/workspace-directory.js';
import type { WorkspaceRecords } from '../../workspaces/workspace-records.js';

const SLACK = 'slack';

/** Why an install was not stored; `message` is shown to the person who installed. */
export class SlackInstallRefusedError extends Error {
  override readonly name = 'SlackInstallRefusedError';
  constructor(
    readonly reason: 'team_taken' | 'workspace_has_env_bot' | 'unknown_workspace' | 'org_install' | 'no_bot',
    message: string,
  ) {
    super(message);
  }
}

export interface WorkspaceInstallationStoreOptions {
  vault: CredentialVault;
  records: WorkspaceRecords;
  directory: WorkspaceDirectory;
  /** SLACK_BOT_TOKEN is set: the default workspace answers with it, so nothing is installed into it. */
  hasEnvBot: boolean;
  /** The Slack team of SLACK_BOT_TOKEN, if any: it is the default workspace's and is never installed into another. */
  envTeamId: () => Promise<string | undefined>;
}

/**
 * Bolt's installation store over the workspaces. An install names its workspace in the OAuth
 * state's `metadata` (signed by Bolt with SLACK_STATE_SECRET, set from the console's signed install
 * link); it is sealed in that workspace's credentials (integration `slack`: SLACK_BOT_TOKEN and the
 * installation) and its Slack team is bound to the workspace (`workspace_channels`), which is how
 * every later event finds it. A team bound to another workspace is refused, never moved.
 */
export class WorkspaceInstallationStore implements InstallationStore {
  constructor(private readonly options: WorkspaceInstallationStoreOptions) {}

  async storeInstallation(installation: Installation): Promise<void> {
    const { vault, records, directory } = this.options;
    const workspaceId = installation.metadata;
    const teamId = installation.team?.id;
    if (installation.isEnterpriseInstall || !teamId) {
      throw new SlackInstallRefusedError('org_install', 'org-wide installs are not supported: install the app into one Slack workspace');
    }
    if (!workspaceId || !directory.get(workspaceId)) throw new SlackInstallRefusedError('unknown_workspace', 'the workspace of this install link no longer exists');
    if (!installation.bot?.token) throw new SlackInstallRefusedError('no_bot', 'the install granted no bot token: add a bot user to the Slack app');
    // One bot per workspace: the default workspace's is SLACK_BOT_TOKEN (its replies would go out with it).
    if (workspaceId === DEFAULT_WORKSPACE_ID && this.options.hasEnvBot) {
      throw new SlackInstallRefusedError('workspace_has_env_bot', 'the default workspace answers with the Slack bot of SLACK_BOT_TOKEN: install into another workspace');
    }
    const boundTo = directory.boundTo(SLACK, teamId);
    const envTeam = await this.options.envTeamId();
    if ((boundTo !== undefined && boundTo !== workspaceId) || (teamId === envTeam && workspaceId !== DEFAULT_WORKSPACE_ID)) {
      throw new SlackInstallRefusedError('team_taken', 'this Slack workspace is already connected to another Switchboard workspace');
    }
    const previous = await vault.get(workspaceId, SLACK);
    // The binding first: two installs racing for one team, one wins here and the other stores nothing.
    if (!(await records.bind({ channel: SLACK, identity: teamId, workspaceId }))) {
      throw new SlackInstallRefusedError('team_taken', 'this Slack workspace is already connected to another Switchboard workspace');
    }
    try {
      await vault.put(workspaceId, SLACK, { SLACK_BOT_TOKEN: installation.bot.token, installation });
    } catch (error) {
      if (boundTo === undefined) await records.unbind({ channel: SLACK, identity: teamId, workspaceId }).catch(() => undefined);
      throw error;
    }
    // A workspace holds one installation: the team it had before no longer routes to it.
    const previousTeam = installedTeam(previous?.installation);
    if (previousTeam && previousTeam !== teamId) await records.unbind({ channel: SLACK, identity: previousTeam, workspaceId });
    await directory.changed();
  }

  async fetchInstallation(query: InstallationQuery<boolean>): Promise<Installation> {
    const workspaceId = query.teamId === undefined ? undefined : this.options.directory.boundTo(SLACK, query.teamId);
    const stored = workspaceId === undefined ? undefined : await this.options.vault.get(workspaceId, SLACK);
    if (!stored?.installation || installedTeam(stored.installation) !== query.teamId) throw new Error(`no Slack installation for team ${query.teamId ?? '(none)'}`);
    return stored.installation as unknown as Installation;
  }

  /** app_uninstalled, tokens_revoked: the installation made by OAuth for this team goes, with its binding. */
  async deleteInstallation(query: InstallationQuery<boolean>): Promise<void> {
    const { vault, records, directory } = this.options;
    const teamId = query.teamId;
    const workspaceId = teamId === undefined ? undefined : directory.boundTo(SLACK, teamId);
    if (teamId === undefined || workspaceId === undefined) return;
    const stored = await vault.get(workspaceId, SLACK);
    // Credentials set by hand in the console (no installation of this team) are the admins' to remove.
    if (installedTeam(stored?.installation) !== teamId) return;
    await vault.delete(workspaceId, SLACK);
    await records.unbind({ channel: SLACK, identity: teamId, workspaceId });
    await directory.changed();
  }
}

function installedTeam(installation: unknown): string | undefined {
  const id = (installation as { team?: { id?: unknown } } | undefined)?.team?.id;
  return typeof id === 'string' ? id : undefined;
}
