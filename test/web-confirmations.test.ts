import { eq } from 'drizzle-orm';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_HUBSPOT_TOKEN, startFakeHubSpotServer, type FakeHubSpotServer } from './fakes/fake-hubspot-server.js';
import { sendAndCollect, type ClientSocket, startTestApp, type RunningApp } from './helpers/test-app.js';
import { toolCalls } from '../src/store/schema.js';
import { listMessages, listToolCalls } from './helpers/store-queries.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Confirmations on the web channel across reconnects, and answered in words: a pending
 * confirmation is sent again when the visitor comes back, one the client still shows as
 * waiting is resolved if it was decided meanwhile, and a typed YES / NO answers it as on SMS.
 * Real server, PostgreSQL and socket.io client; the model and HubSpot are wire-format fakes.
 */
describe('web confirmations across reconnects and in words', () => {
  let openai: FakeProviderServer;
  let hubspot: FakeHubSpotServer;
  let server: RunningApp;
  const sockets: ClientSocket[] = [];

  beforeAll(async () => {
    [openai, hubspot] = await Promise.all([startFakeOpenAIServer(), startFakeHubSpotServer()]);
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      HUBSPOT_ACCESS_TOKEN: FAKE_HUBSPOT_TOKEN,
      HUBSPOT_API_URL: hubspot.url,
      SENSITIVE_TOOLS: 'create_crm_lead',
    });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    await server?.stop();
    await Promise.all([openai?.close(), hubspot?.close()]);
  });
  beforeEach(() => {
    openai.reset();
    hubspot.reset();
  });

  /** Connects with `auth`, listening before the handshake: what is sent right after `session` is not missed. */
  const connect = async (auth: Record<string, unknown> = {}) => {
    const socket = io(server.url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(socket);
    const requests: any[] = [];
    const resolved: any[] = [];
    const replies: any[] = [];
    socket.on('confirmation.request', (payload) => requests.push(payload));
    socket.on('confirmation.resolved', (payload) => resolved.push(payload));
    socket.on('reply.done', (payload) => replies.push(payload));
    const session = await new Promise<{ conversationId: string; token: string }>((resolve, reject) => {
      socket.once('session', resolve);
      socket.once('connect_error', reject);
    });
    return { socket, session, requests, resolved, replies };
  };

  /** A turn that asks to save a lead: the call waits for the person. */
  const askForLead = async (socket: ClientSocket, email: string) => {
    openai.push({ toolCalls: [{ id: `lead_${email}`, name: 'create_crm_lead', arguments: { email } }] }, { text: 'Please confirm: reply YES or NO.' });
    const { ack, reply } = await sendAndCollect(socket, `save ${email}`);
    expect(reply.done.toolCalls).toEqual([{ name: 'create_crm_lead', status: 'pending' }]);
    return ack.messageId as string;
  };

  it('sends a pending confirmation again when the visitor comes back, and nothing when none is pending', async () => {
    const first = await connect();
    const messageId = await askForLead(first.socket, 'ada@example.test');
    await waitFor(() => first.requests.length === 1, 'the first confirmation.request');
    const [request] = first.requests;
    first.socket.disconnect();

    // A reload: the same token, holding the newest reply (nothing was missed).
    const back = await connect({ token: first.session.token, after: messageId });
    expect(back.session.conversationId).toBe(first.session.conversationId);
    await waitFor(() => back.requests.length === 1, 'the confirmation sent again on reconnect');
    expect(back.requests[0]).toEqual(request);
    expect(back.resolved).toEqual([]);
    expect(back.replies).toEqual([]);

    // The buttons still work on the new connection.
    const ack = await back.socket.emitWithAck('confirmation.answer', { confirmationId: request.confirmationId, decision: 'confirm' });
    expect(ack).toEqual({ ok: true, status: 'ok', alreadyAnswered: false });
    expect(hubspot.contacts).toHaveLength(1);
    back.socket.disconnect();

    // Nothing pending any more: a later visit is not asked again.
    const later = await connect({ token: first.session.token });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(later.requests).toEqual([]);
    later.socket.disconnect();
  });

  it('resolves a confirmation the client still shows as waiting when it was decided while the visitor was away', async () => {
    const first = await connect();
    const messageId = await askForLead(first.socket, 'bo@example.test');
    await waitFor(() => first.requests.length === 1, 'the confirmation.request');
    const { confirmationId } = first.requests[0];
    first.socket.disconnect();

    // Declined elsewhere (another tab, an operator's channel) while this client was gone.
    await server.app.confirmations.answer(first.session.conversationId, confirmationId, 'decline');

    const back = await connect({ token: first.session.token, after: messageId, confirmations: [confirmationId] });
    await waitFor(() => back.resolved.length === 1, 'the resolution sent on reconnect');
    expect(back.resolved).toEqual([{ confirmationId, status: 'declined' }]);
    expect(back.requests).toEqual([]);
    // The outcome message itself arrives as a missed reply.
    await waitFor(() => back.replies.length === 1, 'the missed outcome');
    expect(back.replies[0].text).toMatch(/^Cancelled: Save bo@example.test/);
    back.socket.disconnect();
  });

  it('reports a pending confirmation past its expiry as expired, not as a question', async () => {
    const first = await connect();
    const messageId = await askForLead(first.socket, 'fay@example.test');
    await waitFor(() => first.requests.length === 1, 'the confirmation.request');
    const { confirmationId } = first.requests[0];
    first.socket.disconnect();
    // Overdue, and the sweep has not run yet.
    await server.app.database.db.update(toolCalls).set({ confirmationExpiresAt: new Date(Date.now() - 1000) }).where(eq(toolCalls.id, confirmationId));

    const back = await connect({ token: first.session.token, after: messageId, confirmations: [confirmationId] });
    await waitFor(() => back.resolved.length === 1, 'the resolution sent on reconnect');
    expect(back.resolved).toEqual([{ confirmationId, status: 'expired' }]);
    expect(back.requests).toEqual([]);
    back.socket.disconnect();
  });

  it('tells nothing about confirmations of another conversation named in the handshake', async () => {
    const owner = await connect();
    await askForLead(owner.socket, 'cy@example.test');
    await waitFor(() => owner.requests.length === 1, 'the confirmation.request');
    const { confirmationId } = owner.requests[0];

    const stranger = await connect();
    await sendAndCollect(stranger.socket, 'hello');
    stranger.socket.disconnect();
    const sneaky = await connect({ token: stranger.session.token, confirmations: [confirmationId, 'not-a-uuid'] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sneaky.requests).toEqual([]);
    expect(sneaky.resolved).toEqual([]);
    // A malformed list is ignored, not an error: the visitor still gets a session.
    const junk = await connect({ token: stranger.session.token, confirmations: 'all' });
    expect(junk.session.conversationId).toBe(stranger.session.conversationId);
    owner.socket.disconnect();
  });

  it('a typed YES confirms the newest pending call without a model turn; the outcome arrives as a reply', async () => {
    const visitor = await connect();
    await askForLead(visitor.socket, 'di@example.test');
    await waitFor(() => visitor.requests.length === 1, 'the confirmation.request');
    const { confirmationId } = visitor.requests[0];
    const modelCalls = openai.requests.length;

    const ack = await visitor.socket.timeout(10_000).emitWithAck('message', { text: ' yes! ', clientMessageId: 'typed-yes-1' });
    expect(ack).toEqual({ ok: true, confirmation: { confirmationId, status: expect.stringMatching(/^(running|ok)$/), alreadyAnswered: false } });
    await waitFor(() => visitor.resolved.some((event) => event.status === 'ok'), 'the resolution');
    expect(visitor.resolved.at(-1)).toEqual({ confirmationId, status: 'ok' });
    await waitFor(() => visitor.replies.some((reply) => reply.text === 'Saved di@example.test in the CRM.'), 'the outcome reply');
    expect(hubspot.contacts.map((contact) => contact.properties.email)).toEqual(['di@example.test']);
    expect(openai.requests.length).toBe(modelCalls);
    const rows = await listToolCalls(server.app.database.db, visitor.session.conversationId);
    expect(rows.find((row) => row.id === confirmationId)).toMatchObject({ status: 'ok', confirmationDecision: 'confirmed' });
    // As on SMS, the answer is a decision, not a message for the model: the ledger has no "yes".
    const texts = (await listMessages(server.app.database.db, visitor.session.conversationId)).map((message) => message.text);
    expect(texts).not.toContain(' yes! ');

    // Nothing is waiting any more: "yes" is an ordinary message and goes to the model.
    const { ack: plain, reply } = await sendAndCollect(visitor.socket, 'YES');
    expect(plain).toEqual({ ok: true, messageId: expect.any(String) });
    expect(reply.done.text).toBe('echo: YES');
    expect(openai.requests.length).toBe(modelCalls + 1);
    visitor.socket.disconnect();
  });

  it('a typed NO declines and runs nothing', async () => {
    const visitor = await connect();
    await askForLead(visitor.socket, 'ed@example.test');
    await waitFor(() => visitor.requests.length === 1, 'the confirmation.request');
    const { confirmationId } = visitor.requests[0];
    const ack = await visitor.socket.emitWithAck('message', { text: 'No.', clientMessageId: 'typed-no-1' });
    expect(ack).toEqual({ ok: true, confirmation: { confirmationId, status: 'declined', alreadyAnswered: false } });
    await waitFor(() => visitor.replies.some((reply) => /^Cancelled: Save ed@example.test/.test(reply.text)), 'the cancellation');
    expect(visitor.resolved).toEqual([{ confirmationId, status: 'declined' }]);
    expect(hubspot.requests).toHaveLength(0);
    visitor.socket.disconnect();
  });
});
