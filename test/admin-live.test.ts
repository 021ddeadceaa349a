import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../src/observability/logger.js';
import { defineTool } from '../src/tools/tool.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { createAdmin } from './helpers/admin-seed.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * The admin live feed (socket.io namespace `/admin`), Prometheus metrics and log
 * redaction, driven by real turns: the web channel, the real OpenAI SDK against
 * the local fake, a real tool and PostgreSQL.
 */

const ADMIN_TOKEN = 'live-feed-admin-token-0123456789';
const lookupTool = defineTool({
  name: 'lookup_customer',
  description: 'Looks a customer up by email.',
  input: z.object({ email: z.string(), note: z.string().optional() }).strict(),
  async execute({ email }) {
    return { email, plan: 'pro' };
  },
});

const logLines: any[] = [];
const logStream = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
    done();
  },
});

let provider: FakeProviderServer;
let server: RunningApp;
const sockets: Socket[] = [];

function adminSocket(options: { token?: string; cookie?: string }): Promise<Socket> {
  const socket = connect(`${server.url}/admin`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: options.token ? { token: options.token } : {},
    extraHeaders: options.cookie ? { cookie: options.cookie } : {},
  });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

const nextEvent = <T>(socket: Socket, event: string, timeoutMs = 5000) =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event, (payload: T) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });

beforeAll(async () => {
  provider = await startFakeOpenAIServer();
  server = await startTestApp(
    { ADMIN_TOKEN, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: provider.url, LLM_PROVIDERS: 'openai', LOG_LEVEL: 'info' },
    { extraTools: [lookupTool], logger: createLogger({ level: 'info', destination: logStream }) },
  );
  await createAdmin(server.app.database.db, 'ops@example.com', 'correct horse battery staple');
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await server?.stop();
  await provider?.close();
});

describe('admin live feed', () => {
  it('refuses a handshake without valid credentials with err.data.code = unauthorized', async () => {
    for (const options of [{}, { token: 'wrong-token' }, { cookie: 'sb_admin=forged' }]) {
      const error = await adminSocket(options).then(
        () => undefined,
        (failure: Error & { data?: { code: string } }) => failure,
      );
      expect(error?.message).toBe('unauthorized');
      expect(error?.data).toEqual({ code: 'unauthorized' });
    }
  });

  it('pushes each finished tool call (redacted, in the list shape) and turn to token and cookie sessions', async () => {
    const byToken = await adminSocket({ token: ADMIN_TOKEN });
    const csrf = await fetch(`${server.url}/api/admin/csrf`);
    const csrfCookie = csrf.headers.getSetCookie()[0]!.split(';')[0]!;
    const login = await fetch(`${server.url}/api/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: csrfCookie, 'x-csrf-token': (await csrf.json()).csrfToken },
      body: JSON.stringify({ email: 'ops@example.com', password: 'correct horse battery staple' }),
    });
    expect(login.status).toBe(200);
    const sessionCookie = login.headers.getSetCookie().find((line) => line.startsWith('sb_admin='))!.split(';')[0]!;
    const byCookie = await adminSocket({ cookie: sessionCookie });

    const { socket: visitor, session } = await connectClient(server.url);
    sockets.push(visitor);
    provider.push(
      { toolCalls: [{ id: 'call_live1', name: 'lookup_customer', arguments: { email: 'bob@example.org', note: 'card 4000 0566 5566 5556' } }] },
      { text: 'Bob is on the pro plan.' },
    );
    const tokenEvent = nextEvent<any>(byToken, 'tool-call');
    const cookieEvent = nextEvent<any>(byCookie, 'tool-call');
    const turnEvent = nextEvent<any>(byToken, 'turn');
    const { reply } = await sendAndCollect(visitor, 'what plan is bob@example.org on?');
    expect(reply.done.text).toBe('Bob is on the pro plan.');

    const item = await tokenEvent;
    expect(item).toMatchObject({
      toolName: 'lookup_customer',
      status: 'ok',
      channel: 'web',
      conversationId: session.conversationId,
      provider: 'openai',
      arguments: { email: 'b***@example.org', note: 'card [card]' },
    });
    expect(await cookieEvent).toEqual(item);
    const listed = await fetch(`${server.url}/api/admin/tool-calls?limit=1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect((await listed.json()).items[0]).toEqual(item);
    expect(await turnEvent).toMatchObject({ conversationId: session.conversationId, channel: 'web', status: 'answered', provider: 'openai', fallback: false });

    // Watching the feed is an admin read too.
    const audit = (await server.app.database.db.execute(
      sql`select actor, action from admin_audit where action = 'live-feed.subscribe' order by created_at`,
    )) as unknown as { actor: string; action: string }[];
    expect(audit.map((row) => row.actor)).toEqual(['admin-token', 'ops@example.com']);
  });

  it('counts messages, turns, tool calls and durations in /metrics', async () => {
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/switchboard_messages_total\{channel="web",outcome="accepted"\} 1/);
    expect(text).toMatch(/switchboard_messages_total\{channel="web",outcome="answered"\} 1/);
    expect(text).toMatch(/switchboard_tool_calls_total\{tool="lookup_customer",status="ok"\} 1/);
    expect(text).toMatch(/switchboard_tool_call_duration_seconds_count\{tool="lookup_customer"\} 1/);
    expect(text).toMatch(/switchboard_turn_duration_seconds_count\{provider="openai"\} 1/);
    expect(text).toMatch(/# TYPE switchboard_fallbacks_total counter/);
    expect(text).toMatch(/# TYPE switchboard_cache_hits_total counter/);
    expect(text).toMatch(/# TYPE switchboard_breaker_state gauge/);
    expect(text).toMatch(/# TYPE switchboard_queue_depth gauge/);
    expect(text).not.toMatch(/bob@example/);
  });

  it('closes the feed of a session at logout', async () => {
    const csrf = await fetch(`${server.url}/api/admin/csrf`);
    const csrfCookie = csrf.headers.getSetCookie()[0]!.split(';')[0]!;
    const csrfToken = (await csrf.json()).csrfToken;
    const login = await fetch(`${server.url}/api/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: csrfCookie, 'x-csrf-token': csrfToken },
      body: JSON.stringify({ email: 'ops@example.com', password: 'correct horse battery staple' }),
    });
    const sessionCookie = login.headers.getSetCookie().find((line) => line.startsWith('sb_admin='))!.split(';')[0]!;
    const socket = await adminSocket({ cookie: sessionCookie });
    const closed = nextEvent<string>(socket, 'disconnect');
    const logout = await fetch(`${server.url}/api/admin/logout`, {
      method: 'POST',
      headers: { cookie: `${csrfCookie}; ${sessionCookie}`, 'x-csrf-token': csrfToken },
    });
    expect(logout.status).toBe(200);
    expect(await closed).toBe('io server disconnect');
  });

  it('keeps emails, card numbers and keys out of the logs', async () => {
    server.app.logger.info({ detail: { contact: 'bob@example.org', pan: '4000 0566 5566 5556', header: 'Bearer abcdefghijkl123' } }, 'log redaction probe');
    const probe = logLines.find((line) => line.msg === 'log redaction probe');
    expect(probe.detail).toEqual({ contact: 'b***@example.org', pan: '[card]', header: '[redacted]' });
    expect(JSON.stringify(logLines)).not.toMatch(/bob@example\.org|4000 0566 5566 5556|sk-test/);
  });
});
