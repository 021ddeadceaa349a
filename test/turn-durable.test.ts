/**
 * A turn is durable step by step: the real server as a child process is killed (SIGKILL) after
 * a tool ran and before the reply was stored, and started again. The model draws a fresh
 * tool-call id on every call, as real models do. Each backend must end with one external call
 * (one Stripe Checkout Session), one `ok` tool-call row, and the real answer, not the fallback.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lastUserText, startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_STRIPE_SECRET_KEY, startFakeStripeServer, type FakeStripeServer } from './fakes/fake-stripe-server.js';
import { startAppProcess, type AppProcess } from './helpers/app-process.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/private-redis.js';
import { connectClient } from './helpers/test-app.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

const ADMIN_TOKEN = 'durable-admin-token-0123456789abcdef';

interface Backend {
  name: string;
  env(): Promise<Record<string, string>>;
  cleanup(): Promise<void>;
}

let redis: PrivateRedis | undefined;
let database: TestDatabase | undefined;
let dataDir: string | undefined;

const backends: Backend[] = [
  {
    name: 'BullMQ on Redis, PostgreSQL',
    async env() {
      [redis, database] = await Promise.all([startPrivateRedis(), createTestDatabase()]);
      return { DATABASE_URL: database.url, REDIS_URL: redis.url, REDIS_PREFIX: `durable-${randomBytes(4).toString('hex')}`, QUEUE_LOCK_MS: '1000' };
    },
    async cleanup() {
      await redis?.kill();
      await database?.drop();
    },
  },
  {
    name: 'the in-process queue, PGlite',
    async env() {
      dataDir = await mkdtemp(join(tmpdir(), 'sb-durable-'));
      return { DATA_DIR: dataDir };
    },
    async cleanup() {
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  },
];

describe.each(backends)('a turn killed after its tool ran, on $name', (backend) => {
  let openai: FakeProviderServer | undefined;
  let stripe: FakeStripeServer | undefined;
  const processes: AppProcess[] = [];

  afterEach(async () => {
    await Promise.allSettled(processes.map((child) => child.kill()));
    await Promise.all([openai?.close(), stripe?.close()]);
    await backend.cleanup();
  });

  it('runs the tool once and answers for real once the turn can complete', async () => {
    [openai, stripe] = await Promise.all([startFakeOpenAIServer(), startFakeStripeServer()]);
    let answersAsked = 0;
    openai.setResponder((body) => {
      const sawTool = (body.messages as { role: string }[]).some((message) => message.role === 'tool');
      if (!sawTool) {
        // A real model: a new call id every time it is asked.
        return { toolCalls: [{ id: `call_${randomUUID()}`, name: 'create_checkout_link', arguments: { amount: 49.99, currency: 'USD', description: 'Pro plan' } }] };
      }
      const toolResult = JSON.parse((body.messages as { role: string; content: string }[]).filter((message) => message.role === 'tool').at(-1)!.content);
      // The first answer never arrives: the process dies while it waits.
      return { text: `Pay here: ${toolResult.url}`, ...(++answersAsked === 1 && { delayMs: 60_000 }) };
    });
    const env = {
      ...(await backend.env()),
      OPENAI_API_KEY: 'sk-test-durable',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      LLM_FIRST_TOKEN_TIMEOUT_MS: '60000',
      FALLBACK_AFTER_MS: '60000',
      STRIPE_SECRET_KEY: FAKE_STRIPE_SECRET_KEY,
      STRIPE_API_URL: stripe.url,
      PUBLIC_URL: 'https://shop.example.com',
      ADMIN_TOKEN,
      // The restarted process takes over every unfinished message at once.
      LEDGER_RECOVERY_AFTER_MS: '0',
    };
    const first = await startAppProcess(env);
    processes.push(first);
    const { socket, session } = await connectClient(first.url);
    const ack = await socket.timeout(5000).emitWithAck('message', { text: 'I want the pro plan', clientMessageId: 'durable-1' });
    expect(ack).toMatchObject({ ok: true });
    // The tool ran (one session) and the turn is waiting for the model's answer: crash now.
    const deadline = Date.now() + 15_000;
    while (!(stripe.sessions.length === 1 && answersAsked === 1) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(stripe.sessions).toHaveLength(1);
    socket.disconnect();
    await first.kill();

    const second = await startAppProcess(env);
    processes.push(second);
    const transcript = async () => {
      const response = await fetch(`${second.url}/api/admin/conversations/${session.conversationId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return (await response.json()) as { messages: { role: string; text: string; fallback: boolean; status?: string; toolCalls: { toolName: string; status: string }[] }[] };
    };
    let body = await transcript();
    const until = Date.now() + 20_000;
    while (!body.messages.some((message) => message.role === 'assistant') && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      body = await transcript();
    }
    const [question, answer] = body.messages;
    expect(answer).toMatchObject({ role: 'assistant', fallback: false, text: `Pay here: ${stripe.sessions[0]!.url}` });
    expect(question!.toolCalls.map((call) => [call.toolName, call.status])).toEqual([['create_checkout_link', 'ok']]);
    expect(stripe.sessions).toHaveLength(1);
    expect(stripe.requests.filter((request) => request.method === 'POST')).toHaveLength(1);
    // The recorded step was replayed: the model was asked for the tool call once, and for the answer twice.
    const askedForTool = openai.requests.filter((request) => !request.body.messages.some((message: { role: string }) => message.role === 'tool'));
    expect(askedForTool).toHaveLength(1);
    expect(answersAsked).toBe(2);
    expect(lastUserText(askedForTool[0]!.body)).toBe('I want the pro plan');
  });
});
