import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../config/config.js';

/*
 * The console's "Add to Slack" link for one workspace. Whoever opens /slack/install chooses the
 * workspace the Slack team is bound to, so the link is made only by the console (for an admin of
 * that workspace) and signed: HMAC-SHA256 under SLACK_STATE_SECRET over the workspace id and an
 * expiry 10 minutes ahead. No Bolt here: the console imports this without loading the Slack SDK.
 */

export const SLACK_INSTALL_PATH = '/slack/install';
/** Where Slack sends the browser back (the Redirect URL of the Slack app: PUBLIC_URL + this path). */
export const SLACK_REDIRECT_PATH = '/slack/oauth_redirect';
export const SLACK_INSTALL_LINK_TTL_MS = 10 * 60 * 1000;

export type InstallLinkCheck = { workspaceId: string; problem?: undefined } | { workspaceId?: undefined; problem: 'invalid' | 'expired' };

const signatureOf = (secret: string, workspaceId: string, expires: string) =>
  createHmac('sha256', secret).update(`switchboard slack install\n${workspaceId}\n${expires}`).digest('base64url');

/**
 * A signed install link for `workspaceId`, valid for 10 minutes; absolute under PUBLIC_URL, else
 * a path on this server. Undefined when multi-workspace Slack is not configured (no link to show).
 */
export function slackInstallUrl(
  workspaceId: string,
  config: Pick<Config, 'SLACK_CLIENT_ID' | 'SLACK_CLIENT_SECRET' | 'SLACK_STATE_SECRET' | 'PUBLIC_URL'>,
  now: number = Date.now(),
): string | undefined {
  if (!config.SLACK_CLIENT_ID || !config.SLACK_CLIENT_SECRET || !config.SLACK_STATE_SECRET) return undefined;
  const expires = String(Math.floor((now + SLACK_INSTALL_LINK_TTL_MS) / 1000));
  const query = new URLSearchParams({ workspace: workspaceId, expires, signature: signatureOf(config.SLACK_STATE_SECRET.reveal(), workspaceId, expires) });
  const path = `${SLACK_INSTALL_PATH}?${query}`;
  return config.PUBLIC_URL ? new URL(path, config.PUBLIC_URL).toString() : path;
}

/** The workspace a signed install link names, or why it is refused (altered, or older than 10 minutes). */
export function checkSlackInstallLink(query: Record<string, unknown>, stateSecret: string, now: number = Date.now()): InstallLinkCheck {
  const { workspace, expires, signature } = query;
  if (typeof workspace !== 'string' || typeof expires !== 'string' || typeof signature !== 'string') return { problem: 'invalid' };
  if (!/^\d{1,12}$/.test(expires) || workspace.length === 0 || workspace.length > 64) return { problem: 'invalid' };
  const expected = Buffer.from(signatureOf(stateSecret, workspace, expires));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { problem: 'invalid' };
  if (Number(expires) * 1000 < now) return { problem: 'expired' };
  return { workspaceId: workspace };
}
