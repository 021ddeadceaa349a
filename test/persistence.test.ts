import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, TurnAlreadyCompletedError, type Store } from '../src/store/index.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';
import { listMessages, setMessageStatus } from './helpers/store-queries.js';

/** One behaviour suite, run against real PostgreSQL and embedded PGlite alike. */
const backends: { name: string; open(): Promise<{ database: Database; cleanup(): Promise<void> }> }[] = [
  {
    name: 'postgres',
    async open() {
      const testDb: TestDatabase = await createTestDatabase();
      const database = await openDatabase({ url: testDb.url, dataDir: '/nonexistent' });
      return { database, cleanup: () => testDb.drop() };
    },
  },
  {
    name: 'pglite',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'sb-pglite-'));
      const database = await openDatabase({ dataDir: dir });
      return { database, cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  },
];

describe.each(backends)('persistence on $name', (backend) => {
  let database: Database;
  let cleanup: () => Promise<void>;
  let store: Store;

  beforeAll(async () => {
    ({ database, cleanup } = await backend.open());
    await database.migrate();
    // Migrating twice is a no-op: every instance may run it at start.
    await database.migrate();
    store = createStore(database.db);
  });

  afterAll(async () => {
    await database.close();
    await cleanup();
  });

  it('tells a resumed turn from a first run, and keeps a turn journal per message and step', async () => {
    const conversation = await store.conversations.findOrCreateConversation({ channel: 'web', externalUserId: 'visitor-resume' });
    const { message } = await store.messages.acceptMessage({ conversationId: conversation.id, text: 'resume me' });
    expect((await store.messages.startTurn(message.id, 10_000))!.resumed).toBe(false);
    // A second start of the same open turn (a retry, a recovery after a crash) sees the earlier start.
    expect((await store.messages.startTurn(message.id, 10_000))!.resumed).toBe(true);
    const step = { text: 'Let me check.', toolCalls: [{ id: 'call_1', name: 'lookup', arguments: '{"a":1}' }], provider: 'openai', model: 'm', inputTokens: 1, outputTokens: 2 };
    await store.turnSteps.record(message.id, 0, step);
    await store.turnSteps.record(message.id, 0, { ...step, text: 'a racing second run' });
    expect(await store.turnSteps.list(message.id)).toEqual(new Map([[0, step]]));
  });

  it('reports its kind and answers a ping', async () => {
    expect(database.kind).toBe(backend.name);
    await expect(database.ping()).resolves.toBeUndefined();
  });

  it('keeps one conversation per channel identity, even when first messages race', async () => {
    const identity = { channel: 'sms', externalUserId: '+15550001111' };
    const [a, b, c] = await Promise.all([
      store.conversations.findOrCreateConversation(identity),
      store.conversations.findOrCreateConversation(identity),
      store.conversations.findOrCreateConversation(identity),
    ]);
    expect(a.id).toBe(b.id);
    expect(b.id).toBe(c.id);
    const thread = await store.conversations.findOrCreateConversation({ ...identity, threadKey: 't1' });
    expect(thread.id).not.toBe(a.id);
  });

  it('stores a repeated external message id once and flags the repeat', async () => {
    const conversation = await store.conversations.findOrCreateConversation({ channel: 'web', externalUserId: 'visitor-dedupe' });
    const first = await store.messages.acceptMessage({ conversationId: conversation.id, text: 'hi', externalMessageId: 'm-1' });
    const again = await store.messages.acceptMessage({ conversationId: conversation.id, text: 'hi (again)', externalMessageId: 'm-1' });
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.message.id).toBe(first.message.id);
    expect(await listMessages(database.db, conversation.id)).toHaveLength(1);
    // Messages without an external id are never treated as repeats of each other.
    await store.messages.acceptMessage({ conversationId: conversation.id, text: 'a' });
    await store.messages.acceptMessage({ conversationId: conversation.id, text: 'b' });
    expect(await listMessages(database.db, conversation.id)).toHaveLength(3);
  });

  it('completes a turn atomically and builds history oldest first within a budget', async () => {
    const conversation = await store.conversations.findOrCreateConversation({ channel: 'web', externalUserId: 'visitor-history' });
    const turn = async (text: string, reply: string, fallback = false) => {
      const { message } = await store.messages.acceptMessage({ conversationId: conversation.id, text });
      await setMessageStatus(database.db, message.id, 'processing');
      return store.messages.completeTurn(message, {
        status: fallback ? 'fallback' : 'answered',
        text: reply,
        provider: fallback ? null : 'openai',
        model: fallback ? null : 'gpt-test',
        cached: false,
        fallback,
        fallbackReason: fallback ? 'all_providers_failed' : null,
        attempts: [],
        latencyMs: 12,
        inputTokens: 10,
        outputTokens: 5,
      });
    };
    await turn('first question', 'first answer');
    await turn('second question', 'sorry, later', true);
    const { replyId } = await turn('third question', 'third answer');
    const reply = (await store.messages.getMessage(replyId))!;
    expect(reply).toMatchObject({ role: 'assistant', status: 'answered', provider: 'openai', latencyMs: 12, inputTokens: 10 });
    expect(reply.replyToId).not.toBeNull();
    const userMessage = (await store.messages.getMessage(reply.replyToId!))!;
    expect(reply.createdAt.getTime()).toBeGreaterThan(userMessage.createdAt.getTime());
    expect(userMessage.status).toBe('answered');
    expect(userMessage.provider).toBe('openai');
    expect(await store.messages.findReply(userMessage.id)).toMatchObject({ text: 'third answer', role: 'assistant' });

    const { message: next } = await store.messages.acceptMessage({ conversationId: conversation.id, text: 'fourth' });
    const history = await store.messages.loadHistory(conversation.id, next, 10_000);
    expect(history.map((entry) => entry.text)).toEqual([
      'first question',
      'first answer',
      'second question',
      'third question',
      'third answer',
    ]);
    // A small budget keeps the newest entries, and never opens with an assistant turn.
    const trimmed = await store.messages.loadHistory(conversation.id, next, 'third question'.length + 'third answer'.length);
    expect(trimmed).toEqual([
      { role: 'user', text: 'third question' },
      { role: 'assistant', text: 'third answer' },
    ]);
    const tiny = await store.messages.loadHistory(conversation.id, next, 'third answer'.length);
    expect(tiny).toEqual([]);
    // Opening the turn reads the same history in the same statement, trimmed the same way.
    const opened = (await store.messages.startTurn(next.id, 10_000))!;
    expect(opened.message).toMatchObject({ id: next.id, status: 'processing', text: 'fourth' });
    expect(opened.history).toEqual(history);
    const openedAgain = (await store.messages.startTurn(next.id, 'third question'.length + 'third answer'.length))!;
    expect(openedAgain.history).toEqual(trimmed);
  });

  it('closes a turn once: a second completion writes nothing, and a finished turn cannot be reopened', async () => {
    const conversation = await store.conversations.findOrCreateConversation({ channel: 'web', externalUserId: 'visitor-ledger' });
    const first = await store.messages.acceptMessage({ conversationId: conversation.id, text: 'first' });
    expect(first.firstInConversation).toBe(true);
    const { message: opened, conversation: openedIn, history } = (await store.messages.startTurn(first.message.id, 10_000))!;
    expect(history).toEqual([]);
    expect(opened.status).toBe('processing');
    expect(openedIn).toEqual(conversation);
    const outcome = {
      status: 'fallback' as const,
      text: 'later, sorry',
      provider: null,
      model: null,
      cached: false,
      fallback: true,
      fallbackReason: 'all_providers_failed',
      attempts: [{ provider: 'openai', model: 'gpt-test', outcome: 'http_500', ms: 3 }],
      latencyMs: 40,
      inputTokens: null,
      outputTokens: null,
      followUp: 'pending' as const,
    };
    await store.messages.completeTurn(opened, outcome);
    await expect(store.messages.completeTurn(opened, { ...outcome, text: 'a second answer' })).rejects.toBeInstanceOf(TurnAlreadyCompletedError);
    expect(await store.messages.startTurn(first.message.id, 10_000)).toBeUndefined();
    const rows = await listMessages(database.db, conversation.id);
    expect(rows.map((row) => [row.role, row.text])).toEqual([
      ['user', 'first'],
      ['assistant', 'later, sorry'],
    ]);
    expect(rows[0]).toMatchObject({
      status: 'fallback',
      fallback: true,
      followUp: 'pending',
      fallbackReason: 'all_providers_failed',
      attempts: outcome.attempts,
    });
    expect(rows[1]).toMatchObject({ status: 'fallback', replyToId: first.message.id, attempts: outcome.attempts });
    const second = await store.messages.acceptMessage({ conversationId: conversation.id, text: 'second' });
    expect(second.firstInConversation).toBe(false);
    // Only user messages have a turn.
    expect(await store.messages.startTurn(rows[1]!.id, 10_000)).toBeUndefined();
  });

  it('stores first contact and message in one call: one conversation per identity, repeats flagged, safe when racing', async () => {
    const identity = { channel: 'sms', externalUserId: '+15550001111' };
    const first = await store.messages.acceptInbound(identity, { text: 'hello', externalMessageId: 'SM1' });
    expect(first.accepted).toMatchObject({ duplicate: false, firstInConversation: true });
    expect(first.conversation).toMatchObject({ channel: 'sms', externalUserId: '+15550001111', threadKey: '' });
    expect(await store.messages.getMessage(first.accepted.message.id)).toEqual(first.accepted.message);

    const second = await store.messages.acceptInbound(identity, { text: 'again', externalMessageId: 'SM2' });
    expect(second.conversation.id).toBe(first.conversation.id);
    expect(second.accepted).toMatchObject({ duplicate: false, firstInConversation: false });
    const repeat = await store.messages.acceptInbound(identity, { text: 'again (retried)', externalMessageId: 'SM2' });
    expect(repeat.accepted).toMatchObject({ duplicate: true, message: { id: second.accepted.message.id, text: 'again' } });
    expect((await listMessages(database.db, first.conversation.id)).map((row) => row.text)).toEqual(['hello', 'again']);

    // Eight first contacts of one new identity at once: one conversation, every message kept.
    const racing = { channel: 'whatsapp', externalUserId: '+15550002222' };
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.messages.acceptInbound(racing, { text: `m${i}`, externalMessageId: `WA${i}` })),
    );
    expect(new Set(results.map((result) => result.conversation.id)).size).toBe(1);
    expect(results.every((result) => !result.accepted.duplicate)).toBe(true);
    expect(await listMessages(database.db, results[0]!.conversation.id)).toHaveLength(8);
    expect(await store.conversations.findConversation(racing)).toEqual(results[0]!.conversation);
    expect(await store.conversations.findConversation({ channel: 'whatsapp', externalUserId: '+15550003333' })).toBeUndefined();
  });

  it('stores a cached answer with a first message only, and marks its conversation as touched', async () => {
    const answer = { text: 'We open at nine.', provider: 'openai', model: 'gpt-test', latencyMs: 1 };
    const identity = { channel: 'sms', externalUserId: '+15550004444' };
    const first = await store.messages.acceptInbound(identity, { text: 'opening hours?', externalMessageId: 'SMc1' }, answer);
    expect(first.answeredFromCache).toBe(true);
    expect(first.accepted.message).toMatchObject({ status: 'answered', cached: true, provider: 'openai' });
    // A new conversation answered in the same statement is stored touched, not left "never answered".
    expect(first.conversation.updatedAt.getTime()).toBe(first.accepted.message.createdAt.getTime());
    expect((await listMessages(database.db, first.conversation.id)).map((row) => [row.role, row.status, row.text])).toEqual([
      ['user', 'answered', 'opening hours?'],
      ['assistant', 'answered', 'We open at nine.'],
    ]);

    const later = await store.messages.acceptInbound(identity, { text: 'opening hours?', externalMessageId: 'SMc2' }, answer);
    expect(later.answeredFromCache).toBe(false);
    expect(later.accepted.message.status).toBe('received');
    expect(later.conversation.updatedAt).toEqual(first.conversation.updatedAt);

    // A conversation that exists but never had a message (made by an earlier contact) is answered and touched.
    const empty = await store.conversations.findOrCreateConversation({ channel: 'sms', externalUserId: '+15550005555' });
    const answered = await store.messages.acceptInbound({ channel: 'sms', externalUserId: '+15550005555' }, { text: 'hours?' }, answer);
    expect(answered.answeredFromCache).toBe(true);
    expect(answered.conversation.id).toBe(empty.id);
    expect((await store.conversations.getConversation(empty.id))!.updatedAt.getTime()).toBe(answered.accepted.message.createdAt.getTime());
  });

  it('records a tool call once per idempotency key', async () => {
    const conversation = await store.conversations.findOrCreateConversation({ channel: 'web', externalUserId: 'visitor-tools' });
    const { message } = await store.messages.acceptMessage({ conversationId: conversation.id, text: 'buy' });
    const call = {
      conversationId: conversation.id,
      messageId: message.id,
      callId: 'call_1',
      toolName: 'create_checkout_link',
      arguments: { amount: 10, currency: 'usd' },
      status: 'running' as const,
      provider: 'openai',
      model: 'gpt-test',
      step: 0,
      idempotencyKey: `${conversation.id}:call_1`,
    };
    const row = await store.toolCalls.start(call);
    expect(row).toBeDefined();
    expect(await store.toolCalls.start(call)).toBeUndefined();
    await store.toolCalls.finish(row!.id, { status: 'ok', result: { url: 'https://pay.example/x' }, durationMs: 42 });
    const stored = await store.toolCalls.findByIdempotencyKey(call.idempotencyKey);
    expect(stored).toMatchObject({ status: 'ok', result: { url: 'https://pay.example/x' }, durationMs: 42 });
    expect(stored!.completedAt).toBeInstanceOf(Date);
  });
});
