import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../src/tools/tool.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { AdminClient } from './helpers/admin-client.js';
import { createRefundTool } from './helpers/refund-tool.js';
import { REDIS_TEST_URL, deleteRedisKeys } from './helpers/test-database.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Confirmations in the admin API and the live feed, on two instances sharing PostgreSQL and Redis
 * (socket.io's Redis Streams adapter, BullMQ): a visitor on instance B is asked to confirm a refund
 * and answers there; the console's feed on instance A sees the call appear once and then change
 * status in place (`tool-call.status`), and the tool-call detail shows the question, the decision,
 * when, the wait, and the outcome the person was sent as the call's reply.
 */

const ADMIN_TOKEN = 'confirmations-admin-token-0123456789';
const prefix = `test-confirm-${randomBytes(5).toString('hex')}`;
/** How long an event may take to cross between the instances. */
const CROSSING_MS = 8000;
const refund = createRefundTool();
const orderStatus = defineTool({
  name: 'order_status',
  description: 'Order status by id.',
  input: z.object({ orderId: z.string() }).strict(),
  async execute({ orderId }) {
    return { orderId, status: 'shipped' };
  },
});

let openai: FakeProviderServer;
let redis: Redis;
let a: RunningApp;
let b: RunningApp;
let admin: AdminClient;
let visitor: ClientSocket;
let conversationId: string;
const sockets: Socket[] = [];
/** Everything the console's feed on instance A received, in order. */
const feed: { event: string; payload: any }[] = [];
const requests: any[] = [];
const replies: any[] = [];

beforeAll(async () => {
  openai = await startFakeOpenAIServer();
  redis = new Redis(REDIS_TEST_URL);
  const env = {
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: openai.url,
    LLM_PROVIDERS: 'openai',
    REDIS_URL: REDIS_TEST_URL,
    REDIS_PREFIX: prefix,
    ADMIN_TOKEN,
    SENSITIVE_TOOLS: 'issue_refund',
  };
  a = await startTestApp(env, { extraTools: [refund.tool, orderStatus] });
  b = await startTestApp({ ...env, DATABASE_URL: a.config.DATABASE_URL!.reveal() }, { extraTools: [refund.tool, orderStatus] });
  admin = AdminClient.bearer(a.url, ADMIN_TOKEN);

  const feedSocket = connect(`${a.url}/admin`, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: ADMIN_TOKEN } });
  sockets.push(feedSocket);
  feedSocket.onAny((event, payload) => feed.push({ event, payload }));
  await new Promise<void>((resolve, reject) => {
    feedSocket.once('connect', () => resolve());
    feedSocket.once('connect_error', reject);
  });
  const connected = await connectClient(b.url);
  visitor = connected.socket;
  conversationId = connected.session.conversationId;
  sockets.push(visitor);
  visitor.on('confirmation.request', (payload) => requests.push(payload));
  visitor.on('reply.done', (payload) => replies.push(payload));
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  refund.release();
  await b?.stop();
  await a?.stop();
  await openai?.close();
  await deleteRedisKeys(redis, `${prefix}:`);
  redis.disconnect();
});

/** The model asks for a refund and, told it waits for the person, asks them to confirm. */
async function askForRefund(amount: number, note?: string): Promise<{ id: string; prompt: string }> {
  const prompt = `Please confirm: refund ${amount} USD?`;
  openai.push({ toolCalls: [{ name: 'issue_refund', arguments: { amount, ...(note && { note }) } }] }, { text: prompt });
  const seen = requests.length;
  const { reply } = await sendAndCollect(visitor, `refund ${amount} please`);
  expect(reply.done.text).toBe(prompt);
  const request = await waitFor(() => requests[seen], 'the confirmation request', CROSSING_MS);
  return { id: request.confirmationId, prompt };
}

/** Moves a call's creation back, so its wait is long enough to read (a person takes minutes, not milliseconds). */
async function askedAgo(id: string, ms: number) {
  await a.app.database.db.execute(sql`update tool_calls set created_at = created_at - make_interval(secs => ${ms / 1000}) where id = ${id}`);
}

const feedOf = (id: string) => feed.filter((entry) => entry.event.startsWith('tool-call') && entry.payload.id === id);
const detailOf = async (id: string) => {
  const response = await admin.get(`/api/admin/tool-calls/${id}`);
  expect(response.status).toBe(200);
  return response.body;
};
const listedRow = async (id: string) => (await admin.get(`/api/admin/tool-calls?conversation=${conversationId}&limit=200`)).body.items.find((item: any) => item.id === id);

describe('confirmations in the admin console', () => {
  it('shows a held call waiting: the question, how long it has waited, no outcome yet, the prompt as such', async () => {
    const { id, prompt } = await askForRefund(25, 'card 4000 0566 5566 5556, ada@example.org');
    await askedAgo(id, 120_000);
    const detail = await detailOf(id);
    expect(detail.status).toBe('pending');
    expect(detail.confirmation).toMatchObject({
      // Detail mode: the card number masked, the email shown.
      summary: 'Refund 25 USD to the customer (card [card], ada@example.org).',
      state: 'pending',
      decidedAt: null,
      prompt: { role: 'assistant', text: prompt, author: 'agent' },
    });
    expect(detail.confirmation.waitMs).toBeGreaterThanOrEqual(120_000);
    expect(detail.confirmation.waitMs).toBeLessThan(180_000);
    expect(new Date(detail.confirmation.expiresAt).getTime()).toBeGreaterThan(Date.now() + 10 * 60_000);
    // The turn's reply asked the question; it is not the outcome.
    expect(detail.reply).toBeNull();

    const row = await listedRow(id);
    expect(row.confirmation).toMatchObject({ state: 'pending', decidedAt: null });
    expect(row.confirmation.waitMs).toBeGreaterThanOrEqual(120_000);
    // Lists and the feed carry no summary (it may hold what the person typed).
    expect(JSON.stringify(row)).not.toMatch(/4000 0566|ada@example\.org|Refund 25/);

    const shown = await waitFor(() => feedOf(id)[0], 'the held call on the feed of A', CROSSING_MS);
    expect(shown).toMatchObject({ event: 'tool-call', payload: { status: 'pending', confirmation: { state: 'pending' } } });
    expect(JSON.stringify(shown.payload)).not.toMatch(/4000 0566|ada@example\.org/);
  });

  it('a confirmation on B reaches the feed on A as status changes of one row: pending → running → ok', async () => {
    const { id, prompt } = await askForRefund(40);
    await waitFor(() => feedOf(id)[0], 'the held call on the feed of A', CROSSING_MS);
    await askedAgo(id, 95_000);
    refund.hold();
    const answered = visitor.timeout(CROSSING_MS).emitWithAck('confirmation.answer', { confirmationId: id, decision: 'confirm' });

    const running = await waitFor(() => feedOf(id).find((entry) => entry.payload.status === 'running'), 'the running status on A', CROSSING_MS);
    expect(running).toMatchObject({ event: 'tool-call.status', payload: { previousStatus: 'pending', toolName: 'issue_refund', conversationId, confirmation: { state: 'confirmed' } } });
    // The API agrees while it runs: decided, no outcome yet.
    const whileRunning = await detailOf(id);
    expect(whileRunning).toMatchObject({ status: 'running', reply: null, confirmation: { state: 'confirmed', prompt: { text: prompt } } });
    expect(refund.refunds).not.toContain(40);

    refund.release();
    expect(await answered).toMatchObject({ ok: true, status: 'ok' });
    const done = await waitFor(() => feedOf(id).find((entry) => entry.payload.status === 'ok'), 'the ok status on A', CROSSING_MS);
    expect(done).toMatchObject({ event: 'tool-call.status', payload: { previousStatus: 'running', confirmation: { state: 'confirmed' } } });
    expect(done.payload.durationMs).not.toBeNull();
    // One row: announced once, then only changes of status, in order.
    expect(feedOf(id).map((entry) => [entry.event, entry.payload.status])).toEqual([
      ['tool-call', 'pending'],
      ['tool-call.status', 'running'],
      ['tool-call.status', 'ok'],
    ]);

    const detail = await detailOf(id);
    expect(detail.status).toBe('ok');
    const { decidedAt, waitMs } = detail.confirmation;
    expect(detail.confirmation).toMatchObject({ state: 'confirmed', summary: 'Refund 40 USD to the customer.' });
    expect(waitMs).toBe(new Date(decidedAt).getTime() - new Date(detail.createdAt).getTime());
    expect(waitMs).toBeGreaterThanOrEqual(95_000);
    expect(waitMs).toBeLessThan(155_000);
    // The reply is the one that carried the outcome; the question stays apart, as the prompt.
    expect(detail.reply).toMatchObject({ role: 'assistant', text: 'Refunded 40 USD.', author: 'agent' });
    expect(detail.confirmation.prompt.text).toBe(prompt);
    expect(replies.at(-1)).toMatchObject({ messageId: detail.reply.id, text: 'Refunded 40 USD.' });

    const row = await listedRow(id);
    expect(row).toMatchObject({ status: 'ok', confirmation: { state: 'confirmed', decidedAt, waitMs } });
    // The transcript marks the outcome message and shows the call's confirmation inline.
    const transcript = (await admin.get(`/api/admin/conversations/${conversationId}`)).body;
    expect(transcript.messages.find((message: any) => message.id === detail.reply.id)).toMatchObject({ outcomeOf: id, text: 'Refunded 40 USD.' });
    const inline = transcript.messages.flatMap((message: any) => message.toolCalls).find((call: any) => call.id === id);
    expect(inline.confirmation).toMatchObject({ state: 'confirmed', waitMs, summary: 'Refund 40 USD to the customer.' });
  });

  it('a decline reaches the feed as pending → declined, and the cancellation is the reply, even if the visitor named a message after it', async () => {
    const { id, prompt } = await askForRefund(60);
    await waitFor(() => feedOf(id)[0], 'the held call on the feed of A', CROSSING_MS);
    // A web client names its own messages: one that takes the outcome's id first must not keep the outcome out.
    openai.push({ text: 'Take your time.' });
    const { reply: claimed } = await sendAndCollect(visitor, 'hmm, let me think', `confirmation:${id}`);
    expect(claimed.done.text).toBe('Take your time.');

    expect(await visitor.timeout(CROSSING_MS).emitWithAck('confirmation.answer', { confirmationId: id, decision: 'decline' })).toMatchObject({ ok: true, status: 'declined' });
    const declined = await waitFor(() => feedOf(id).find((entry) => entry.payload.status === 'declined'), 'the declined status on A', CROSSING_MS);
    expect(declined).toMatchObject({ event: 'tool-call.status', payload: { previousStatus: 'pending', confirmation: { state: 'declined' } } });
    expect(feedOf(id).filter((entry) => entry.event === 'tool-call')).toHaveLength(1);

    const detail = await waitFor(async () => {
      const read = await detailOf(id);
      return read.reply ? read : undefined;
    }, 'the cancellation as the reply');
    expect(detail).toMatchObject({ status: 'declined', confirmation: { state: 'declined', prompt: { text: prompt } } });
    expect(detail.reply).toMatchObject({ role: 'assistant', text: 'Cancelled: Refund 60 USD to the customer. Nothing was done.' });
    expect(detail.confirmation.waitMs).toBe(new Date(detail.confirmation.decidedAt).getTime() - new Date(detail.createdAt).getTime());
    expect(refund.refunds).not.toContain(60);
  });

  it('an expired confirmation reaches the feed as pending → expired, with the expiry notice as the reply', async () => {
    const { id } = await askForRefund(75);
    await waitFor(() => feedOf(id)[0], 'the held call on the feed of A', CROSSING_MS);
    await a.app.database.db.execute(sql`update tool_calls set confirmation_expires_at = now() - interval '1 second' where id = ${id}`);
    expect(await b.app.confirmations.expireOverdue()).toBe(1);

    const expired = await waitFor(() => feedOf(id).find((entry) => entry.payload.status === 'expired'), 'the expired status on A', CROSSING_MS);
    expect(expired).toMatchObject({ event: 'tool-call.status', payload: { previousStatus: 'pending', confirmation: { state: 'expired' } } });
    const detail = await detailOf(id);
    expect(detail.confirmation).toMatchObject({ state: 'expired' });
    expect(detail.reply.text).toBe('This request expired before it was confirmed, so nothing was done: Refund 75 USD to the customer.');
  });

  it('a call that ran at once has no confirmation, and its reply is the turn\'s reply', async () => {
    openai.push({ toolCalls: [{ name: 'order_status', arguments: { orderId: 'ord_9' } }] }, { text: 'It has shipped.' });
    await sendAndCollect(visitor, 'where is ord_9?');
    const row = await waitFor(async () => (await admin.get(`/api/admin/tool-calls?tool=order_status`)).body.items[0], 'the order_status call');
    expect(row.confirmation).toBeNull();
    const detail = await detailOf(row.id);
    expect(detail).toMatchObject({ status: 'ok', confirmation: null, reply: { text: 'It has shipped.' } });
    const shown = await waitFor(() => feedOf(row.id)[0], 'the call on the feed of A', CROSSING_MS);
    expect(shown).toMatchObject({ event: 'tool-call', payload: { status: 'ok', confirmation: null } });
  });
});
