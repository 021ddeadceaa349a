import type { ServerResponse } from 'node:http';
import { HTTPReceiver, type InstallationStore, type Logger as BoltLogger, webApi } from '@slack/bolt';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../observability/logger.js';
import { checkSlackInstallLink, SLACK_INSTALL_PATH, SLACK_REDIRECT_PATH } from './slack-install-link.js';
import { SlackInstallRefusedError } from './workspace-installation-store.js';

/** @slack/oauth's InstallProvider: Bolt builds it for its own receivers and exports its types, not the class. */
type InstallProvider = NonNullable<HTTPReceiver['installer']>;
type CallbackOptions = NonNullable<Parameters<InstallProvider['handleCallback']>[2]>;

export interface SlackOAuthOptions {
  clientId: string;
  clientSecret: string;
  /** Signs Bolt's OAuth state (and the console's install links, checked here). */
  stateSecret: string;
  signingSecret: string;
  scopes: readonly string[];
  /** PUBLIC_URL + /slack/oauth_redirect; without it Slack uses the app's one configured Redirect URL. */
  redirectUri: string | undefined;
  /** Slack's authorize page (Bolt's default unless SLACK_API_URL points elsewhere, e.g. at a local fake). */
  authorizationUrl: string | undefined;
  /** For oauth.v2.access and the auth.test of the new token. */
  clientOptions: webApi.WebClientOptions;
  boltLogger: BoltLogger;
  logger: Logger;
  installationStore: InstallationStore;
  /** Whether an install link's workspace exists. */
  workspaceExists: (workspaceId: string) => boolean;
  now?: () => number;
}

/**
 * Slack's OAuth v2 install through Bolt's InstallProvider, on our Fastify server:
 * `GET /slack/install` takes only a signed, unexpired console link, and sends the browser to Slack
 * with a state that carries the workspace id (`metadata`, signed by Bolt, bound to this browser
 * by a cookie, 10 minutes); `GET /slack/oauth_redirect` checks that state, exchanges the code
 * (oauth.v2.access) and hands the installation to the store.
 */
export function mountSlackOAuth(http: FastifyInstance, options: SlackOAuthOptions): void {
  const installer = buildInstaller(options);
  const now = options.now ?? Date.now;

  http.get(SLACK_INSTALL_PATH, async (request, reply) => {
    const link = checkSlackInstallLink(request.query as Record<string, unknown>, options.stateSecret, now());
    const refuse = (status: number, title: string, text: string) =>
      reply.status(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page(title, text));
    if (link.problem === 'expired') return refuse(403, 'This install link has expired', 'Open a new one from the Switchboard console; links work for 10 minutes.');
    if (link.problem) return refuse(403, 'This install link is not valid', 'Open the install link from the Switchboard console.');
    if (!options.workspaceExists(link.workspaceId)) return refuse(404, 'No such workspace', 'The workspace of this install link does not exist.');
    reply.hijack();
    try {
      await installer.handleInstallPath(request.raw, reply.raw, {}, {
        scopes: [...options.scopes],
        metadata: link.workspaceId,
        ...(options.redirectUri && { redirectUri: options.redirectUri }),
      });
    } catch (error) {
      options.logger.error({ err: error, workspace: link.workspaceId }, 'slack install could not start');
      if (!reply.raw.headersSent) sendPage(reply.raw, 500, 'Slack could not be reached', 'Please try again in a moment.');
    }
  });

  http.get(SLACK_REDIRECT_PATH, async (request, reply) => {
    reply.hijack();
    await installer.handleCallback(request.raw, reply.raw, callbackPages(options.logger)).catch((error: unknown) => {
      options.logger.error({ err: error }, 'slack install callback failed');
      if (!reply.raw.headersSent) sendPage(reply.raw, 500, 'Slack was not connected', 'Please try again from the console.');
    });
  });
}

function buildInstaller(options: SlackOAuthOptions): InstallProvider {
  // The receiver is never started: it only builds the InstallProvider from Bolt's own options.
  const { installer } = new HTTPReceiver({
    signingSecret: options.signingSecret,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    stateSecret: options.stateSecret,
    installationStore: options.installationStore,
    scopes: [...options.scopes],
    logger: options.boltLogger,
    installerOptions: {
      // Straight to Slack: the console's link is the "Add to Slack" button.
      directInstall: true,
      clientOptions: options.clientOptions,
      ...(options.authorizationUrl && { authorizationUrl: options.authorizationUrl }),
    },
  });
  if (!installer) throw new Error('Bolt did not build an OAuth installer from SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET');
  return installer;
}

/** What the person who installed sees at the end. */
function callbackPages(logger: Logger): CallbackOptions {
  return {
    success: (installation, installOptions, _request, response) => {
      logger.info({ workspace: installOptions.metadata, team: installation.team?.id }, 'slack app installed for a workspace');
      sendPage(response, 200, 'Slack is connected', `Switchboard now answers in ${installation.team?.name ?? 'your Slack workspace'}. You can close this tab.`);
    },
    failure: (error, installOptions, _request, response) => {
      if (error instanceof SlackInstallRefusedError) {
        logger.warn({ workspace: installOptions.metadata, reason: error.reason }, 'slack install refused');
        const conflict = error.reason === 'team_taken' || error.reason === 'workspace_has_env_bot';
        return sendPage(response, conflict ? 409 : 400, 'Slack was not connected', `${error.message}.`);
      }
      switch (error.code) {
        case 'slack_oauth_missing_state':
        case 'slack_oauth_invalid_state':
        case 'slack_oauth_missing_code':
          return sendPage(response, 400, 'This install could not be verified', 'It expired, or was started in another browser: open a new install link from the console.');
        case 'slack_oauth_installer_authorization_error':
          return sendPage(response, 400, 'The install was cancelled', 'Nothing was changed. Open a new install link from the console to try again.');
        default:
          logger.error({ err: error, workspace: installOptions.metadata }, 'slack install failed');
          return sendPage(response, 500, 'Slack was not connected', 'Something went wrong on our side; please try again from the console.');
      }
    },
  };
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const page = (title: string, text: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
  `<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;text-align:center">` +
  `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;

/** For the routes Bolt's installer answers on the raw response (after `reply.hijack()`). */
function sendPage(response: ServerResponse, status: number, title: string, text: string): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  response.end(page(title, text));
}
