import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '../src/errors/index.js';
import { conversations, messages } from '../src/store/schema.js';
import type { FinishedReply, ReplyTarget, ReplyTransport } from '../src/turn/reply-transport.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { REDIS_TEST_URL } from './helpers/test-database.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Turns per workspace, end to end through the real intake, queue, agent and OpenAI SDK (the fake
 * OpenAI servers record each request): each workspace's settings (system prompt, fallback text),
 * its own provider key, its reply cache, rate limits and budgets, and fair placement under load.
 */

const MASTER_KEY = randomBytes(32).toString('base64');
const PRICES = JSON.stringify({ 'gpt-4o-mini': { input: 500, output: 1000 } });

/** The `test` channel of an embedder: what the spine asks it to deliver, per conversation. */
class RecordingTransport implements ReplyTransport {
  readonly channel = 'test';
  readonly replies: (FinishedReply & { conversationId: string; at: number })[] = [];
  async done(target: ReplyTarget, reply: FinishedReply): Promise<void> {
    this.replies.push({ ...reply, conversationId: target.conversation.id, at: performance.now() });
  }
  replyTo(conversationId: string) {
    return this.replies.find((reply) => reply.conversationId === conversationId);
  }
}

const systemOf = (body: { messages: { role: string; content: unknown }[] }) => body.messages.find((message) => message.role === 'system')?.content;
const lastUser = (body: { messages: { role: string; content: unknown }[] }) => body.messages.filter((message) => message.role === 'user').at(-1)?.content;

describe('turns per workspace: settings, credentials, cache, limits, budgets', () => {
  let deployment: FakeProviderServer;
  let own: FakeProviderServer;
  let server: RunningApp;
  let transport: RecordingTransport;
  let acme: string;
  let globex: string;

  beforeAll(async () => {
    deployment = await startFakeOpenAIServer();
    own = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-deployment',
      OPENAI_BASE_URL: deployment.url,
      LLM_PROVIDERS: 'openai',
      LLM_RETRIES: '0',
      REDIS_URL: REDIS_TEST_URL,
      CACHE_TTL_S: '60',
      CACHE_LOCAL_TTL_MS: '0',
      SECRETS_MASTER_KEY: MASTER_KEY,
      MODEL_PRICES: PRICES,
      FOLLOW_UP_INTERVAL_MS: '86400000',
    });
    transport = new RecordingTransport();
    server.app.transports.register(transport);
    const { workspaceRecords, workspaces, credentials } = server.app;
    acme = (
      await workspaceRecords.create({
        slug: 'acme',
        name: 'Acme',
        settings: { SYSTEM_PROMPT: 'You are Acme support.', RATE_LIMIT_USER_PER_MINUTE: '2', BUDGET_GLOBAL_DAILY_USD: '1', BUDGET_REPLY: 'Acme is out of budget today.' },
      })
    ).id;
    globex = (await workspaceRecords.create({ slug: 'globex', name: 'Globex' })).id;
    // Globex brings its own OpenAI key (and endpoint): its turns never use the deployment's.
    await credentials.put(globex, 'openai', { OPENAI_API_KEY: 'sk-globex-own', OPENAI_BASE_URL: own.url });
    await workspaces.changed();
  });

  afterAll(async () => {
    await server?.stop();
    await deployment?.close();
    await own?.close();
  });

  async function ask(workspaceId: string | undefined, user: string, text: string) {
    const accepted = await server.app.intake.accept({ ...(workspaceId && { workspaceId }), channel: 'test', externalUserId: user, text });
    await waitFor(() => transport.replyTo(accepted.conversationId), 'the reply', 10_000);
    return { ...accepted, reply: transport.replyTo(accepted.conversationId)! };
  }

  it('stores each conversation in its workspace, and the same person in two workspaces is two conversations', async () => {
    const inDefault = await ask(undefined, 'same-person', 'hello from default');
    const inGlobex = await ask(globex, 'same-person', 'hello from globex');
    expect(inDefault.conversationId).not.toBe(inGlobex.conversationId);
    const rows = await server.app.database.db.select({ id: conversations.id, workspaceId: conversations.workspaceId }).from(conversations).where(eq(conversations.externalUserId, 'same-person'));
    expect(Object.fromEntries(rows.map((row) => [row.id, row.workspaceId]))).toEqual({ [inDefault.conversationId]: 'default', [inGlobex.conversationId]: globex });
    // Every row under the conversation carries its workspace (the trigger), the assistant's reply included.
    const stored = await server.app.database.db.select({ workspaceId: messages.workspaceId }).from(messages).where(eq(messages.conversationId, inGlobex.conversationId));
    expect(stored.map((row) => row.workspaceId)).toEqual([globex, globex]);
  });

  it("uses the workspace's system prompt, and its own provider key and endpoint", async () => {
    deployment.reset();
    own.reset();
    await ask(acme, 'p-prompt', 'what is your name?');
    expect(deployment.requests).toHaveLength(1);
    expect(systemOf(deployment.requests[0]!.body)).toBe('You are Acme support.');
    expect(deployment.requests[0]!.headers.authorization).toBe('Bearer sk-deployment');

    await ask(globex, 'p-key', 'who pays for me?');
    expect(deployment.requests).toHaveLength(1);
    expect(own.requests).toHaveLength(1);
    expect(own.requests[0]!.headers.authorization).toBe('Bearer sk-globex-own');
    expect(systemOf(own.requests[0]!.body)).not.toBe('You are Acme support.');
  });

  it('sees a settings change at once (the cache is dropped on change)', async () => {
    await server.app.workspaceRecords.update(acme, { settings: { SYSTEM_PROMPT: 'You are Acme, version two.', RATE_LIMIT_USER_PER_MINUTE: '2', BUDGET_GLOBAL_DAILY_USD: '1', BUDGET_REPLY: 'Acme is out of budget today.' } });
    await server.app.workspaces.changed();
    deployment.reset();
    await ask(acme, 'p-changed', 'and now?');
    expect(systemOf(deployment.requests[0]!.body)).toBe('You are Acme, version two.');
  });

  it("never answers one workspace's first message from another workspace's reply cache", async () => {
    deployment.reset();
    own.reset();
    const first = await ask(undefined, 'cache-a', 'What are your opening hours?');
    const again = await ask(undefined, 'cache-b', 'What are your opening hours?');
    expect(first.reply.cached).toBe(false);
    expect(again.reply.cached).toBe(true);
    expect(deployment.requests).toHaveLength(1);
    // The same first question in Globex goes to Globex's model.
    const globexFirst = await ask(globex, 'cache-c', 'What are your opening hours?');
    expect(globexFirst.reply.cached).toBe(false);
    expect(own.requests.map((request) => lastUser(request.body))).toEqual(['What are your opening hours?']);
  });

  it("counts rate limits per workspace: Acme's limit of 2 per person does not touch the same person elsewhere", async () => {
    await ask(acme, 'flooder', 'one');
    await ask(acme, 'flooder', 'two');
    const third = server.app.intake.accept({ workspaceId: acme, channel: 'test', externalUserId: 'flooder', text: 'three' });
    await expect(third).rejects.toBeInstanceOf(SwitchboardError);
    await expect(third).rejects.toMatchObject({ code: 'rate_limited' });
    // The deployment's limit (20 per minute) for the same person id in the default workspace and in Globex.
    for (const workspaceId of [undefined, globex]) {
      for (const text of ['one', 'two', 'three']) await ask(workspaceId, 'flooder', `${text} ${workspaceId ?? 'default'}`);
    }
  });

  it("spends budgets per workspace: Acme's spent daily budget refuses Acme's turns only", async () => {
    // Every call costs $1 (1000 input tokens at $500 and 500 output at $1000 per million).
    deployment.setResponder(() => ({ text: 'A paid answer.', usage: { inputTokens: 1000, outputTokens: 500 } }));
    try {
      const paid = await ask(acme, 'budget-1', 'first paid question');
      expect(paid.reply.text).toBe('A paid answer.');
      const refused = await ask(acme, 'budget-2', 'second paid question');
      expect(refused.reply.text).toBe('Acme is out of budget today.');
      const [row] = await server.app.database.db.select({ reason: messages.fallbackReason }).from(messages).where(eq(messages.id, refused.messageId));
      expect(row?.reason).toBe('budget:global_daily');
      // The default workspace (no budget) still pays for its answers.
      const elsewhere = await ask(undefined, 'budget-3', 'third paid question');
      expect(elsewhere.reply.text).toBe('A paid answer.');
    } finally {
      deployment.setResponder(undefined);
    }
  });

  it('counts messages, cost and budget refusals per workspace on /metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(new RegExp(`switchboard_workspace_messages_total\\{workspace="${acme}",outcome="answered"\\} \\d+`));
    expect(text).toMatch(new RegExp(`switchboard_workspace_messages_total\\{workspace="${globex}",outcome="accepted"\\} \\d+`));
    expect(text).toMatch(new RegExp(`switchboard_workspace_budget_refusals_total\\{workspace="${acme}",scope="global_daily"\\} 1`));
    expect(text).toMatch(new RegExp(`switchboard_workspace_llm_cost_usd_total\\{workspace="${acme}"\\} 1`));
    expect(text).not.toMatch(new RegExp(`switchboard_workspace_budget_refusals_total\\{workspace="default"`));
  });

  it("answers with the workspace's fallback text when its provider fails", async () => {
    await server.app.workspaceRecords.update(globex, { settings: { FALLBACK_REPLY: 'Globex is having trouble; we will get back to you.' } });
    await server.app.workspaces.changed();
    own.push({ error: { status: 500 } }, { error: { status: 500 } }, { error: { status: 500 } });
    const failed = await ask(globex, 'p-fallback', 'are you there?');
    expect(failed.reply.fallback).toBe(true);
    expect(failed.reply.text).toBe('Globex is having trouble; we will get back to you.');
  });
});

describe("the default workspace's own settings", () => {
  it('are used from the first turn after a start, not only after a change', async () => {
    const provider = await startFakeOpenAIServer();
    const env = { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: provider.url, LLM_PROVIDERS: 'openai', LLM_RETRIES: '0' };
    const first = await startTestApp(env);
    try {
      // Written by an earlier process (the console), before this one starts.
      await first.app.workspaceRecords.update('default', { settings: { SYSTEM_PROMPT: 'You are the default shop, as set in the console.' } });
      await first.app.close();
      const second = await startTestApp({ ...env, DATABASE_URL: first.database!.url });
      try {
        const transport = new RecordingTransport();
        second.app.transports.register(transport);
        const accepted = await second.app.intake.accept({ channel: 'test', externalUserId: 'after-restart', text: 'hello' });
        await waitFor(() => transport.replyTo(accepted.conversationId), 'the reply', 10_000);
        expect(systemOf(provider.requests.at(-1)!.body)).toBe('You are the default shop, as set in the console.');
      } finally {
        await second.app.close();
      }
    } finally {
      await first.database?.drop();
      await provider.close();
    }
  });
});

describe('metrics per workspace', () => {
  it('labels a few series by workspace, bounded: past METRICS_WORKSPACE_LABELS workspaces share `other`', async () => {
    const { Metrics } = await import('../src/observability/metrics.js');
    const metrics = new Metrics(2);
    expect(['default', 'ws_a', 'ws_b', 'ws_a', undefined].map((id) => metrics.workspaceLabel(id))).toEqual(['default', 'ws_a', 'other', 'ws_a', 'default']);
  });
});

describe('fair turn placement between workspaces', () => {
  let provider: FakeProviderServer;
  let server: RunningApp;
  let transport: RecordingTransport;

  beforeAll(async () => {
    provider = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: provider.url,
      LLM_PROVIDERS: 'openai',
      LLM_RETRIES: '0',
      REDIS_URL: REDIS_TEST_URL,
      QUEUE_CONCURRENCY: '4',
      CACHE_TTL_S: '0',
      RATE_LIMIT_USER_PER_MINUTE: '0',
    });
    transport = new RecordingTransport();
    server.app.transports.register(transport);
  });

  afterAll(async () => {
    await server?.stop();
    await provider?.close();
  });

  it("answers a quiet workspace's message while a busy one's backlog waits", async () => {
    const busy = (await server.app.workspaceRecords.create({ slug: 'busy', name: 'Busy' })).id;
    const quiet = (await server.app.workspaceRecords.create({ slug: 'quiet', name: 'Quiet' })).id;
    await server.app.workspaces.changed();
    // Each answer takes 300 ms: with 4 slots, the busy workspace's 24 turns take 1.8 s at best.
    provider.setResponder((body) => ({ text: `answer to ${String(lastUser(body))}`, delayMs: 300 }));
    const flood = await Promise.all(
      Array.from({ length: 24 }, (_, index) => server.app.intake.accept({ workspaceId: busy, channel: 'test', externalUserId: `busy-${index}`, text: `busy ${index}` })),
    );
    const started = performance.now();
    const calm = await server.app.intake.accept({ workspaceId: quiet, channel: 'test', externalUserId: 'quiet-1', text: 'quiet question' });
    await waitFor(() => transport.replyTo(calm.conversationId), 'the quiet reply', 15_000);
    const quietAnsweredIn = transport.replyTo(calm.conversationId)!.at - started;
    await waitFor(() => flood.every((accepted) => transport.replyTo(accepted.conversationId) !== undefined) || undefined, 'every busy reply', 30_000);
    const busyAnsweredAfterQuiet = flood.filter((accepted) => transport.replyTo(accepted.conversationId)!.at > transport.replyTo(calm.conversationId)!.at).length;
    // FIFO would put the quiet message behind all 24 (about 1.8 s); fair placement answers it within about one turn.
    expect(quietAnsweredIn).toBeLessThan(1200);
    expect(busyAnsweredAfterQuiet).toBeGreaterThanOrEqual(12);
  });
});
