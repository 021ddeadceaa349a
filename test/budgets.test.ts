import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../src/config/config.js';
import { PipelineEvents } from '../src/observability/events.js';
import { createLogger } from '../src/observability/logger.js';
import { conversations, handoffs, messages } from '../src/store/schema.js';
import { defineTool } from '../src/tools/tool.js';
import { budgetSettingsFrom } from '../src/turn/budget-settings.js';
import { BudgetGuard } from '../src/turn/budgets.js';
import type { FinishedReply, ReplyTarget, ReplyTransport } from '../src/turn/reply-transport.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { listMessages } from './helpers/store-queries.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Budgets enforced in code: BUDGET_CONVERSATION_USD, BUDGET_USER_DAILY_USD (a person is channel +
 * external user id, per UTC day) and BUDGET_GLOBAL_DAILY_USD. A turn under the limit goes to the
 * model; the one at the limit is answered with BUDGET_REPLY, without a model request (the fake
 * OpenAI server counts them), and the ledger says which budget refused it. Every call here costs
 * exactly $1: 1000 input tokens at $500 and 500 output tokens at $1000 per million (MODEL_PRICES).
 */

const ONE_DOLLAR = { inputTokens: 1000, outputTokens: 500 };
const PRICES = JSON.stringify({ 'gpt-4o-mini': { input: 500, output: 1000 } });
const BUDGET_REPLY = 'You have reached the usage limit for now.';

const lookupTool = defineTool({
  name: 'lookup_order',
  description: 'Looks an order up.',
  input: z.object({ orderId: z.string() }).strict(),
  execute: async ({ orderId }) => ({ orderId, status: 'shipped' }),
});

/** The `test` channel of an embedder: what the spine asks it to deliver. */
class RecordingTransport implements ReplyTransport {
  readonly channel = 'test';
  readonly replies: (FinishedReply & { conversationId: string })[] = [];
  async done(target: ReplyTarget, reply: FinishedReply): Promise<void> {
    this.replies.push({ ...reply, conversationId: target.conversation.id });
  }
}

async function startBudgetApp(openai: FakeProviderServer, env: Record<string, string>) {
  const server = await startTestApp(
    {
      OPENAI_API_KEY: 'sk-openai-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      LLM_RETRIES: '0',
      MODEL_PRICES: PRICES,
      BUDGET_REPLY,
      FOLLOW_UP_INTERVAL_MS: '86400000',
      ...env,
    },
    { extraTools: [lookupTool] },
  );
  const transport = new RecordingTransport();
  server.app.transports.register(transport);
  /** A message from `user` in their conversation `thread`, and the reply the spine delivered for it. */
  const send = async (user: string, thread: string, text: string) => {
    const accepted = await server.app.intake.accept({ channel: 'test', externalUserId: user, threadKey: thread, text });
    const reply = await waitFor(() => transport.replies.find((entry) => entry.messageId === accepted.messageId), `the reply to "${text}"`);
    const rows = await listMessages(server.app.database.db, accepted.conversationId);
    return {
      accepted,
      reply,
      user: rows.find((row) => row.id === accepted.messageId)!,
      assistant: rows.find((row) => row.replyToId === accepted.messageId)!,
    };
  };
  return { server, transport, send };
}

/** Counts the budget statements an app runs: the store's own method, called through (not replaced). */
function countSpendStatements(server: RunningApp) {
  const spend = server.app.store.spend;
  const around = spend.around.bind(spend);
  const counter = { calls: 0, restore: () => void (spend.around = around) };
  spend.around = (...args) => {
    counter.calls += 1;
    return around(...args);
  };
  return counter;
}

const refusals = async (server: RunningApp, scope: string) => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = text.match(new RegExp(`^switchboard_budget_refusals_total\\{scope="${scope}"\\} (\\d+)`, 'm'));
  return match ? Number(match[1]) : 0;
};

describe('settings', () => {
  it('reads BUDGET_*_USD as USD limits (unset: none), and has no guard, so no statement, when no limit is set', () => {
    const unset = loadConfig({});
    expect([unset.BUDGET_CONVERSATION_USD, unset.BUDGET_USER_DAILY_USD, unset.BUDGET_GLOBAL_DAILY_USD]).toEqual([undefined, undefined, undefined]);
    expect(unset.HANDOFF_ON_BUDGET).toBe(false);
    const deps = { store: {} as never, events: new PipelineEvents(createLogger({ level: 'silent' })) };
    expect(BudgetGuard.from({ ...deps, settings: budgetSettingsFrom(unset) })).toBeUndefined();
    const set = loadConfig({ BUDGET_USER_DAILY_USD: '2.5', BUDGET_GLOBAL_DAILY_USD: '0', BUDGET_CONVERSATION_USD: '' });
    expect([set.BUDGET_CONVERSATION_USD, set.BUDGET_USER_DAILY_USD, set.BUDGET_GLOBAL_DAILY_USD]).toEqual([undefined, 2.5, 0]);
    expect(BudgetGuard.from({ ...deps, settings: budgetSettingsFrom(set) })).toBeInstanceOf(BudgetGuard);
    expect(() => loadConfig({ BUDGET_USER_DAILY_USD: '-1' })).toThrow(/BUDGET_USER_DAILY_USD/);
    expect(() => loadConfig({ BUDGET_CONVERSATION_USD: 'ten dollars' })).toThrow(/BUDGET_CONVERSATION_USD/);
  });
});

describe('BUDGET_CONVERSATION_USD', () => {
  let openai: FakeProviderServer;
  let app: Awaited<ReturnType<typeof startBudgetApp>>;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    app = await startBudgetApp(openai, { BUDGET_CONVERSATION_USD: '2' });
  });
  afterEach(() => openai.reset());
  afterAll(async () => {
    await app?.server.stop();
    await openai?.close();
  });

  it('lets turns under the limit through and answers the one at the limit with BUDGET_REPLY, without a model request', async () => {
    openai.setResponder(() => ({ text: 'an answer', usage: ONE_DOLLAR }));
    const spend = countSpendStatements(app.server);
    const { socket, session } = await connectClient(app.server.url);
    try {
      expect((await sendAndCollect(socket, 'first')).reply.done.text).toBe('an answer');
      expect((await sendAndCollect(socket, 'second')).reply.done.text).toBe('an answer');
      expect(openai.requests).toHaveLength(2);
      // One statement per turn checks the budgets.
      expect(spend.calls).toBe(2);
      spend.restore();

      const { reply } = await sendAndCollect(socket, 'third');

      // The person gets a clear reply, not the fallback's "assistant unavailable".
      expect(reply.done).toMatchObject({ text: BUDGET_REPLY, fallback: false, cached: false, toolCalls: [] });
      expect(openai.requests).toHaveLength(2);
      const rows = await listMessages(app.server.app.database.db, session.conversationId);
      expect(rows.map((row) => [row.role, row.text, row.status])).toEqual([
        ['user', 'first', 'answered'],
        ['assistant', 'an answer', 'answered'],
        ['user', 'second', 'answered'],
        ['assistant', 'an answer', 'answered'],
        ['user', 'third', 'answered'],
        ['assistant', BUDGET_REPLY, 'answered'],
      ]);
      // The record says which budget refused it; the refused turn cost nothing.
      expect(rows[4]).toMatchObject({ fallback: false, fallbackReason: 'budget:conversation', provider: null });
      expect(rows[5]).toMatchObject({ fallbackReason: 'budget:conversation', costUsd: null, inputTokens: null });
      expect(rows[1]!.costUsd).toBe(1);
      expect(rows[3]!.costUsd).toBe(1);
      expect(await refusals(app.server, 'conversation')).toBe(1);
    } finally {
      socket.disconnect();
    }
  });

  it('is per conversation: a new conversation still goes to the model', async () => {
    openai.setResponder(() => ({ text: 'fresh answer', usage: ONE_DOLLAR }));
    const { socket } = await connectClient(app.server.url);
    try {
      expect((await sendAndCollect(socket, 'hello')).reply.done.text).toBe('fresh answer');
      expect(openai.requests).toHaveLength(1);
    } finally {
      socket.disconnect();
    }
  });

  it('stops a turn that spends the rest of its budget before its next model call, and says why', async () => {
    openai.push(
      { text: 'Checking.', toolCalls: [{ id: 'call_a', name: 'lookup_order', arguments: { orderId: 'ord_1' } }], usage: ONE_DOLLAR },
      { text: 'Checking the other one.', toolCalls: [{ id: 'call_b', name: 'lookup_order', arguments: { orderId: 'ord_2' } }], usage: ONE_DOLLAR },
      { text: 'never asked' },
    );
    const { send } = app;

    const { user, assistant, reply } = await send('tess', 'loop', 'where are my orders?');

    expect(openai.requests).toHaveLength(2);
    expect(reply.text).toBe(`Checking.\n\nChecking the other one.\n\n${BUDGET_REPLY}`);
    expect(reply.toolCalls).toEqual([
      { name: 'lookup_order', status: 'ok' },
      { name: 'lookup_order', status: 'ok' },
    ]);
    expect(user).toMatchObject({ status: 'answered', fallbackReason: 'budget:conversation' });
    expect(assistant.costUsd).toBe(2);

    // The next message of that conversation is refused outright.
    const next = await send('tess', 'loop', 'and now?');
    expect(next.reply.text).toBe(BUDGET_REPLY);
    expect(openai.requests).toHaveLength(2);
    expect(await refusals(app.server, 'conversation')).toBe(3);
  });
});

describe('BUDGET_USER_DAILY_USD', () => {
  let openai: FakeProviderServer;
  let app: Awaited<ReturnType<typeof startBudgetApp>>;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    app = await startBudgetApp(openai, {
      BUDGET_USER_DAILY_USD: '2',
      BUDGET_REPLY_BY_CHANNEL: JSON.stringify({ test: 'Daily limit reached for this chat.' }),
      // Fallback-answered messages stay with the agent here, so their follow-ups are pending.
      HANDOFF_ON_FALLBACK: 'false',
    });
  });
  afterEach(() => openai.reset());
  afterAll(async () => {
    await app?.server.stop();
    await openai?.close();
  });

  it('counts a person over all their conversations, refuses at the limit, and never refuses someone else', async () => {
    openai.setResponder(() => ({ text: 'ok', usage: ONE_DOLLAR }));
    const { send } = app;
    expect((await send('alice', 'thread-1', 'one')).reply.text).toBe('ok');
    expect((await send('alice', 'thread-2', 'two')).reply.text).toBe('ok');

    const refused = await send('alice', 'thread-3', 'three');

    expect(refused.reply.text).toBe('Daily limit reached for this chat.');
    expect(refused.user).toMatchObject({ status: 'answered', fallbackReason: 'budget:user_daily' });
    expect(openai.requests).toHaveLength(2);
    // Another person of the same channel, and the same user id on another channel, are not refused.
    expect((await send('bob', 'thread-1', 'hi')).reply.text).toBe('ok');
    const elsewhere = await app.server.app.intake.accept({ channel: 'web-embed', externalUserId: 'alice', text: 'hi from elsewhere' });
    await waitFor(async () => (await listMessages(app.server.app.database.db, elsewhere.conversationId)).length === 2, 'the other channel’s answer');
    expect(openai.requests).toHaveLength(4);
    expect(await refusals(app.server, 'user_daily')).toBe(1);
  });

  it('starts again on the next UTC day', async () => {
    openai.setResponder(() => ({ text: 'a new day', usage: ONE_DOLLAR }));
    const { send } = app;
    expect((await send('alice', 'thread-3', 'still refused?')).reply.text).toBe('Daily limit reached for this chat.');
    const db = app.server.app.database.db;
    // What alice spent is moved to yesterday, as the clock would have moved it.
    const theirs = db.select({ id: conversations.id }).from(conversations).where(sql`${conversations.channel} = 'test' and ${conversations.externalUserId} = 'alice'`);
    await db.update(messages).set({ createdAt: sql`${messages.createdAt} - interval '1 day'` }).where(inArray(messages.conversationId, theirs));

    expect((await send('alice', 'thread-3', 'still there?')).reply.text).toBe('a new day');
    expect(openai.requests).toHaveLength(1);
  });

  it('keeps a follow-up from the model when the person’s budget is spent, and answers another person’s', async () => {
    const { send, server } = app;
    // carol's first message gets the fallback reply (the provider fails) and waits for a follow-up.
    openai.push({ error: { status: 500 } });
    const pending = await send('carol', 'thread-1', 'are you there?');
    expect(pending.user).toMatchObject({ status: 'fallback', followUp: 'pending' });
    // Then she spends her day's budget in another conversation.
    openai.setResponder(() => ({ text: 'ok', usage: ONE_DOLLAR }));
    await send('carol', 'thread-2', 'one');
    await send('carol', 'thread-3', 'two');
    // dave's message also waits for a follow-up; his budget is untouched.
    openai.push({ error: { status: 500 } });
    const daves = await send('dave', 'thread-1', 'hello?');
    expect(daves.user.followUp).toBe('pending');
    const before = openai.requests.length;
    openai.setResponder(() => ({ text: 'the proper answer', usage: ONE_DOLLAR }));

    await server.app.spine.followUps.runPass();

    // One model request: dave's follow-up. carol's is dropped (she has the fallback reply).
    expect(openai.requests).toHaveLength(before + 1);
    const [carols] = await server.app.database.db.select().from(messages).where(eq(messages.id, pending.accepted.messageId));
    expect(carols!.followUp).toBe('skipped');
    const [davesNow] = await server.app.database.db.select().from(messages).where(eq(messages.id, daves.accepted.messageId));
    expect(davesNow!.followUp).toBe('answered');
    expect(app.transport.replies.filter((reply) => reply.messageId === daves.accepted.messageId).map((reply) => reply.text)).toEqual([
      expect.stringContaining('Sorry'),
      'the proper answer',
    ]);
    expect(await refusals(server, 'user_daily')).toBe(3);
  });
});

describe('BUDGET_GLOBAL_DAILY_USD with HANDOFF_ON_BUDGET', () => {
  let openai: FakeProviderServer;
  let app: Awaited<ReturnType<typeof startBudgetApp>>;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    app = await startBudgetApp(openai, { BUDGET_GLOBAL_DAILY_USD: '2', HANDOFF_ON_BUDGET: 'true', HANDOFF_NOTICE: 'A person will join.' });
  });
  afterAll(async () => {
    await app?.server.stop();
    await openai?.close();
  });

  it('refuses everyone once the day’s spend reaches the limit, and hands the conversation to the inbox', async () => {
    openai.setResponder(() => ({ text: 'ok', usage: ONE_DOLLAR }));
    const { send, server, transport } = app;
    await send('p1', 't', 'one');
    await send('p2', 't', 'two');

    const refused = await send('p3', 't', 'three');

    expect(openai.requests).toHaveLength(2);
    expect(refused.reply.text).toBe(BUDGET_REPLY);
    expect(refused.user).toMatchObject({ status: 'answered', fallbackReason: 'budget:global_daily' });
    const db = server.app.database.db;
    const conversationId = refused.accepted.conversationId;
    await waitFor(() => transport.replies.some((reply) => reply.conversationId === conversationId && reply.author === 'system'), 'the handoff notice');
    expect(transport.replies.filter((reply) => reply.conversationId === conversationId).map((reply) => [reply.author, reply.text])).toEqual([
      ['agent', BUDGET_REPLY],
      ['system', 'A person will join.'],
    ]);
    const [handoff] = await db.select().from(handoffs).where(eq(handoffs.conversationId, conversationId));
    expect(handoff).toMatchObject({ status: 'waiting', reason: 'budget', messageId: refused.accepted.messageId });
    const [conversation] = await db.select().from(conversations).where(eq(conversations.id, conversationId));
    expect(conversation!.mode).toBe('human');

    // Their next message waits for the person from the team; nothing goes to the model.
    const next = await server.app.intake.accept({ channel: 'test', externalUserId: 'p3', threadKey: 't', text: 'hello?' });
    await waitFor(async () => (await db.select().from(messages).where(eq(messages.id, next.messageId)))[0]?.status === 'human', 'the held message');
    expect(openai.requests).toHaveLength(2);
    expect(await refusals(server, 'global_daily')).toBe(1);
  });
});

describe('no budget set', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    server = await startTestApp({ OPENAI_API_KEY: 'sk-openai-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', MODEL_PRICES: PRICES });
  });
  afterAll(async () => {
    await server?.stop();
    await openai?.close();
  });

  it('runs no budget statement per turn', async () => {
    const spend = countSpendStatements(server);
    openai.setResponder(() => ({ text: 'ok', usage: ONE_DOLLAR }));
    const { socket } = await connectClient(server.url);
    try {
      for (const text of ['one', 'two', 'three']) expect((await sendAndCollect(socket, text)).reply.done.text).toBe('ok');
    } finally {
      socket.disconnect();
    }
    expect(spend.calls).toBe(0);
    spend.restore();
  });
});

describe('on the embedded database (PGlite)', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    server = await startTestApp(
      { OPENAI_API_KEY: 'sk-openai-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', MODEL_PRICES: PRICES, BUDGET_REPLY, BUDGET_CONVERSATION_USD: '1', BUDGET_USER_DAILY_USD: '10', BUDGET_GLOBAL_DAILY_USD: '10' },
      { embedded: true },
    );
  });
  afterAll(async () => {
    await server?.stop();
    await openai?.close();
  });

  it('stores the cost and refuses at the limit the same way', async () => {
    openai.setResponder(() => ({ text: 'ok', usage: ONE_DOLLAR }));
    const { socket, session } = await connectClient(server.url);
    try {
      expect((await sendAndCollect(socket, 'one')).reply.done.text).toBe('ok');
      expect((await sendAndCollect(socket, 'two')).reply.done.text).toBe(BUDGET_REPLY);
    } finally {
      socket.disconnect();
    }
    expect(openai.requests).toHaveLength(1);
    const rows = await listMessages(server.app.database.db, session.conversationId);
    expect(rows.map((row) => [row.role, row.costUsd, row.fallbackReason])).toEqual([
      ['user', null, null],
      ['assistant', 1, null],
      ['user', null, 'budget:conversation'],
      ['assistant', null, 'budget:conversation'],
    ]);
  });
});
