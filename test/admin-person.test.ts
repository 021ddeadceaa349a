import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/database.js';
import { handoffs } from '../src/store/schema.js';
import { AdminClient } from './helpers/admin-client.js';
import { seedConversation, seedToolCall, seedTurn, type SeedConversation } from './helpers/admin-seed.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * The person view (`GET /api/admin/conversations/:id/person`) and the person labels of the lists,
 * against the real server and PostgreSQL: one person across channels (the same number on SMS and
 * every WhatsApp channel, the same Slack user in any thread, one web visitor), nobody else's
 * conversations, masked as list views are, and its parameters validated.
 */

const ADMIN_TOKEN = 'admin-token-for-person-tests-0123456789';
const VISITOR = '3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718';

let server: RunningApp;
let db: Db;
let api: AdminClient;
const base = Date.parse('2026-03-02T09:00:00.000Z');
const at = (minutes: number) => new Date(base + minutes * 60_000);
const people: Record<string, SeedConversation> = {};

beforeAll(async () => {
  server = await startTestApp({ ADMIN_TOKEN });
  db = server.app.database!.db;
  api = AdminClient.bearer(server.url, ADMIN_TOKEN);
  // Carol's number on every phone channel, as each channel writes it.
  people.carolSms = await seedConversation(db, 'sms', '+14155550167', at(50));
  people.carolTwilioWhatsApp = await seedConversation(db, 'whatsapp', 'whatsapp:+14155550167', at(40));
  people.carolCloud = await seedConversation(db, 'whatsapp-cloud', '14155550167', at(30));
  people.carolWeb = await seedConversation(db, 'whatsapp-web', '14155550167@c.us', at(20));
  // Other numbers: one sharing Carol's last digits, one that is Carol's without the country code.
  people.dave = await seedConversation(db, 'sms', '+14155559967', at(45));
  people.local = await seedConversation(db, 'whatsapp-cloud', '4155550167', at(44));
  // Slack: Alice in two threads; another user of her workspace; her user id in another workspace.
  people.aliceThread1 = await seedConversation(db, 'slack', 'T01:U0ALICE', at(35));
  await db.execute(sql`update conversations set thread_key = 'C01:1700000000.000100' where id = ${people.aliceThread1.id}`);
  people.aliceThread2 = await seedConversation(db, 'slack', 'T01:U0ALICE', at(25));
  people.bob = await seedConversation(db, 'slack', 'T01:U0BOB', at(24));
  people.aliceElsewhere = await seedConversation(db, 'slack', 'T02:U0ALICE', at(23));
  // Web visitors: one conversation each.
  people.visitor = await seedConversation(db, 'web', `visitor:${VISITOR}`, at(10));
  people.otherVisitor = await seedConversation(db, 'web', `visitor:${randomUUID()}`, at(11));

  const turn = await seedTurn(db, people.carolSms, { text: 'where is my order?', at: at(49) });
  await seedToolCall(db, people.carolSms, turn.userMessageId, { toolName: 'get_order_status', status: 'error', at: at(49), error: 'timeout' });
  await seedTurn(db, people.carolCloud, { text: 'hola', at: at(29), fallback: true });
  await seedTurn(db, people.dave, { text: 'hi', at: at(45) });
  await db.insert(handoffs).values({ id: randomUUID(), conversationId: people.visitor.id, status: 'waiting', reason: 'requested', requestedAt: at(12) });
});

afterAll(async () => {
  await server?.stop();
});

const person = async (id: string, query = '') => {
  const response = await api.get(`/api/admin/conversations/${id}/person${query}`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
};

describe('GET /api/admin/conversations/:id/person', () => {
  it('gathers one phone number across SMS, Twilio WhatsApp, WhatsApp Cloud and WhatsApp Web, and nobody else', async () => {
    // From any of them, the same person.
    for (const anchor of [people.carolSms, people.carolCloud, people.carolWeb]) {
      const body = await person(anchor!.id);
      expect(body.items.map((item: any) => item.id)).toEqual([people.carolSms!.id, people.carolTwilioWhatsApp!.id, people.carolCloud!.id, people.carolWeb!.id]);
    }
    const body = await person(people.carolTwilioWhatsApp!.id);
    expect(body.person).toEqual({
      label: 'Phone ***67',
      kind: 'phone',
      channels: [
        { channel: 'sms', name: 'SMS', conversations: 1, firstSeenAt: at(50).toISOString(), lastActiveAt: at(50).toISOString() },
        { channel: 'whatsapp', name: 'WhatsApp', conversations: 1, firstSeenAt: at(40).toISOString(), lastActiveAt: at(40).toISOString() },
        { channel: 'whatsapp-cloud', name: 'WhatsApp', conversations: 1, firstSeenAt: at(30).toISOString(), lastActiveAt: at(30).toISOString() },
        { channel: 'whatsapp-web', name: 'WhatsApp', conversations: 1, firstSeenAt: at(20).toISOString(), lastActiveAt: at(20).toISOString() },
      ],
      conversationCount: 4,
      firstSeenAt: at(20).toISOString(),
      lastActiveAt: at(50).toISOString(),
    });
    // Each row is a conversation list row: counts, flags and the channel's own label, masked.
    expect(body.items[0]).toMatchObject({ channel: 'sms', user: '***67', userLabel: 'SMS ***67', messageCount: 2, toolCallCount: 1, hasError: true });
    expect(body.items[2]).toMatchObject({ channel: 'whatsapp-cloud', userLabel: 'WhatsApp ***67', hasFallback: true });
    expect(JSON.stringify(body)).not.toContain('4155550167');
    // A number ending alike, and the same digits without the country code, are other people.
    expect((await person(people.dave!.id)).items.map((item: any) => item.id)).toEqual([people.dave!.id]);
    expect((await person(people.local!.id)).items.map((item: any) => item.id)).toEqual([people.local!.id]);
  });

  it('gathers a Slack user across threads of one workspace only', async () => {
    const body = await person(people.aliceThread2!.id);
    expect(body.items.map((item: any) => item.id)).toEqual([people.aliceThread1!.id, people.aliceThread2!.id]);
    expect(body.person).toMatchObject({ label: 'Slack U0ALICE', kind: 'slack', conversationCount: 2 });
    expect((await person(people.bob!.id)).items.map((item: any) => item.id)).toEqual([people.bob!.id]);
    expect((await person(people.aliceElsewhere!.id)).items.map((item: any) => item.id)).toEqual([people.aliceElsewhere!.id]);
  });

  it('shows a web visitor with a short id, alone', async () => {
    const body = await person(people.visitor!.id);
    expect(body.person).toMatchObject({ label: 'Web visitor 3f2a…', kind: 'web', conversationCount: 1 });
    expect(body.items.map((item: any) => item.id)).toEqual([people.visitor!.id]);
  });

  it('pages like the conversation list', async () => {
    const first = await person(people.carolSms!.id, '?limit=3');
    expect(first.items).toHaveLength(3);
    expect(first.person.conversationCount).toBe(4);
    const second = await person(people.carolSms!.id, `?limit=3&cursor=${first.nextCursor}`);
    expect(second.items.map((item: any) => item.id)).toEqual([people.carolWeb!.id]);
    expect(second.nextCursor).toBeNull();
  });

  it('validates its id and query with precise errors, and is audited', async () => {
    const malformed = await api.get('/api/admin/conversations/not-a-uuid/person');
    expect(malformed).toEqual({ status: 400, body: { error: { code: 'invalid_payload', message: 'id: Invalid UUID' } } });
    const unknown = await api.get(`/api/admin/conversations/${randomUUID()}/person`);
    expect(unknown).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'no conversation with this id' } } });
    const badLimit = await api.get(`/api/admin/conversations/${people.visitor!.id}/person?limit=0`);
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.message).toMatch(/^limit: /);
    const unknownParam = await api.get(`/api/admin/conversations/${people.visitor!.id}/person?phone=%2B14155550167`);
    expect(unknownParam.status).toBe(400);
    expect(unknownParam.body.error.message).toMatch(/phone/);
    const badCursor = await api.get(`/api/admin/conversations/${people.visitor!.id}/person?cursor=nonsense`);
    expect(badCursor.status).toBe(400);
    // Without credentials: nothing but 401.
    const anonymous = await new AdminClient(server.url).get(`/api/admin/conversations/${people.visitor!.id}/person`);
    expect(anonymous.status).toBe(401);
    const rows = (await db.execute(sql`select action, detail from admin_audit where action = 'person.read'`)) as unknown as { detail: { id: string } }[];
    expect(rows.map((row) => row.detail.id)).toContain(people.visitor!.id);
  });
});

describe('person labels in the lists', () => {
  it('names people in tool calls, conversations, the inbox and the details, masked', async () => {
    const calls = await api.get('/api/admin/tool-calls');
    expect(calls.body.items.map((item: any) => [item.user, item.userLabel])).toEqual([['***67', 'SMS ***67']]);
    const conversations = await api.get('/api/admin/conversations?limit=200');
    const labels = Object.fromEntries(conversations.body.items.map((item: any) => [item.id, item.userLabel]));
    expect(labels[people.carolTwilioWhatsApp!.id]).toBe('WhatsApp ***67');
    expect(labels[people.carolWeb!.id]).toBe('WhatsApp ***67');
    expect(labels[people.aliceThread1!.id]).toBe('Slack U0ALICE');
    expect(labels[people.visitor!.id]).toBe('Web visitor 3f2a…');
    expect(JSON.stringify(conversations.body)).not.toContain('4155550167');
    const inbox = await api.get('/api/admin/handoffs');
    expect(inbox.body.items.map((item: any) => [item.conversationId, item.userLabel])).toEqual([[people.visitor!.id, 'Web visitor 3f2a…']]);
    // Details show the number in full as before, and the same masked label.
    const detail = await api.get(`/api/admin/conversations/${people.carolSms!.id}`);
    expect([detail.body.user, detail.body.userLabel]).toEqual(['+14155550167', 'SMS ***67']);
    const call = await api.get(`/api/admin/tool-calls/${calls.body.items[0].id}`);
    expect(call.body.conversation).toMatchObject({ user: '+14155550167', userLabel: 'SMS ***67' });
  });
});
