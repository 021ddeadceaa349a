import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/database.js';
import { createAdmin, seedConversation, seedToolCall, seedTurn, setToolCallTime, type SeedConversation } from './helpers/admin-seed.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * The admin JSON API against the real server and PostgreSQL: auth rules (401,
 * CSRF, login rate limit), every tool-call and conversation filter, cursor
 * pagination, detail views, stats, export, redaction and the audit trail.
 */

const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';
const EMAIL = 'ops@example.com';
const PASSWORD = 'correct horse battery staple';
const CARD = '4242 4242 4242 4242';
const STRIPE_KEY = 'sk_live_51HqLyjWDarjtT1zdp7dc';

let server: RunningApp;
let db: Db;
const ids: Record<string, string> = {};
let web: SeedConversation;
let sms: SeedConversation;
let slack: SeedConversation;

const base = new Date('2026-03-01T12:00:00.000Z');
const at = (minutes: number) => new Date(base.getTime() + minutes * 60_000);

/** fetch with a tiny cookie jar, as a browser keeps one. */
class Client {
  cookies = new Map<string, string>();
  constructor(private readonly headers: Record<string, string> = {}) {}

  async request(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...this.headers, ...options.headers };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const setCookies = response.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair] = line.split(';');
      const [name, ...rest] = pair!.split('=');
      const value = rest.join('=');
      if (value === '' || /expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), value);
    }
    const text = await response.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* CSV and other text bodies stay text */
    }
    return { status: response.status, body, headers: response.headers, setCookies };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  async csrf(): Promise<string> {
    const { body } = await this.get('/api/admin/csrf');
    return body.csrfToken;
  }

  async login(email = EMAIL, password = PASSWORD) {
    const token = await this.csrf();
    return this.request('POST', '/api/admin/login', { body: { email, password }, headers: { 'x-csrf-token': token } });
  }
}

const bearer = new Client({ authorization: `Bearer ${ADMIN_TOKEN}` });
const list = async (query: string) => {
  const response = await bearer.get(`/api/admin/tool-calls${query}`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as { items: any[]; nextCursor: string | null };
};
const names = (page: { items: any[] }) => page.items.map((item) => item.id);

beforeAll(async () => {
  server = await startTestApp({ ADMIN_TOKEN, ADMIN_LOGIN_MAX_ATTEMPTS: '4' });
  db = server.app.database.db;
  await createAdmin(db, EMAIL, PASSWORD);

  web = await seedConversation(db, 'web', 'visitor-7f3a', at(30));
  sms = await seedConversation(db, 'sms', '+14155550167', at(20));
  slack = await seedConversation(db, 'slack', 'alice@example.com', at(10));

  const webTurn = await seedTurn(db, web, { text: 'Buy 2 tickets for alice@example.com, card 4242 4242 4242 4242', reply: 'Here is your link', at: at(1), provider: 'openai', latencyMs: 200 });
  const smsTurn = await seedTurn(db, sms, { text: 'where is my order?', at: at(2), provider: 'anthropic', latencyMs: 400, cached: true });
  const slackTurn = await seedTurn(db, slack, {
    text: 'help',
    reply: 'Sorry, we are busy.',
    at: at(3),
    provider: null,
    latencyMs: 900,
    fallback: true,
    attempts: [{ provider: 'openai', model: 'gpt-test', step: 0, outcome: 'error', errorKind: 'server', status: 503, ms: 40 }],
  });

  ids.checkout = await seedToolCall(db, web, webTurn.userMessageId, {
    toolName: 'create_checkout_link',
    status: 'ok',
    at: at(1),
    arguments: { amount: 49.99, currency: 'USD', description: 'Tickets for alice@example.com', card: CARD, apiKey: STRIPE_KEY },
    result: { url: 'https://checkout.stripe.com/c/pay/cs_test_1', sessionId: 'cs_test_1' },
    durationMs: 321,
  });
  ids.checkoutError = await seedToolCall(db, web, webTurn.userMessageId, {
    toolName: 'create_checkout_link',
    status: 'error',
    at: at(2),
    arguments: { amount: 50, currency: 'USD', description: 'discount 50%_off' },
    error: 'Stripe: card declined for +1 415 555 0167',
    durationMs: 80,
  });
  ids.order = await seedToolCall(db, sms, smsTurn.userMessageId, {
    toolName: 'get_order_status',
    status: 'ok',
    at: at(3),
    arguments: { orderId: 'ord_42' },
    provider: 'anthropic',
  });
  ids.refused = await seedToolCall(db, sms, smsTurn.userMessageId, {
    toolName: 'issue_refund',
    status: 'refused',
    at: at(4),
    arguments: { orderId: 'ord_42', amount: 5000 },
    error: 'refunds need a human',
    provider: 'anthropic',
  });
  ids.invalid = await seedToolCall(db, slack, slackTurn.userMessageId, {
    toolName: 'get_order_status',
    status: 'invalid',
    at: at(5),
    arguments: { orderId: '=HYPERLINK("http://evil.example")' },
    error: 'invalid arguments',
  });
  // Three calls in the same microsecond-precise instant: pagination must neither skip nor repeat them.
  for (const key of ['tieA', 'tieB', 'tieC']) {
    ids[key] = await seedToolCall(db, slack, slackTurn.userMessageId, { toolName: 'lookup', status: 'ok', at: at(6), arguments: { key } });
    await setToolCallTime(db, ids[key]!, '2026-03-01T12:06:00.123456Z');
  }
});

afterAll(async () => {
  await server?.stop();
});

describe('admin API access', () => {
  const protectedRoutes = [
    '/api/admin/me',
    '/api/admin/tool-calls',
    '/api/admin/tool-calls/export?format=csv',
    '/api/admin/tool-calls/00000000-0000-4000-8000-000000000000',
    '/api/admin/conversations',
    '/api/admin/conversations/00000000-0000-4000-8000-000000000000',
    '/api/admin/stats',
    '/api/admin/health',
    '/api/admin/no-such-route',
  ];

  it('answers 401 with nothing else on every route without valid credentials', async () => {
    const anonymous = new Client();
    const wrongToken = new Client({ authorization: 'Bearer not-the-token' });
    const forgedCookie = new Client();
    forgedCookie.cookies.set('sb_admin', 'forged-session-value');
    for (const client of [anonymous, wrongToken, forgedCookie]) {
      for (const path of protectedRoutes) {
        const response = await client.get(path);
        expect(response.status, path).toBe(401);
        expect(response.body).toEqual({ error: { code: 'unauthorized', message: 'authentication required' } });
      }
      const logout = await client.request('POST', '/api/admin/logout');
      expect(logout.status).toBe(401);
    }
  });

  it('accepts the ADMIN_TOKEN bearer', async () => {
    const me = await bearer.get('/api/admin/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ actor: 'token', email: null, role: 'admin', name: 'Support' });
  });

  it('logs in with a session cookie only with a valid CSRF token, and logs out', async () => {
    const browser = new Client();
    const noCsrf = await browser.request('POST', '/api/admin/login', { body: { email: EMAIL, password: PASSWORD } });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body.error.code).toBe('csrf_invalid');
    await browser.csrf();
    const forged = await browser.request('POST', '/api/admin/login', { body: { email: EMAIL, password: PASSWORD }, headers: { 'x-csrf-token': 'forged' } });
    expect(forged.status).toBe(403);
    expect(browser.cookies.has('sb_admin')).toBe(false);

    const wrong = await browser.login(EMAIL, 'not the password at all');
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: { code: 'unauthorized', message: 'wrong email or password' } });
    const unknown = await browser.login('nobody@example.com', PASSWORD);
    expect(unknown.body).toEqual(wrong.body);

    const ok = await browser.login(' OPS@example.com ', PASSWORD);
    expect(ok.status).toBe(200);
    expect(ok.body.email).toBe(EMAIL);
    const sessionCookie = ok.setCookies.find((line) => line.startsWith('sb_admin='))!;
    expect(sessionCookie).toMatch(/HttpOnly/);
    expect(sessionCookie).toMatch(/SameSite=Strict/);
    expect(sessionCookie).not.toMatch(/Secure/); // plain http in tests; Secure is set when served over HTTPS
    expect((await browser.get('/api/admin/me')).body).toEqual({ actor: 'session', email: EMAIL, role: 'admin', name: 'ops' });

    // The session cookie alone does not allow a state change.
    const logoutWithoutCsrf = await browser.request('POST', '/api/admin/logout');
    expect(logoutWithoutCsrf.status).toBe(403);
    expect((await browser.get('/api/admin/me')).status).toBe(200);

    const stolenCookie = browser.cookies.get('sb_admin')!;
    const logout = await browser.request('POST', '/api/admin/logout', { headers: { 'x-csrf-token': await browser.csrf() } });
    expect(logout.status).toBe(200);
    const replay = new Client();
    replay.cookies.set('sb_admin', stolenCookie);
    expect((await replay.get('/api/admin/me')).status).toBe(401);
  });

  it('rate-limits login attempts per address and email, with retry-after and a metric', async () => {
    const attacker = new Client();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await attacker.login('target@example.com', `guess-${i}-xxxxxxxx`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
    const limited = await attacker.login('target@example.com', 'another guess');
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_rate_limited_total\{scope="admin_login"\} 2/);
  });
});

describe('GET /api/admin/tool-calls', () => {
  it('lists newest first with channel, user and redacted arguments', async () => {
    const page = await list('');
    expect(page.items.map((item) => item.toolName)).toEqual([
      'lookup', 'lookup', 'lookup', 'get_order_status', 'issue_refund', 'get_order_status', 'create_checkout_link', 'create_checkout_link',
    ]);
    const checkout = page.items.find((item) => item.id === ids.checkout)!;
    expect(checkout).toMatchObject({ status: 'ok', durationMs: 321, provider: 'openai', channel: 'web', user: 'visitor-7f3a', conversationId: web.id });
    expect(checkout.arguments).toEqual({ amount: 49.99, currency: 'USD', description: 'Tickets for a***@example.com', card: '[card]', apiKey: '[redacted]' });
    const fromSms = page.items.find((item) => item.id === ids.order)!;
    expect(fromSms.user).toBe('***67');
    const fromSlack = page.items.find((item) => item.id === ids.invalid)!;
    expect(fromSlack.user).toBe('a***@example.com');
    const declined = page.items.find((item) => item.id === ids.checkoutError)!;
    expect(declined.error).toBe('Stripe: card declined for ***67');
    expect(JSON.stringify(page)).not.toMatch(/alice@|4155550167|4242 4242|sk_live/);
  });

  it('filters by tool, status (one or several), channel, conversation, user and provider', async () => {
    expect(names(await list('?tool=create_checkout_link')).sort()).toEqual([ids.checkout, ids.checkoutError].sort());
    expect(names(await list('?status=refused'))).toEqual([ids.refused]);
    expect(names(await list('?status=error'))).toEqual([ids.checkoutError]);
    expect(names(await list('?status=refused,invalid'))).toEqual([ids.invalid, ids.refused]);
    expect(names(await list('?channel=sms'))).toEqual([ids.refused, ids.order]);
    expect(names(await list(`?conversation=${web.id}`))).toEqual([ids.checkoutError, ids.checkout]);
    expect(names(await list(`?user=${encodeURIComponent('+14155550167')}`))).toEqual([ids.refused, ids.order]);
    expect(names(await list('?provider=anthropic'))).toEqual([ids.refused, ids.order]);
    expect(names(await list('?tool=get_order_status&channel=slack'))).toEqual([ids.invalid]);
    expect((await list('?channel=whatsapp')).items).toEqual([]);
  });

  it('filters by time range (from inclusive, to exclusive)', async () => {
    const page = await list(`?from=${at(2).toISOString()}&to=${at(4).toISOString()}`);
    expect(names(page)).toEqual([ids.order, ids.checkoutError]);
  });

  it('searches argument text literally, wildcards included', async () => {
    expect(names(await list('?q=ord_42'))).toEqual([ids.refused, ids.order]);
    expect(names(await list('?q=50%25_off'))).toEqual([ids.checkoutError]);
    expect(names(await list('?q=%25'))).toEqual([ids.checkoutError]);
    expect((await list('?q=ord_4_')).items).toEqual([]);
  });

  it('pages with a cursor without skipping or repeating rows that share a timestamp', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...names(page));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    const all = names(await list('?limit=200'));
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(8);
    expect(seen.slice(0, 3).sort()).toEqual([ids.tieA, ids.tieB, ids.tieC].sort());
  });

  it('rejects bad filters with 400 naming the field', async () => {
    const cases: [string, RegExp][] = [
      ['?status=bogus', /status: unknown status "bogus"/],
      ['?limit=0', /limit/],
      ['?limit=201', /limit/],
      ['?from=yesterday', /from/],
      ['?conversation=not-a-uuid', /conversation/],
      ['?cursor=garbage', /cursor is not valid/],
      ['?colour=red', /colour/],
      // Once answered 500 from PostgreSQL ("invalid byte sequence", "date/time field value out of range").
      ...['tool', 'channel', 'user', 'provider', 'q'].map((field): [string, RegExp] => [`?${field}=a%00b`, new RegExp(`${field}: must not contain NUL`)]),
      ['?from=0000-01-01T00:00:00Z', /from: must be a time between the years 0001 and 9999/],
      ['?to=0000-12-31T23:59:59Z', /to: must be a time between/],
      [`?cursor=${Buffer.from(JSON.stringify({ at: '9999-99-99T99:99:99.999999Z', id: '00000000-0000-4000-8000-000000000000' })).toString('base64url')}`, /cursor is not valid/],
      [`?cursor=${Buffer.from(JSON.stringify({ at: '0000-01-01T00:00:00.000000Z', id: '00000000-0000-4000-8000-000000000000' })).toString('base64url')}`, /cursor is not valid/],
    ];
    for (const [query, message] of cases) {
      const response = await bearer.get(`/api/admin/tool-calls${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.error.code).toBe('invalid_payload');
      expect(response.body.error.message).toMatch(message);
    }
  });
});

describe('GET /api/admin/tool-calls/:id', () => {
  it('shows arguments, result, error, duration, idempotency key, message and reply; emails in full, secrets masked', async () => {
    const { status, body } = await bearer.get(`/api/admin/tool-calls/${ids.checkout}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      id: ids.checkout,
      toolName: 'create_checkout_link',
      status: 'ok',
      durationMs: 321,
      provider: 'openai',
      model: 'gpt-test',
      idempotencyKey: expect.stringMatching(new RegExp(`^${web.id}:call_`)),
      arguments: { amount: 49.99, description: 'Tickets for alice@example.com', card: '[card]', apiKey: '[redacted]' },
      result: { url: 'https://checkout.stripe.com/c/pay/cs_test_1', sessionId: 'cs_test_1' },
      error: null,
      conversation: { id: web.id, channel: 'web', user: 'visitor-7f3a' },
      message: { role: 'user', text: 'Buy 2 tickets for alice@example.com, card [card]' },
      reply: { role: 'assistant', text: 'Here is your link', provider: 'openai', latencyMs: 200 },
    });
    const error = await bearer.get(`/api/admin/tool-calls/${ids.checkoutError}`);
    expect(error.body.error).toBe('Stripe: card declined for +1 415 555 0167');
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    expect((await bearer.get('/api/admin/tool-calls/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const bad = await bearer.get('/api/admin/tool-calls/42');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_payload');
  });
});

describe('tool-call export', () => {
  it('exports the filtered list as CSV, redacted and safe to open in a spreadsheet', async () => {
    const response = await bearer.get('/api/admin/tool-calls/export?format=csv&channel=slack&tool=get_order_status');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(response.headers.get('content-disposition')).toMatch(/attachment; filename="tool-calls-.*\.csv"/);
    const lines = String(response.body).trimEnd().split('\r\n');
    expect(lines[0]).toBe('id,createdAt,completedAt,toolName,status,durationMs,provider,model,channel,user,conversationId,messageId,arguments,error');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(ids.invalid);
    expect(lines[1]).toContain(',a***@example.com,');
    // The argument JSON starts with "{", so it is quoted, never a formula; an error starting with "=" would get a leading apostrophe.
    expect(lines[1]).toContain('"{""orderId"":""=HYPERLINK(\\""http://evil.example\\"")""}"');
  });

  it('exports JSON with the same rows as the list', async () => {
    const response = await bearer.get('/api/admin/tool-calls/export?format=json&provider=anthropic');
    expect(response.status).toBe(200);
    expect(response.body.truncated).toBe(false);
    expect(response.body.items).toEqual((await list('?provider=anthropic')).items);
  });

  it('rejects an unknown format', async () => {
    expect((await bearer.get('/api/admin/tool-calls/export?format=xml')).status).toBe(400);
  });
});

describe('conversations', () => {
  it('lists by last activity with every filter', async () => {
    const ids = async (query: string) => {
      const response = await bearer.get(`/api/admin/conversations${query}`);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body.items.map((item: any) => item.id);
    };
    expect(await ids('')).toEqual([web.id, sms.id, slack.id]);
    expect(await ids('?channel=sms')).toEqual([sms.id]);
    expect(await ids('?user=alice%40example.com')).toEqual([slack.id]);
    expect(await ids('?hasFallback=true')).toEqual([slack.id]);
    expect(await ids('?hasFallback=false')).toEqual([web.id, sms.id]);
    expect(await ids('?hasError=true')).toEqual([web.id, slack.id]);
    expect(await ids('?hasError=false')).toEqual([sms.id]);
    expect(await ids(`?from=${at(15).toISOString()}`)).toEqual([web.id, sms.id]);
    expect(await ids(`?to=${at(15).toISOString()}`)).toEqual([slack.id]);
    const first = await bearer.get('/api/admin/conversations?limit=2');
    expect(first.body.items).toHaveLength(2);
    const second = await bearer.get(`/api/admin/conversations?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items.map((item: any) => item.id)).toEqual([slack.id]);
    expect(second.body.nextCursor).toBeNull();
    const row = first.body.items[1];
    expect(row).toMatchObject({ channel: 'sms', user: '***67', messageCount: 2, toolCallCount: 2, hasFallback: false, hasError: false });
    expect((await bearer.get('/api/admin/conversations?hasError=maybe')).status).toBe(400);
  });

  it('shows a transcript with tool calls inline and cache/fallback flags', async () => {
    const { status, body } = await bearer.get(`/api/admin/conversations/${slack.id}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: slack.id, channel: 'slack', user: 'alice@example.com', hasFallback: true, hasError: true });
    expect(body.messages.map((message: any) => [message.role, message.text, message.fallback])).toEqual([
      ['user', 'help', true],
      ['assistant', 'Sorry, we are busy.', true],
    ]);
    expect(body.messages[0].toolCalls.map((call: any) => call.toolName)).toEqual(['get_order_status', 'lookup', 'lookup', 'lookup']);
    expect(body.messages[1].toolCalls).toEqual([]);
    const cached = await bearer.get(`/api/admin/conversations/${sms.id}`);
    expect(cached.body.messages[0].cached).toBe(true);
    expect((await bearer.get('/api/admin/conversations/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });
});

describe('GET /api/admin/stats', () => {
  it('counts messages per channel and tool calls per tool and status, with rates and latency per provider', async () => {
    const { status, body } = await bearer.get(`/api/admin/stats?from=${base.toISOString()}&to=${at(60).toISOString()}`);
    expect(status).toBe(200);
    expect(body.window).toMatchObject({ bucket: '1 min', bucketSeconds: 60 });
    expect(body.messagesByChannel.sort((a: any, b: any) => a.channel.localeCompare(b.channel))).toEqual([
      { channel: 'slack', count: 1 },
      { channel: 'sms', count: 1 },
      { channel: 'web', count: 1 },
    ]);
    expect(body.toolCalls).toContainEqual({ tool: 'create_checkout_link', status: 'ok', count: 1 });
    expect(body.toolCalls).toContainEqual({ tool: 'create_checkout_link', status: 'error', count: 1 });
    expect(body.toolCalls).toContainEqual({ tool: 'lookup', status: 'ok', count: 3 });
    expect(body.turns.finished).toBe(3);
    expect(body.turns.fallbackRate).toBeCloseTo(1 / 3);
    expect(body.turns.cacheHitRate).toBeCloseTo(1 / 3);
    expect(body.turns.providerFailoverRate).toBeCloseTo(1 / 3);
    expect(body.latencyByProvider).toEqual([
      { provider: 'anthropic', count: 1, p50Ms: 400, p95Ms: 400 },
      { provider: 'none', count: 1, p50Ms: 900, p95Ms: 900 },
      { provider: 'openai', count: 1, p50Ms: 200, p95Ms: 200 },
    ]);
    // An hour is sixty one-minute points (empty minutes as zero), not one block.
    expect(body.series).toHaveLength(60);
    expect([body.series[0].at, body.series[59].at]).toEqual(['2026-03-01T12:00:00.000Z', '2026-03-01T12:59:00.000Z']);
    const total = (key: string) => body.series.reduce((sum: number, point: any) => sum + point[key], 0);
    expect([total('messages'), total('toolCalls'), total('toolErrors')]).toEqual([3, 8, 2]);
    expect(body.series.filter((point: any) => point.messages > 0).map((point: any) => [point.at, point.messages, point.p95LatencyMs])).toEqual([
      ['2026-03-01T12:01:00.000Z', 1, 200],
      ['2026-03-01T12:02:00.000Z', 1, 400],
      ['2026-03-01T12:03:00.000Z', 1, 900],
    ]);
    expect(body.series[0]).toEqual({ at: '2026-03-01T12:00:00.000Z', messages: 0, toolCalls: 0, toolErrors: 0, p95LatencyMs: null });
  });

  it('is empty outside the data and rejects a reversed window', async () => {
    const empty = await bearer.get(`/api/admin/stats?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z`);
    expect(empty.body.turns.finished).toBe(0);
    expect(empty.body.messagesByChannel).toEqual([]);
    const reversed = await bearer.get(`/api/admin/stats?from=${at(60).toISOString()}&to=${base.toISOString()}`);
    expect(reversed.status).toBe(400);
  });
});

describe('GET /api/admin/health', () => {
  it('shows which providers and integrations are configured', async () => {
    const { status, body } = await bearer.get('/api/admin/health');
    expect(status).toBe(200);
    expect(body.providers.map((provider: any) => [provider.name, provider.configured])).toEqual([
      ['anthropic', false],
      ['openai', false],
      ['groq', false],
    ]);
    expect(body.integrations.find((integration: any) => integration.name === 'stripe')).toEqual({ name: 'stripe', configured: false, breaker: null });
    // Each tool says why it is not offered to the model.
    expect(body.tools.find((tool: any) => tool.tool === 'create_checkout_link')).toEqual({
      tool: 'create_checkout_link',
      available: false,
      reason: 'STRIPE_SECRET_KEY is not set',
    });
    expect(body.tools.find((tool: any) => tool.tool === 'book_meeting').reason).toMatch(/GOOGLE/);
  });
});

describe('audit of admin reads', () => {
  it('records who read what, with personal data in filters masked', async () => {
    await bearer.get(`/api/admin/tool-calls?user=${encodeURIComponent('+14155550167')}`);
    await bearer.get(`/api/admin/tool-calls/${ids.order}`);
    const rows = (await db.execute(sql`select actor, action, detail from admin_audit order by created_at`)) as unknown as any[];
    const actions = rows.map((row) => `${row.actor} ${row.action}`);
    expect(actions).toContain('admin-token tool-calls.list');
    expect(actions).toContain('admin-token tool-calls.read');
    expect(actions).toContain(`${EMAIL} login`);
    expect(actions).toContain('target@example.com login.failed');
    expect(rows.find((row) => row.action === 'tool-calls.read' && row.detail.id === ids.order)).toBeDefined();
    expect(rows.some((row) => row.detail?.user === '***67')).toBe(true);
    expect(JSON.stringify(rows)).not.toContain('4155550167');
  });
});

describe('cookies behind HTTPS', () => {
  it('marks the session and CSRF cookies Secure when PUBLIC_URL is https', async () => {
    const https = await startTestApp({ PUBLIC_URL: 'https://admin.example.com' });
    try {
      await createAdmin(https.app.database.db, EMAIL, PASSWORD);
      const csrf = await fetch(`${https.url}/api/admin/csrf`);
      const csrfCookie = csrf.headers.getSetCookie()[0]!;
      expect(csrfCookie).toMatch(/; Secure/);
      expect(csrfCookie).toMatch(/; HttpOnly/);
      const login = await fetch(`${https.url}/api/admin/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: csrfCookie.split(';')[0]!, 'x-csrf-token': (await csrf.json()).csrfToken },
        body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
      });
      expect(login.status).toBe(200);
      const session = login.headers.getSetCookie().find((line) => line.startsWith('sb_admin='))!;
      expect(session).toMatch(/; Secure/);
      expect(session).toMatch(/; HttpOnly/);
      expect(session).toMatch(/; SameSite=Strict/);
    } finally {
      await https.stop();
    }
  });
});
