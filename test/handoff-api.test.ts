import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { io as connect } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdminStore } from '../src/admin/admin-store.js';
import { hashPassword } from '../src/admin/passwords.js';
import { adminAudit, handoffs, messages, toolCalls, type AdminRole } from '../src/store/schema.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { AdminClient } from './helpers/admin-client.js';
import { listMessages } from './helpers/store-queries.js';
import { connectClient, type ClientSocket, type RunningApp, startTestApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Human handoff through the real server, the web channel (socket.io client), the real OpenAI
 * SDK against the local fake and PostgreSQL: every way in, the operators' actions and their
 * conflicts, roles, bad input, release back to the agent, and the wait notice.
 */

const ADMIN_TOKEN = 'handoff-admin-token-0123456789abcdef';
const PASSWORD = 'correct horse battery staple';

let openai: FakeProviderServer;
let server: RunningApp;
let admin: AdminClient;
const sockets: ClientSocket[] = [];

/** A web visitor who records everything the server sends them. */
async function visitor(url = server.url) {
  const { socket, session } = await connectClient(url);
  sockets.push(socket);
  const dones: any[] = [];
  const states: any[] = [];
  socket.on('reply.done', (payload) => dones.push(payload));
  socket.on('handoff', (payload) => states.push(payload));
  return {
    socket,
    conversationId: session.conversationId,
    token: session.token,
    dones,
    states,
    async send(text: string) {
      const ack = await socket.timeout(5000).emitWithAck('message', { text, clientMessageId: randomUUID() });
      expect(ack.ok, JSON.stringify(ack)).toBe(true);
      return ack.messageId as string;
    },
  };
}

async function account(email: string, role: AdminRole, name: string): Promise<AdminClient> {
  await new AdminStore(server.app.database.db).createUser(email, await hashPassword(PASSWORD), { role, name });
  return AdminClient.session(server.url, email, PASSWORD);
}

const askForHuman = (reason = 'wants a refund for order 42') => openai.push({ toolCalls: [{ name: 'request_human', arguments: { reason } }] });

beforeAll(async () => {
  openai = await startFakeOpenAIServer();
  server = await startTestApp({
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: openai.url,
    LLM_PROVIDERS: 'openai',
    LLM_RETRIES: '0',
    ADMIN_TOKEN,
    HANDOFF_KEYWORDS: 'human,humano',
    HANDOFF_NOTICE: 'A person will join shortly.',
    FALLBACK_REPLY: 'Sorry, we are having trouble.',
  });
  admin = AdminClient.bearer(server.url, ADMIN_TOKEN);
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  openai.reset();
});
afterAll(async () => {
  await server?.stop();
  await openai?.close();
});

describe('ways into a handoff', () => {
  it('request_human: the turn ends with the notice, the conversation waits for a person, the visitor sees it', async () => {
    const person = await visitor();
    askForHuman();
    const messageId = await person.send('I want to talk to someone about my refund');
    await waitFor(() => person.dones.length > 0, 'the turn reply');

    // One model call: the tool ends the turn, no second step asks the model what to say.
    expect(openai.requests).toHaveLength(1);
    expect(openai.requests[0]!.body.tools.map((tool: any) => tool.function.name)).toContain('request_human');
    expect(person.dones[0]).toMatchObject({ messageId, text: 'A person will join shortly.', author: 'agent', toolCalls: [{ name: 'request_human', status: 'ok' }] });
    expect(person.states).toEqual([{ status: 'waiting' }]);

    const [call] = await server.app.database.db.select().from(toolCalls).where(eq(toolCalls.messageId, messageId));
    expect(call).toMatchObject({ toolName: 'request_human', status: 'ok' });
    const inbox = await admin.get('/api/admin/handoffs?status=waiting');
    const item = inbox.body.items.find((entry: any) => entry.conversationId === person.conversationId);
    expect(item).toMatchObject({ channel: 'web', status: 'waiting', reason: 'requested', summary: 'wants a refund for order 42', operator: null });
    expect(item.waitingMs).toBeGreaterThanOrEqual(0);
    expect((await server.app.store.conversations.getConversation(person.conversationId))!.mode).toBe('human');
  });

  it('a keyword message waits for a person with no model call, and the person is told once', async () => {
    const person = await visitor();
    const messageId = await person.send('  Humano! ');
    await waitFor(() => person.dones.length > 0, 'the notice');
    expect(openai.requests).toHaveLength(0);
    expect(person.dones).toEqual([expect.objectContaining({ text: 'A person will join shortly.', author: 'system' })]);
    expect(person.states).toEqual([{ status: 'waiting' }]);
    expect((await server.app.store.messages.getMessage(messageId))!.status).toBe('human');
    const [handoff] = await server.app.database.db.select().from(handoffs).where(eq(handoffs.conversationId, person.conversationId));
    expect(handoff).toMatchObject({ status: 'waiting', reason: 'keyword', messageId });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_handoffs_total\{change="requested",reason="keyword",channel="web"\} [1-9]/);

    // Saying it again changes nothing: the handoff is already open, no second notice.
    await person.send('human');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(person.dones).toHaveLength(1);
    expect(openai.requests).toHaveLength(0);
  });

  it('a fallback reply hands the conversation over, and its pending follow-up is dropped', async () => {
    const person = await visitor();
    openai.setResponder(() => ({ error: { status: 500 } }));
    const messageId = await person.send('are you there?');
    await waitFor(() => person.dones.length >= 2, 'the fallback reply and the notice');
    expect(person.dones.map((done) => [done.text, done.author, done.fallback])).toEqual([
      ['Sorry, we are having trouble.', 'agent', true],
      ['A person will join shortly.', 'system', false],
    ]);
    const [handoff] = await server.app.database.db.select().from(handoffs).where(eq(handoffs.conversationId, person.conversationId));
    expect(handoff).toMatchObject({ status: 'waiting', reason: 'fallback', messageId });
    // The provider coming back must not answer over the person who will.
    expect((await server.app.store.messages.getMessage(messageId))!.followUp).toBe('skipped');
  });
});

describe('operators', () => {
  it('take over, reply in the visitor channel, hold the agent off, and release with the whole history', async () => {
    const sam = await account('sam@example.com', 'operator', 'Sam');
    const person = await visitor();
    askForHuman();
    await person.send('get me a human please');
    await waitFor(() => person.dones.length > 0, 'the notice');

    const takeover = await sam.post(`/api/admin/conversations/${person.conversationId}/takeover`);
    expect(takeover.status, JSON.stringify(takeover.body)).toBe(200);
    expect(takeover.body).toMatchObject({ status: 'active', operator: 'Sam' });
    await waitFor(() => person.states.length >= 2, 'the active state');
    expect(person.states.at(-1)).toEqual({ status: 'active', operatorName: 'Sam' });

    const reply = await sam.post(`/api/admin/conversations/${person.conversationId}/messages`, { text: 'Hi, Sam here. Which order?' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body).toEqual({ messageId: expect.any(String), delivery: 'sent' });
    const operatorDone = await waitFor(() => person.dones.find((done) => done.messageId === reply.body.messageId), 'the operator reply');
    expect(operatorDone).toMatchObject({ text: 'Hi, Sam here. Which order?', author: 'operator', operatorName: 'Sam', fallback: false });

    // The console retrying after a lost answer (same clientMessageId): stored and sent once.
    const once = { text: 'Checking that for you now.', clientMessageId: 'draft-7f3a' };
    const firstTry = await sam.post(`/api/admin/conversations/${person.conversationId}/messages`, once);
    const retry = await sam.post(`/api/admin/conversations/${person.conversationId}/messages`, once);
    expect(firstTry.body).toEqual({ messageId: expect.any(String), delivery: 'sent' });
    expect(retry.body).toEqual({ messageId: firstTry.body.messageId, delivery: 'duplicate' });
    await waitFor(() => person.dones.find((done) => done.messageId === firstTry.body.messageId), 'the reply sent once');
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(person.dones.filter((done) => done.text === once.text)).toHaveLength(1);
    expect((await listMessages(server.app.database.db, person.conversationId)).filter((row) => row.text === once.text)).toHaveLength(1);
    expect((await sam.post(`/api/admin/conversations/${person.conversationId}/messages`, { text: 'x', clientMessageId: 'bad id!' })).status).toBe(400);

    // While a person holds it: stored, never answered by the agent.
    const requestsBefore = openai.requests.length;
    const held = await person.send('Order 42, the blue one');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(openai.requests).toHaveLength(requestsBefore);
    expect((await server.app.store.messages.getMessage(held))!.status).toBe('human');
    expect(person.dones.filter((done) => done.messageId === held)).toEqual([]);

    // A note is for operators only.
    const dones = person.dones.length;
    const note = await sam.post(`/api/admin/conversations/${person.conversationId}/notes`, { text: 'Refund approved by finance' });
    expect(note.status).toBe(200);
    const detail = await sam.get(`/api/admin/conversations/${person.conversationId}`);
    expect(detail.body).toMatchObject({ mode: 'human', handoff: { status: 'active', operatorName: 'Sam', reason: 'requested' } });
    expect(detail.body.notes).toEqual([expect.objectContaining({ author: 'sam@example.com', text: 'Refund approved by finance' })]);
    expect(detail.body.messages.find((message: any) => message.id === reply.body.messageId)).toMatchObject({ author: 'operator', authorName: 'Sam' });
    expect(person.dones).toHaveLength(dones);

    const release = await sam.post(`/api/admin/conversations/${person.conversationId}/release`);
    expect(release.status).toBe(200);
    expect(release.body).toMatchObject({ status: 'released' });
    await waitFor(() => person.states.at(-1)?.status === 'released', 'the released state');

    // Back with the agent: its next turn sees the operator's reply as an assistant turn.
    const next = await person.send('thanks, anything else I need to do?');
    await waitFor(() => person.dones.find((done) => done.messageId === next), 'the agent reply');
    const history = openai.requests.at(-1)!.body.messages as { role: string; content: string }[];
    expect(history).toContainEqual(expect.objectContaining({ role: 'assistant', content: 'Hi, Sam here. Which order?' }));
    expect(history).toContainEqual(expect.objectContaining({ role: 'user', content: 'Order 42, the blue one' }));

    const actions = await server.app.database.db.select().from(adminAudit).where(eq(adminAudit.actor, 'sam@example.com'));
    expect(actions.map((row) => row.action)).toEqual(expect.arrayContaining(['handoff.takeover', 'handoff.reply', 'handoff.note', 'handoff.release']));
  });

  it('a takeover while the agent is answering: the agent\'s answer is taken back and never sent', async () => {
    const person = await visitor();
    const discards: string[] = [];
    person.socket.on('reply.discard', (payload) => discards.push(payload.messageId));
    const deltas: string[] = [];
    person.socket.on('reply.delta', (payload) => deltas.push(payload.delta));
    openai.push({ text: 'Let me think about that for a long while…', chunkSize: 4, interChunkDelayMs: 80 });
    const messageId = await person.send('what do you think?');
    await waitFor(() => deltas.length > 0, 'the first streamed text');

    expect((await admin.post(`/api/admin/conversations/${person.conversationId}/takeover`)).status).toBe(200);
    await waitFor(() => discards.includes(messageId), 'the streamed text taken back');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(person.dones.filter((done) => done.messageId === messageId)).toEqual([]);
    expect(person.dones.map((done) => done.author)).toEqual(['system']); // the joined notice only
    expect((await server.app.store.messages.getMessage(messageId))!.status).toBe('human');
    const rows = await listMessages(server.app.database.db, person.conversationId);
    expect(rows.filter((row) => row.replyToId === messageId)).toEqual([]);
  });

  it('two operators taking over at once: exactly one wins, the other gets 409', async () => {
    const [ana, ben] = await Promise.all([account('ana@example.com', 'operator', 'Ana'), account('ben@example.com', 'operator', 'Ben')]);
    for (const fromState of ['agent', 'waiting'] as const) {
      const person = await visitor();
      if (fromState === 'waiting') {
        await person.send('human');
        await waitFor(() => person.dones.length > 0, 'the notice');
      } else {
        await person.send('hello');
        await waitFor(() => person.dones.length > 0, 'the agent reply');
      }
      const path = `/api/admin/conversations/${person.conversationId}/takeover`;
      const results = await Promise.all([ana.post(path), ben.post(path)]);
      expect(results.map((result) => result.status).sort(), fromState).toEqual([200, 409]);
      expect(results.find((result) => result.status === 409)!.body.error.code).toBe('already_taken');
      const open = await server.app.database.db
        .select()
        .from(handoffs)
        .where(and(eq(handoffs.conversationId, person.conversationId), eq(handoffs.status, 'active')));
      expect(open).toHaveLength(1);
      // The loser cannot reply over the winner.
      const loser = results[0]!.status === 409 ? ana : ben;
      const refused = await loser.post(`/api/admin/conversations/${person.conversationId}/messages`, { text: 'me too' });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('not_held');
      // Taking it over again when you already hold it is not an error.
      const winner = loser === ana ? ben : ana;
      expect((await winner.post(path)).status).toBe(200);
    }
  });

  it('a viewer reads the inbox but cannot act (403); an admin can reply to any human conversation', async () => {
    const viewer = await account('vi@example.com', 'viewer', 'Vi');
    const person = await visitor();
    await person.send('human');
    await waitFor(() => person.dones.length > 0, 'the notice');
    expect((await viewer.get('/api/admin/handoffs')).status).toBe(200);
    for (const action of ['takeover', 'messages', 'release', 'notes']) {
      const refused = await viewer.post(`/api/admin/conversations/${person.conversationId}/${action}`, action === 'messages' || action === 'notes' ? { text: 'hi' } : {});
      expect(refused.status, action).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
    }
    expect((await viewer.get('/api/admin/accounts')).status).toBe(403);

    // ADMIN_TOKEN acts as admin: it may reply while the handoff waits, and is shown as "Support".
    const reply = await admin.post(`/api/admin/conversations/${person.conversationId}/messages`, { text: 'Support here' });
    expect(reply.status).toBe(200);
    await waitFor(() => person.dones.find((done) => done.text === 'Support here'), 'the admin reply');
    expect(person.dones.at(-1)).toMatchObject({ author: 'operator', operatorName: 'Support' });

    // Admins manage accounts: a role change ends the account's sessions, so it applies at once.
    const accounts = await admin.get('/api/admin/accounts');
    const vi = accounts.body.items.find((item: any) => item.email === 'vi@example.com');
    expect(vi).toMatchObject({ role: 'viewer', name: 'Vi' });
    expect(JSON.stringify(accounts.body)).not.toContain('argon2');
    expect((await admin.request('PATCH', `/api/admin/accounts/${vi.id}`, { role: 'operator' })).status).toBe(200);
    expect((await viewer.get('/api/admin/me')).status).toBe(401);
  });

  it('refuses bad operator input precisely and stores nothing half-way', async () => {
    const person = await visitor();
    await person.send('hello there');
    await waitFor(() => person.dones.length > 0, 'the agent reply');
    const base = `/api/admin/conversations/${person.conversationId}`;
    const count = async () => (await listMessages(server.app.database.db, person.conversationId)).length;
    const before = await count();

    // Still with the agent: replying needs a takeover first.
    const early = await admin.post(`${base}/messages`, { text: 'hello' });
    expect([early.status, early.body.error.code]).toEqual([409, 'not_in_human_mode']);
    expect((await admin.post(`${base}/release`)).body.error.code).toBe('not_in_human_mode');

    expect((await admin.post(`${base}/takeover`)).status).toBe(200);
    const cases: [unknown, number, string][] = [
      [{ text: '   ' }, 400, 'empty_message'],
      [{ text: 'x'.repeat(server.config.MAX_MESSAGE_CHARS + 1) }, 413, 'message_too_long'],
      [{ text: 42 }, 400, 'invalid_payload'],
      [{}, 400, 'invalid_payload'],
      [{ text: 'hi', extra: true }, 400, 'invalid_payload'],
    ];
    for (const [body, status, code] of cases) {
      const response = await admin.post(`${base}/messages`, body);
      expect([response.status, response.body.error?.code], JSON.stringify(body).slice(0, 40)).toEqual([status, code]);
      const note = await admin.post(`${base}/notes`, body);
      expect(note.status, `note ${JSON.stringify(body).slice(0, 40)}`).toBe(status);
    }
    expect(await count()).toBe(before + 1); // the takeover's notice, nothing else

    const unknown = await admin.post(`/api/admin/conversations/${randomUUID()}/takeover`);
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'not_found']);
    expect((await admin.post('/api/admin/conversations/not-a-uuid/takeover')).status).toBe(400);

    expect((await admin.post(`${base}/release`)).status).toBe(200);
    const afterRelease = await admin.post(`${base}/messages`, { text: 'still there?' });
    expect([afterRelease.status, afterRelease.body.error.code]).toEqual([409, 'not_in_human_mode']);
    expect(await count()).toBe(before + 1);
    const rows = await server.app.database.db.select().from(messages).where(eq(messages.author, 'operator'));
    expect(rows.filter((row) => row.conversationId === person.conversationId)).toEqual([]);
  });

  it('a visitor who comes back while a person holds the conversation is shown the handoff state', async () => {
    const person = await visitor();
    await person.send('human');
    await waitFor(() => person.dones.length > 0, 'the notice');
    expect((await admin.post(`/api/admin/conversations/${person.conversationId}/takeover`)).status).toBe(200);
    person.socket.disconnect();

    // Listening before the handshake: the state is sent with the session, straight to this socket.
    const states: any[] = [];
    const back = connect(server.url, { auth: { token: person.token }, transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(back);
    back.on('handoff', (state) => states.push(state));
    const session = await new Promise<any>((resolve) => back.once('session', resolve));
    expect(session.conversationId).toBe(person.conversationId);
    await waitFor(() => states.length > 0, 'the handoff state');
    expect(states).toEqual([{ status: 'active', operatorName: 'Support' }]);
  });
});

describe('a visitor who was away', () => {
  it('gets the replies stored since the newest one they hold, once, in order; nothing for an id they already hold or of another conversation', async () => {
    const person = await visitor();
    await person.send('hello');
    await waitFor(() => person.dones.length > 0, 'the agent reply');
    // A turn's reply is known by the user message it answers.
    const held = person.dones[0]!.messageId as string;
    const base = `/api/admin/conversations/${person.conversationId}`;
    person.socket.disconnect();
    expect((await admin.post(`${base}/takeover`)).status).toBe(200);
    const first = await admin.post(`${base}/messages`, { text: 'Are you still there?' });
    const second = await admin.post(`${base}/messages`, { text: 'I will email you the label.' });

    const reconnect = async (auth: Record<string, unknown>) => {
      const socket = connect(server.url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
      sockets.push(socket);
      const dones: any[] = [];
      socket.on('reply.done', (payload) => dones.push(payload));
      await new Promise((resolve) => socket.once('session', resolve));
      await new Promise((resolve) => setTimeout(resolve, 300));
      socket.disconnect();
      return dones;
    };
    const missed = await reconnect({ token: person.token, after: held });
    expect(missed.map((done) => [done.text, done.author, done.operatorName])).toEqual([
      ['Support from our team has joined the conversation.', 'system', undefined],
      ['Are you still there?', 'operator', 'Support'],
      ['I will email you the label.', 'operator', 'Support'],
    ]);
    expect(missed.slice(1).map((done) => done.messageId)).toEqual([first.body.messageId, second.body.messageId]);
    expect(await reconnect({ token: person.token, after: second.body.messageId })).toEqual([]);
    expect(await reconnect({ token: person.token })).toEqual([]);
    const other = await visitor();
    await other.send('hello');
    await waitFor(() => other.dones.length > 0, 'the other reply');
    expect(await reconnect({ token: person.token, after: other.dones[0]!.messageId })).toEqual([]);
  });
});

describe('the wait notice', () => {
  /** A server whose handoffs get the wait notice after one second, with the given working days. */
  async function serverWith(env: Record<string, string>) {
    return startTestApp({ HANDOFF_KEYWORDS: 'human', HANDOFF_WAIT_NOTICE_S: '1', WORKING_TIME_ZONE: 'UTC', ...env });
  }

  it('tells a person nobody has claimed once that everyone is busy, and outside working hours when people are back', async () => {
    const today = new Date().getUTCDay(); // 0 = Sunday
    const names = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    const open = await serverWith({ WORKING_HOURS: '00:00-24:00', WORKING_DAYS: names.join(','), HANDOFF_BUSY_NOTICE: 'Everyone is busy.' });
    // Only tomorrow is a working day: people are back tomorrow at 09:00.
    const closed = await serverWith({ WORKING_HOURS: '09:00-17:00', WORKING_DAYS: names[(today + 1) % 7]!, HANDOFF_CLOSED_NOTICE: 'We are away; back {back}.' });
    try {
      for (const [running, expected] of [
        [open, 'Everyone is busy.'],
        [closed, 'We are away; back tomorrow at 09:00 (UTC).'],
      ] as const) {
        const person = await visitor(running.url);
        await person.send('human');
        await waitFor(() => person.dones.length >= 2, 'the wait notice', 6000);
        expect(person.dones.map((done) => [done.text, done.author])).toEqual([
          [running.config.HANDOFF_NOTICE, 'system'],
          [expected, 'system'],
        ]);
        // Once: later sweeps send nothing more.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expect(person.dones).toHaveLength(2);
      }
    } finally {
      await Promise.all([open.stop(), closed.stop()]);
    }
  });

  it('is not sent once an operator has claimed the conversation', async () => {
    const running = await serverWith({ WORKING_HOURS: '00:00-24:00', WORKING_DAYS: 'sun,mon,tue,wed,thu,fri,sat', ADMIN_TOKEN });
    try {
      const person = await visitor(running.url);
      await person.send('human');
      await waitFor(() => person.dones.length >= 1, 'the notice');
      expect((await AdminClient.bearer(running.url, ADMIN_TOKEN).post(`/api/admin/conversations/${person.conversationId}/takeover`)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(person.dones).toHaveLength(1);
    } finally {
      await running.stop();
    }
  });
});

describe('request_human and the channel tool policy', () => {
  it('is offered on a channel whose TOOL_CHANNEL_POLICY lists no tools, and not at all with HANDOFF_ENABLED=false', async () => {
    const locked = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', TOOL_CHANNEL_POLICY: 'web=' });
    const off = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', HANDOFF_ENABLED: 'false' });
    try {
      const offered = async (running: RunningApp) => {
        const person = await visitor(running.url);
        await person.send('hello');
        await waitFor(() => person.dones.length > 0, 'the reply');
        return (openai.requests.at(-1)!.body.tools ?? []).map((tool: any) => tool.function.name);
      };
      expect(await offered(locked)).toEqual(['request_human']);
      expect(await offered(off)).toEqual([]);
    } finally {
      await Promise.all([locked.stop(), off.stop()]);
    }
  });
});
