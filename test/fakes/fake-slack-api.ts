/**
 * A fake Slack Web API on 127.0.0.1 (port 0), for the real @slack/web-api client
 * (through Bolt's `clientOptions.slackApiUrl`) and for slash-command response_url POSTs:
 *
 * - `POST /api/auth.test` and `POST /api/chat.postMessage`: form-encoded or JSON bodies,
 *   `Authorization: Bearer xoxb-…`; answers `{ ok: true, … }` or `{ ok: false, error }`
 *   with HTTP 200, as Slack does (`invalid_auth`, `not_authed`, `channel_not_found`).
 * - Rate limits as Slack sends them: HTTP 429 with `Retry-After: <seconds>`.
 * - `POST /hooks/<id>`: a response_url; 200 `ok`, or a scripted status.
 *
 * Tests script failures with `failNext` and read what arrived in `posts` / `hooks`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_SLACK_BOT_TOKEN = 'xoxb-fake-switchboard-token';
export const FAKE_SLACK_BOT_USER_ID = 'UBOT0001';
export const FAKE_SLACK_BOT_ID = 'BBOT0001';

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
  responseUrl(id: string): string;
  /** Fail the next `count` calls of `method` (e.g. 'chat.postMessage', or 'hook' for response_url POSTs). */
  failNext(method: string, failure: SlackFailure, count?: number): void;
  /** Resolves once `count` chat.postMessage posts and hook posts together have arrived. */
  waitForDeliveries(count: number, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export async function startFakeSlackApi(options: { botToken?: string } = {}): Promise<FakeSlackApi> {
  const token = options.botToken ?? FAKE_SLACK_BOT_TOKEN;
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
    const path = (req.url ?? '/').split('?')[0]!;

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
    if (bearer !== token) return send(res, method, 200, { ok: false, error: 'invalid_auth' });
    const failure = takeFailure(method);
    if (failure) return answerFailure(res, method, failure);
    switch (method) {
      case 'auth.test':
        return send(res, method, 200, {
          ok: true,
          url: 'https://switchboard-test.slack.com/',
          team: 'Switchboard Test',
          user: 'switchboard',
          team_id: 'T0TEST',
          user_id: FAKE_SLACK_BOT_USER_ID,
          bot_id: FAKE_SLACK_BOT_ID,
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
        send(res, method, 200, { ok: true, channel: body.channel, ts, message: { type: 'message', text: body.text, ts, bot_id: FAKE_SLACK_BOT_ID } });
        return notify();
      }
      case 'chat.postEphemeral': {
        if (typeof body.channel !== 'string' || !body.channel) return send(res, method, 200, { ok: false, error: 'channel_not_found' });
        if (typeof body.user !== 'string' || !body.user) return send(res, method, 200, { ok: false, error: 'user_not_in_channel' });
        if (typeof body.text !== 'string' || !body.text) return send(res, method, 200, { ok: false, error: 'no_text' });
        const ts = `${1_700_000_000 + ++tsCounter}.000100`;
        posts.push({ channel: body.channel, text: body.text, ts, ephemeralTo: body.user });
        send(res, method, 200, { ok: true, message_ts: ts });
        return notify();
      }
      default:
        return send(res, method, 200, { ok: false, error: 'unknown_method' });
    }
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
    responseUrl: (id) => `${origin}/hooks/${id}`,
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
