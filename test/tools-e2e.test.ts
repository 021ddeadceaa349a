import { ToolMessage } from '@langchain/core/messages';
import { DateTime } from 'luxon';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toolCalls } from '../src/store/schema.js';
import { calendarEventId } from '../src/tools/book-meeting.js';
import { toolCallKey } from '../src/tools/idempotency-key.js';
import { buildTools } from '../src/tools/build-tools.js';
import { toLangChainTools } from '../src/tools/langchain-tools.js';
import { ToolExecutor } from '../src/tools/tool-executor.js';
import { ToolPolicy } from '../src/tools/tool-policy.js';
import { ToolRegistry } from '../src/tools/tool-registry.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import {
  FAKE_GOOGLE_CLIENT_ID,
  FAKE_GOOGLE_CLIENT_SECRET,
  FAKE_GOOGLE_REFRESH_TOKEN,
  startFakeGoogleServer,
  type FakeGoogleServer,
} from './fakes/fake-google-server.js';
import { FAKE_HUBSPOT_TOKEN, startFakeHubSpotServer, type FakeHubSpotServer } from './fakes/fake-hubspot-server.js';
import { FAKE_STRIPE_SECRET_KEY, startFakeStripeServer, type FakeStripeServer } from './fakes/fake-stripe-server.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { listMessages, listToolCalls } from './helpers/store-queries.js';
import { waitFor } from './helpers/wait-for.js';

/** Next Monday (at least 2 days ahead) at `hour`:00 in Europe/Berlin. */
function nextMondayAt(hour: number, zone = 'Europe/Berlin'): DateTime {
  let day = DateTime.now().setZone(zone).plus({ days: 2 }).startOf('day');
  while (day.weekday !== 1) day = day.plus({ days: 1 });
  return day.set({ hour });
}

/**
 * The tools end to end: web client → model (OpenAI wire) → ToolExecutor → real SDK →
 * local fake API, with confirmation of sensitive calls over socket.io.
 */
describe('tools through the web channel', () => {
  let openai: FakeProviderServer;
  let google: FakeGoogleServer;
  let hubspot: FakeHubSpotServer;
  let stripe: FakeStripeServer;
  let server: RunningApp;

  const env = () => ({
    OPENAI_API_KEY: 'sk-openai',
    OPENAI_BASE_URL: openai.url,
    GOOGLE_CLIENT_ID: FAKE_GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET: FAKE_GOOGLE_CLIENT_SECRET,
    GOOGLE_REFRESH_TOKEN: FAKE_GOOGLE_REFRESH_TOKEN,
    GOOGLE_TOKEN_URL: google.tokenUrl,
    GOOGLE_API_URL: google.url,
    GOOGLE_CALENDAR_ID: 'sales@acme.test',
    WORKING_TIME_ZONE: 'Europe/Berlin',
    DRIVE_ALLOWED_DOMAINS: 'acme.test',
    HUBSPOT_ACCESS_TOKEN: FAKE_HUBSPOT_TOKEN,
    HUBSPOT_API_URL: hubspot.url,
    STRIPE_SECRET_KEY: FAKE_STRIPE_SECRET_KEY,
    STRIPE_API_URL: stripe.url,
    // The checkout cases below are in EUR: the threshold is stated in that currency.
    CHECKOUT_CONFIRM_ABOVE: '100',
    CHECKOUT_CONFIRM_CURRENCY: 'eur',
    INTEGRATION_RETRY_BASE_MS: '5',
  });

  beforeAll(async () => {
    [openai, google, hubspot, stripe] = await Promise.all([startFakeOpenAIServer(), startFakeGoogleServer(), startFakeHubSpotServer(), startFakeStripeServer()]);
    google.addFile({ id: 'file_proposal_1', name: 'Q4 proposal' });
    server = await startTestApp(env());
  });
  afterAll(async () => {
    await server?.stop();
    await Promise.all([openai?.close(), google?.close(), hubspot?.close(), stripe?.close()]);
  });
  beforeEach(() => {
    openai.reset();
    google.reset();
    hubspot.reset();
    stripe.reset();
    google.setBusy('sales@acme.test', []);
  });

  /** Confirmation requests and extra replies (delivered outcomes) seen by a socket. */
  const watch = (socket: ClientSocket) => {
    const requests: any[] = [];
    const resolved: any[] = [];
    const replies: any[] = [];
    socket.on('confirmation.request', (payload) => requests.push(payload));
    socket.on('confirmation.resolved', (payload) => resolved.push(payload));
    socket.on('reply.done', (payload) => replies.push(payload));
    return { requests, resolved, replies };
  };
  const rowsOf = (conversationId: string) => listToolCalls(server.app.database.db, conversationId);

  it('find_meeting_slots runs at once: freebusy request, slots to the model, ok row', async () => {
    const { socket, session } = await connectClient(server.url);
    const monday = nextMondayAt(9);
    openai.push({ toolCalls: [{ id: 'call_slots', name: 'find_meeting_slots', arguments: { durationMinutes: 30, from: monday.toISO()!, to: monday.plus({ hours: 9 }).toISO()! } }] });
    openai.setResponder((body) => {
      const result = JSON.parse(body.messages.at(-1).content);
      return { text: `First free: ${result.slots[0].start}` };
    });
    const { reply } = await sendAndCollect(socket, 'when can we meet monday?');
    socket.disconnect();

    const offered = openai.requests[0]!.body.tools.map((t: any) => t.function.name).sort();
    expect(offered).toEqual(['book_meeting', 'create_checkout_link', 'create_crm_lead', 'find_meeting_slots', 'request_human', 'share_drive_file']);
    expect(google.apiRequests().map((request) => request.path)).toEqual(['/calendar/v3/freeBusy']);
    expect(reply.done.text).toBe(`First free: ${monday.toISO({ suppressMilliseconds: true })}`);
    expect(reply.done.toolCalls).toEqual([{ name: 'find_meeting_slots', status: 'ok' }]);
    const [row] = await rowsOf(session.conversationId);
    expect(row).toMatchObject({ toolName: 'find_meeting_slots', status: 'ok', confirmationSummary: null });
  });

  it('book_meeting waits for the person: pending row, confirm button event, then the event is created once', async () => {
    const { socket, session } = await connectClient(server.url);
    const seen = watch(socket);
    const start = nextMondayAt(11);
    openai.push(
      { toolCalls: [{ id: 'call_book', name: 'book_meeting', arguments: { title: 'Demo', start: start.toISO()!, durationMinutes: 30, attendees: ['ada@acme.test'], withMeet: true } }] },
      { text: 'Please confirm the booking.' },
    );
    const { reply } = await sendAndCollect(socket, 'book the demo');
    expect(reply.done.toolCalls).toEqual([{ name: 'book_meeting', status: 'pending' }]);
    // What the model read: nothing happened yet.
    const toolResult = JSON.parse(openai.requests[1]!.body.messages.at(-1).content);
    expect(toolResult).toMatchObject({ status: 'awaiting_confirmation', summary: expect.stringContaining('Book “Demo” on Mon') });
    expect(google.events).toHaveLength(0);

    await waitFor(() => seen.requests.length === 1, 'the confirmation request');
    const request = seen.requests[0];
    expect(request).toMatchObject({ confirmationId: toolResult.confirmationId, messageId: reply.done.messageId, toolName: 'book_meeting', summary: toolResult.summary });
    expect(new Date(request.expiresAt).getTime()).toBeGreaterThan(Date.now() + 14 * 60_000);
    const [pending] = await rowsOf(session.conversationId);
    expect(pending).toMatchObject({ status: 'pending', confirmationSummary: request.summary, confirmationDecision: null });

    const ack = await socket.emitWithAck('confirmation.answer', { confirmationId: request.confirmationId, decision: 'confirm' });
    expect(ack).toEqual({ ok: true, status: 'ok', alreadyAnswered: false });
    await waitFor(() => seen.replies.some((done) => done.messageId !== reply.done.messageId), 'the reply after the answer');
    const delivered = seen.replies.find((done) => done.messageId !== reply.done.messageId);
    expect(delivered.text).toMatch(/^Booked “Demo”: .* Event: https:\/\/www\.google\.com\/calendar\/event\?eid=.* Meet: https:\/\/meet\.google\.com\//);
    expect(delivered.toolCalls).toEqual([{ name: 'book_meeting', status: 'ok' }]);
    expect(seen.resolved).toEqual([{ confirmationId: request.confirmationId, status: 'ok' }]);
    // The event id comes from the call's idempotency key: the turn's message, step, tool and arguments.
    expect(pending!.idempotencyKey).toBe(toolCallKey({ messageId: reply.done.messageId, step: 0, toolName: 'book_meeting', arguments: pending!.arguments }));
    expect(google.events.map((event) => event.id)).toEqual([calendarEventId(pending!.idempotencyKey)]);

    const [done] = await rowsOf(session.conversationId);
    expect(done).toMatchObject({ status: 'ok', confirmationDecision: 'confirmed', result: expect.objectContaining({ title: 'Demo', alreadyBooked: false }) });
    const messages = await listMessages(server.app.database.db, session.conversationId);
    expect(messages.at(-1)).toMatchObject({ role: 'assistant', text: delivered.text });

    // A second click (or another tab) changes nothing.
    const again = await socket.emitWithAck('confirmation.answer', { confirmationId: request.confirmationId, decision: 'confirm' });
    expect(again).toEqual({ ok: true, status: 'ok', alreadyAnswered: true });
    expect(google.events).toHaveLength(1);

    // A crash between Google's answer and our record leaves the row running; the sweep runs it again
    // with the same key, and the deterministic event id finds the event instead of booking it twice.
    await server.app.database.db
      .update(toolCalls)
      .set({ status: 'running', result: null, completedAt: null, confirmationDecidedAt: new Date(Date.now() - 3_600_000) })
      .where(eq(toolCalls.id, request.confirmationId));
    expect(await server.app.confirmations.resumeInterrupted()).toBe(1);
    expect(google.events).toHaveLength(1);
    const [resumed] = await rowsOf(session.conversationId);
    expect(resumed).toMatchObject({ status: 'ok', result: expect.objectContaining({ eventId: google.events[0]!.id, alreadyBooked: true }) });
    socket.disconnect();
  });

  it('a declined writer share runs nothing and records the decision; reader shares run at once', async () => {
    const { socket, session } = await connectClient(server.url);
    const seen = watch(socket);
    openai.push(
      {
        toolCalls: [
          { id: 'call_read', name: 'share_drive_file', arguments: { fileName: 'Q4 proposal', email: 'client@outside.test', role: 'reader' } },
          { id: 'call_write', name: 'share_drive_file', arguments: { fileName: 'Q4 proposal', email: 'bob@acme.test', role: 'writer' } },
        ],
      },
      { text: 'Shared for reading; writer access needs your OK.' },
    );
    const { reply } = await sendAndCollect(socket, 'share the proposal');
    expect(reply.done.toolCalls).toEqual([
      { name: 'share_drive_file', status: 'ok' },
      { name: 'share_drive_file', status: 'pending' },
    ]);
    await waitFor(() => seen.requests.length === 1, 'the confirmation request');
    expect(seen.requests[0].summary).toBe('Give bob@acme.test writer access to the Drive file “Q4 proposal”.');
    const ack = await socket.emitWithAck('confirmation.answer', { confirmationId: seen.requests[0].confirmationId, decision: 'decline' });
    expect(ack).toEqual({ ok: true, status: 'declined', alreadyAnswered: false });
    await waitFor(() => seen.replies.length === 2, 'the second reply');
    expect(seen.replies[1].text).toMatch(/^Cancelled: Give bob@acme.test writer access/);
    const permissions = google.apiRequests().filter((request) => request.path.endsWith('/permissions'));
    expect(permissions.map((request) => request.body.emailAddress)).toEqual(['client@outside.test']);
    const rows = await rowsOf(session.conversationId);
    expect(rows.find((row) => row.callId === 'call_write')).toMatchObject({ status: 'declined', confirmationDecision: 'declined' });
    socket.disconnect();
  });

  it('an expired confirmation is refused as expired and runs nothing; the sweep expires the rest', async () => {
    const { socket, session } = await connectClient(server.url);
    const seen = watch(socket);
    openai.push(
      {
        toolCalls: [
          { id: 'call_big', name: 'create_checkout_link', arguments: { amount: 250, currency: 'EUR', description: 'Annual plan' } },
          { id: 'call_big2', name: 'create_checkout_link', arguments: { amount: 300, currency: 'EUR', description: 'Team plan' } },
          { id: 'call_small', name: 'create_checkout_link', arguments: { amount: 20, currency: 'EUR', description: 'Mug' } },
        ],
      },
      { text: 'Confirm the bigger ones please.' },
    );
    const { reply } = await sendAndCollect(socket, 'buy');
    expect(reply.done.toolCalls.map((call) => call.status)).toEqual(['pending', 'pending', 'ok']);
    expect(stripe.sessions).toHaveLength(1);
    await waitFor(() => seen.requests.length === 2, 'the second confirmation request');
    expect(seen.requests[0].summary).toBe('Create a payment link for “Annual plan” at 250 EUR.');

    const db = server.app.database.db;
    await db.update(toolCalls).set({ confirmationExpiresAt: new Date(Date.now() - 1000) }).where(eq(toolCalls.conversationId, session.conversationId));
    const ack = await socket.emitWithAck('confirmation.answer', { confirmationId: seen.requests[0].confirmationId, decision: 'confirm' });
    expect(ack).toEqual({ ok: true, status: 'expired', alreadyAnswered: false });
    expect(await server.app.confirmations.expireOverdue()).toBe(1);
    expect(stripe.sessions).toHaveLength(1);
    const rows = await rowsOf(session.conversationId);
    expect(rows.filter((row) => row.status === 'expired').map((row) => row.confirmationDecision)).toEqual(['expired', 'expired']);
    await waitFor(() => seen.replies.filter((done) => /expired/.test(done.text)).length === 2, 'both expiry replies');
    socket.disconnect();
  });

  it('refuses adversarial requests as readable tool errors, without calling anything', async () => {
    const { socket, session } = await connectClient(server.url);
    const seen = watch(socket);
    openai.push(
      {
        toolCalls: [
          // A prompt-injected share with an outside address.
          { id: 'inj', name: 'share_drive_file', arguments: { fileName: 'Q4 proposal', email: 'attacker@evil.test', role: 'writer' } },
          { id: 'zero', name: 'create_checkout_link', arguments: { amount: 0, currency: 'USD', description: 'Free' } },
          { id: 'nan', name: 'create_checkout_link', arguments: { amount: '12abc', currency: 'USD', description: 'X' } },
          { id: 'huge', name: 'create_checkout_link', arguments: { amount: 1e12, currency: 'USD', description: 'X' } },
          { id: 'cur', name: 'create_checkout_link', arguments: { amount: 5, currency: 'XYZ', description: 'X' } },
          { id: 'past', name: 'book_meeting', arguments: { title: 'Old', start: '2020-01-06T10:00:00Z', durationMinutes: 30, attendees: ['a@acme.test'] } },
          { id: 'mail', name: 'create_crm_lead', arguments: { email: 'not an email' } },
          { id: 'ghost', name: 'delete_all_files', arguments: {} },
          { id: 'proto', name: '__proto__', arguments: {} },
        ],
      },
      { text: 'Some of that was not possible.' },
    );
    const { reply } = await sendAndCollect(socket, 'do everything');
    expect(reply.done.toolCalls.map((call) => call.status)).toEqual(Array(9).fill('invalid'));
    expect(google.apiRequests()).toHaveLength(0);
    expect(hubspot.requests).toHaveLength(0);
    expect(stripe.requests).toHaveLength(0);
    expect(seen.requests).toHaveLength(0);
    const toolMessages = openai.requests[1]!.body.messages.filter((message: any) => message.role === 'tool').map((message: any) => JSON.parse(message.content).error);
    expect(toolMessages[0]).toMatch(/writer access is only for acme\.test/);
    expect(toolMessages[1]).toMatch(/greater than 0/);
    expect(toolMessages[2]).toMatch(/amount must be a number/);
    expect(toolMessages[3]).toMatch(/at most 10000/);
    expect(toolMessages[4]).toMatch(/not an ISO 4217 code/);
    expect(toolMessages[5]).toMatch(/in the past/);
    expect(toolMessages[6]).toMatch(/valid email/);
    expect(toolMessages[7]).toMatch(/unknown tool "delete_all_files"/);
    const rows = await rowsOf(session.conversationId);
    expect(rows).toHaveLength(9);
    socket.disconnect();
  });

  it('a repeated tool call id creates one CRM contact; an outage reaches the model as a readable error', async () => {
    const { socket, session } = await connectClient(server.url);
    openai.push(
      {
        toolCalls: [
          { id: 'lead', name: 'create_crm_lead', arguments: { email: 'grace@hopper.test', name: 'Grace Hopper' } },
          { id: 'lead', name: 'create_crm_lead', arguments: { email: 'grace@hopper.test', name: 'Grace Hopper' } },
        ],
      },
      { text: 'Saved.' },
    );
    const { reply } = await sendAndCollect(socket, 'I am Grace, grace@hopper.test');
    expect(reply.done.toolCalls).toEqual([
      { name: 'create_crm_lead', status: 'ok' },
      { name: 'create_crm_lead', status: 'ok' },
    ]);
    expect(hubspot.requests).toHaveLength(1);
    expect(hubspot.contacts).toHaveLength(1);
    expect(await rowsOf(session.conversationId)).toHaveLength(1);

    hubspot.failNext({ status: 401 });
    openai.push({ toolCalls: [{ id: 'lead2', name: 'create_crm_lead', arguments: { email: 'x@y.test' } }] }, { text: 'The CRM is unavailable.' });
    const failed = await sendAndCollect(socket, 'and x@y.test');
    expect(failed.reply.done.toolCalls).toEqual([{ name: 'create_crm_lead', status: 'error' }]);
    const row = (await rowsOf(session.conversationId)).find((candidate) => candidate.callId === 'lead2')!;
    expect(row.error).toMatch(/^HubSpot: the service rejected our credentials/);
    expect(row.error).not.toContain(FAKE_HUBSPOT_TOKEN);
    socket.disconnect();
  });

  it('confirmation answers are checked: own conversation only, valid payload', async () => {
    const owner = await connectClient(server.url);
    const seen = watch(owner.socket);
    openai.push(
      { toolCalls: [{ id: 'b', name: 'book_meeting', arguments: { title: 'X', start: nextMondayAt(13).toISO()!, durationMinutes: 30, attendees: ['a@acme.test'] } }] },
      { text: 'Confirm?' },
    );
    await sendAndCollect(owner.socket, 'book');
    await waitFor(() => seen.requests.length === 1, 'the confirmation request');
    const stranger = await connectClient(server.url);
    await sendAndCollect(stranger.socket, 'hello');
    const foreign = await stranger.socket.emitWithAck('confirmation.answer', { confirmationId: seen.requests[0].confirmationId, decision: 'confirm' });
    expect(foreign).toEqual({ ok: false, error: { code: 'not_found', message: 'no such confirmation in this conversation' } });
    const bad = await owner.socket.emitWithAck('confirmation.answer', { confirmationId: seen.requests[0].confirmationId, decision: 'maybe' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_payload', message: "decision must be 'confirm' or 'decline'" } });
    expect(google.events).toHaveLength(0);
    // The channel-agnostic entry point other channels use (an SMS "YES"): the newest pending one.
    const outcome = await server.app.confirmations.answer(owner.session.conversationId, 'latest', 'confirm');
    expect(outcome).toMatchObject({ status: 'ok', toolName: 'book_meeting' });
    expect(google.events).toHaveLength(1);
    await expect(server.app.confirmations.answer(owner.session.conversationId, 'latest', 'confirm')).rejects.toMatchObject({ code: 'not_found' });
    await expect(server.app.confirmations.answer(owner.session.conversationId, "1' or '1'='1", 'confirm')).rejects.toMatchObject({ code: 'not_found' });
    owner.socket.disconnect();
    stranger.socket.disconnect();
  });

  it('LangChain tools run the same executor: validation, idempotency and the tool_calls row', async () => {
    const { store } = server.app;
    const conversation = await store.conversations.findOrCreateConversation({ channel: 'langchain', externalUserId: 'lc-user' });
    const { message } = await store.messages.acceptMessage({ conversationId: conversation.id, text: 'agent task' });
    const registry = new ToolRegistry(await buildTools(server.config, server.app.logger));
    const executor = new ToolExecutor({ registry, log: store.toolCalls, logger: server.app.logger, timeoutMs: 5000 });
    const lcTools = toLangChainTools(registry, executor, { conversationId: conversation.id, messageId: message.id });
    const lead = lcTools.find((candidate) => candidate.name === 'create_crm_lead')!;

    const call = { id: 'lc_call_1', name: 'create_crm_lead', args: { email: 'lin@lc.test', company: 'LC' }, type: 'tool_call' as const };
    const result = await lead.invoke(call);
    expect(result).toBeInstanceOf(ToolMessage);
    expect(JSON.parse(String((result as ToolMessage).content))).toMatchObject({ email: 'lin@lc.test', created: true });
    await lead.invoke(call);
    expect(hubspot.contacts).toHaveLength(1);
    expect(hubspot.requests).toHaveLength(1);
    const rows = await rowsOf(conversation.id);
    expect(rows).toEqual([expect.objectContaining({ toolName: 'create_crm_lead', status: 'ok', provider: 'langchain', idempotencyKey: toolCallKey({ messageId: message.id, step: 0, toolName: 'create_crm_lead', arguments: call.args }) })]);
  });
});

describe('per-channel tool policy', () => {
  let openai: FakeProviderServer;
  let hubspot: FakeHubSpotServer;
  let server: RunningApp;

  beforeAll(async () => {
    [openai, hubspot] = await Promise.all([startFakeOpenAIServer(), startFakeHubSpotServer()]);
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-openai',
      OPENAI_BASE_URL: openai.url,
      HUBSPOT_ACCESS_TOKEN: FAKE_HUBSPOT_TOKEN,
      HUBSPOT_API_URL: hubspot.url,
      TOOL_CHANNEL_POLICY: 'web=;sms=create_crm_lead',
    });
  });
  afterAll(async () => {
    await server?.stop();
    await Promise.all([openai?.close(), hubspot?.close()]);
  });

  it('offers the channel only its allowed tools and refuses (and records) any other call', async () => {
    const { socket, session } = await connectClient(server.url);
    openai.push({ toolCalls: [{ id: 'sneaky', name: 'create_crm_lead', arguments: { email: 'a@b.test' } }] }, { text: 'I cannot do that here.' });
    const { reply } = await sendAndCollect(socket, 'save me as a lead');
    socket.disconnect();
    // Only the spine's own request_human, which no channel list takes away.
    expect((openai.requests[0]!.body.tools ?? []).map((tool: any) => tool.function.name)).toEqual(['request_human']);
    expect(reply.done.toolCalls).toEqual([{ name: 'create_crm_lead', status: 'refused' }]);
    expect(hubspot.requests).toHaveLength(0);
    const [row] = await listToolCalls(server.app.database.db, session.conversationId);
    expect(row).toMatchObject({ status: 'refused', error: 'create_crm_lead is not available on the web channel; do not offer it here' });
    expect(new ToolPolicy({ sms: ['create_crm_lead'] }).allows('sms', 'create_crm_lead')).toBe(true);
  });
});
