/**
 * A fake Slack Web API on 127.0.0.1 (port 0), for the real @slack/web-api client
 * (through Bolt's `clientOptions.slackApiUrl`) and for slash-command response_url POSTs:
 *
 * - `POST /api/auth.test` and `POST /api/chat.postMessage`: form-encoded or JSON bodies,
 *   `Authorization: Bearer xoxb-…`; answers `{ ok: true, … }` or `{ ok: false, error }`
 *   with HTTP 200, as Slack does (`invalid_auth`, `not_authed`, `channel_not_found`).
 * - Rate limits as Slack sends them: HTTP 429 with `Retry-After: <seconds>`.
 * - `POST /hooks/<id>`: a response_url; 200 `ok`, or a scripted status.
 * - OAuth v2 (docs.slack.dev/authentication/installing-with-oauth): `GET /oauth/v2/authorize`
 *   stands for the person approving the install in their Slack team (scripted with `approveNextInstall`):
 *   it redirects to `redirect_uri` (or, without one, to the app's configured Redirect URL,
 *   `setRedirectUrl`) with a one-time `code` and the `state` unchanged; `POST
 *   /api/oauth.v2.access` exchanges the code (client_id and client_secret in the body or as HTTP
 *   Basic) for a bot token of that team, answered in the documented shape. Every bot token is
 *   known by the team it belongs to (auth.test answers for it); `revoke` forgets one (uninstall).
 *
 * Tests script failures with `failNext` and read what arrived in `posts` / `hooks`; `tokenOf`
 * tells which bot token a post was made with.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_SLACK_BOT_TOKEN = 'xoxb-fake-switchboard-token';
export const FAKE_SLACK_BOT_USER_ID = 'UBOT0001';
export const FAKE_SLACK_BOT_ID = 'BBOT0001';
/** The Slack team of FAKE_SLACK_BOT_TOKEN. */
export const FAKE_SLACK_TEAM_ID = 'T0TEST';
export const FAKE_SLACK_CLIENT_ID = '1111111111.2222222222';
export const FAKE_SLACK_CLIENT_SECRET = 'fake-slack-client-secret';
export const FAKE_SLACK_APP_ID = 'A0TEST';

/** A Slack team's bot, as an install creates it. */
export interface FakeSlackBot {
  teamId: string;
  teamName: string;
  token: string;
  botUserId: string;
  botId: string;
}

/** What arrived at the authorize page. */
export interface FakeAuthorizeRequest {
  clientId: string | null;
  scope: string | null;
  state: string | null;
  redirectUri: string | null;
}

export interface SlackPost {
  channel: string;
  text: string;
  thread_ts?: string;
  ts: string;
  /** Block Kit blocks, when the message has any (sent as a JSON string in form bodies). */
  blocks?: unknown;
  /** chat.postEphemeral: the one user who sees it. */
  ephemeralTo?: string;
}

export interface SlackHookPost {
  path: string;
  body: Record<string, unknown>;
}

export type SlackFailure = { status: 429; retryAfterSeconds: number } | { status: 500 | 503 } | { okFalse: string };

export interface FakeSlackApi {
  /** For `clientOptions.slackApiUrl` (ends with /api/). */
  readonly apiUrl: string;
  readonly origin: string;
  readonly posts: SlackPost[];
  readonly hooks: SlackHookPost[];
  /** Every Web API call, in order, with the HTTP status answered. */
  readonly calls: { method: string; status: number }[];
  /** Slack's authorize page (`https://slack.com/oauth/v2/authorize` for the real one). */
  readonly authorizeUrl: string;
  readonly authorizeRequests: FakeAuthorizeRequest[];
  responseUrl(id: string): string;
  /** The bot token a chat.postMessage / chat.postEphemeral post was made with. */
  tokenOf(post: SlackPost): string | undefined;
  /** The next visit to the authorize page installs the app into this team (its bot gets `bot.token`). */
  approveNextInstall(bot: Partial<FakeSlackBot> & Pick<FakeSlackBot, 'teamId' | 'token'>): void;
  /** The Redirect URL configured in the Slack app (used when the authorize request sends no redirect_uri). */
  setRedirectUrl(url: string): void;
  /** Forgets a bot token (the app was uninstalled): calls with it answer `invalid_auth`. */
  revoke(token: string): void;
  /** Fail the next `count` calls of `method` (e.g. 'chat.postMessage', or 'hook' for response_url POSTs). */
  failNext(method: string, failure: SlackFailure, count?: number): void;
  /** Resolves once `count` chat.postMessage posts and hook posts together have arrived. */
  waitForDeliveries(count: number, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export async function startFakeSlackApi(options: { botToken?: string; clientId?: string; clientSecret?: string } = {}): Promise<FakeSlackApi> {
  const clientId = options.clientId ?? FAKE_SLACK_CLIENT_ID;
  const clientSecret = options.clientSecret ?? FAKE_SLACK_CLIENT_SECRET;
  const envBot: FakeSlackBot = {
    teamId: FAKE_SLACK_TEAM_ID,
    teamName: 'Switchboard Test',
    token: options.botToken ?? FAKE_SLACK_BOT_TOKEN,
    botUserId: FAKE_SLACK_BOT_USER_ID,
    botId: FAKE_SLACK_BOT_ID,
  };
  const bots = new Map<string, FakeSlackBot>([[envBot.token, envBot]]);
  const postTokens = new WeakMap<SlackPost, string>();
  const pendingInstalls: FakeSlackBot[] = [];
  const codes = new Map<string, { bot: FakeSlackBot; scope: string; redirectUri: string | null }>();
  const authorizeRequests: FakeAuthorizeRequest[] = [];
  let configuredRedirectUrl: string | undefined;
  const posts: SlackPost[] = [];
  const hooks: SlackHookPost[] = [];
  const calls: { method: string; status: number }[] = [];
  const failures = new Map<string, SlackFailure[]>();
  const waiters = new Set<() => void>();
  let tsCounter = 0;

  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  const send = (res: ServerResponse, method: string, status: number, body: unknown, headers: Record<string, string> = {}) => {
    calls.push({ method, status });
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json; charset=utf-8', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const takeFailure = (method: string) => failures.get(method)?.shift();
  const answerFailure = (res: ServerResponse, method: string, failure: SlackFailure) => {
    if ('okFalse' in failure) return send(res, method, 200, { ok: false, error: failure.okFalse });
    if (failure.status === 429) {
      return send(res, method, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(failure.retryAfterSeconds) });
    }
    return send(res, method, failure.status, 'upstream error');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const contentType = req.headers['content-type'] ?? '';
    const body: Record<string, unknown> = contentType.includes('application/json')
      ? (JSON.parse(raw || '{}') as Record<string, unknown>)
      : Object.fromEntries(new URLSearchParams(raw));
    const url = new URL(req.url ?? '/', 'http://fake-slack');
    const path = url.pathname;

    if (path === '/oauth/v2/authorize') return authorizePage(res, url.searchParams);
    if (path === '/api/oauth.v2.access') return exchangeCode(req, res, body);
    if (path.startsWith('/hooks/')) {
      const failure = takeFailure('hook');
      if (failure) return answerFailure(res, 'hook', failure);
      hooks.push({ path, body });
      send(res, 'hook', 200, 'ok');
      return notify();
    }
    const method = path.replace(/^\/api\//, '');
    const bearer = req.headers.authorization?.replace(/^Bearer /, '') ?? (body.token as string | undefined);
    if (!bearer) return send(res, method, 200, { ok: false, error: 'not_authed' });
    const bot = bots.get(bearer);
    if (!bot) return send(res, method, 200, { ok: false, error: 'invalid_auth' });
    const failure = takeFailure(method);
    if (failure) return answerFailure(res, method, failure);
    switch (method) {
      case 'auth.test':
        return send(res, method, 200, {
          ok: true,
          url: `https://${bot.teamName.toLowerCase().replace(/\W+/g, '-')}.slack.com/`,
          team: bot.teamName,
          user: 'switchboard',
          team_id: bot.teamId,
          user_id: bot.botUserId,
          bot_id: bot.botId,
        });
      case 'chat.postMessage': {
        if (typeof body.channel !== 'string' || !body.channel) return send(res, method, 200, { ok: false, error: 'channel_not_found' });
        if (typeof body.text !== 'string' || !body.text) return send(res, method, 200, { ok: false, error: 'no_text' });
        const ts = `${1_700_000_000 + ++tsCounter}.000100`;
        const blocks = typeof body.blocks === 'string' ? (JSON.parse(body.blocks) as unknown) : body.blocks;
        const post: SlackPost = {
          channel: body.channel,
          text: body.text,
          ts,
          ...(typeof body.thread_ts === 'string' && { thread_ts: body.thread_ts }),
          ...(blocks !== undefined && { blocks }),
        };
        posts.push(post);
        postTokens.set(post, bearer);
        send(res, method, 200, { ok: true, channel: body.channel, ts, message: { type: 'message', text: body.text, ts, bot_id: bot.botId } });
        return notify();
      }
      case 'chat.postEphemeral': {
        if (typeof body.channel !== 'string' || !body.channel) return send(res, method, 200, { ok: false, error: 'channel_not_found' });
        if (typeof body.user !== 'string' || !body.user) return send(res, method, 200, { ok: false, error: 'user_not_in_channel' });
        if (typeof body.text !== 'string' || !body.text) return send(res, method, 200, { ok: false, error: 'no_text' });
        const ts = `${1_700_000_000 + ++tsCounter}.000100`;
        const post: SlackPost = { channel: body.channel, text: body.text, ts, ephemeralTo: body.user };
        posts.push(post);
        postTokens.set(post, bearer);
        send(res, method, 200, { ok: true, message_ts: ts });
        return notify();
      }
      default:
        return send(res, method, 200, { ok: false, error: 'unknown_method' });
    }
  };

  /** The person approves the install: back to the app with a one-time code and the state as it came. */
  const authorizePage = (res: ServerResponse, query: URLSearchParams) => {
    const request: FakeAuthorizeRequest = {
      clientId: query.get('client_id'),
      scope: query.get('scope'),
      state: query.get('state'),
      redirectUri: query.get('redirect_uri'),
    };
    authorizeRequests.push(request);
    const page = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<html><body>${text}</body></html>`);
    };
    if (request.clientId !== clientId) return page(400, 'invalid_client_id');
    if (!request.scope) return page(400, 'invalid_scope');
    const redirectTo = request.redirectUri ?? configuredRedirectUrl;
    if (!redirectTo) return page(400, 'bad_redirect_uri: no redirect_uri and no Redirect URL configured');
    // Slack accepts a redirect_uri only under a Redirect URL configured for the app.
    if (configuredRedirectUrl && !redirectTo.startsWith(configuredRedirectUrl)) return page(400, 'bad_redirect_uri');
    const bot = pendingInstalls.shift();
    if (!bot) return page(400, 'no install scripted (approveNextInstall)');
    const code = `${randomBytes(6).toString('hex')}.${randomBytes(12).toString('hex')}`;
    codes.set(code, { bot, scope: request.scope, redirectUri: request.redirectUri });
    const back = new URL(redirectTo);
    back.searchParams.set('code', code);
    if (request.state !== null) back.searchParams.set('state', request.state);
    res.writeHead(302, { location: back.toString() });
    res.end();
  };

  const exchangeCode = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => {
    const method = 'oauth.v2.access';
    const basic = req.headers.authorization?.startsWith('Basic ')
      ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString('utf8').split(':')
      : undefined;
    const givenId = basic?.[0] ?? body.client_id;
    const givenSecret = basic?.slice(1).join(':') ?? body.client_secret;
    if (givenId !== clientId) return send(res, method, 200, { ok: false, error: 'invalid_client_id' });
    if (givenSecret !== clientSecret) return send(res, method, 200, { ok: false, error: 'bad_client_secret' });
    const grant = typeof body.code === 'string' ? codes.get(body.code) : undefined;
    if (!grant) return send(res, method, 200, { ok: false, error: 'invalid_code' });
    codes.delete(body.code as string);
    // A redirect_uri sent to the authorize page must be sent again, the same.
    if (grant.redirectUri !== null && body.redirect_uri !== grant.redirectUri) return send(res, method, 200, { ok: false, error: 'bad_redirect_uri' });
    const { bot } = grant;
    bots.set(bot.token, bot);
    return send(res, method, 200, {
      ok: true,
      access_token: bot.token,
      token_type: 'bot',
      scope: grant.scope,
      bot_user_id: bot.botUserId,
      app_id: FAKE_SLACK_APP_ID,
      team: { id: bot.teamId, name: bot.teamName },
      enterprise: null,
      is_enterprise_install: false,
      authed_user: { id: 'U0INSTALLER' },
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    apiUrl: `${origin}/api/`,
    origin,
    posts,
    hooks,
    calls,
    authorizeUrl: `${origin}/oauth/v2/authorize`,
    authorizeRequests,
    responseUrl: (id) => `${origin}/hooks/${id}`,
    tokenOf: (post) => postTokens.get(post),
    approveNextInstall(bot) {
      pendingInstalls.push({
        teamName: `Team ${bot.teamId}`,
        botUserId: `UBOT${bot.teamId.slice(1)}`,
        botId: `BBOT${bot.teamId.slice(1)}`,
        ...bot,
      });
    },
    setRedirectUrl(url) {
      configuredRedirectUrl = url;
    },
    revoke(token) {
      bots.delete(token);
    },
    failNext(method, failure, count = 1) {
      const queue = failures.get(method) ?? [];
      for (let i = 0; i < count; i++) queue.push(failure);
      failures.set(method, queue);
    },
    async waitForDeliveries(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (posts.length + hooks.length < count) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error(`expected ${count} Slack deliveries, got ${posts.length + hooks.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(remaining, 200));
          function done() {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          }
          waiters.add(done);
        });
      }
    },
    reset() {
      posts.length = 0;
      hooks.length = 0;
      calls.length = 0;
      failures.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
