/**
 * The turn spine without the app: intake → queue → runner → agent → tools → the one delivery
 * path, on real PostgreSQL, with an in-memory implementation of our own ChatModel interface
 * (not a module mock) and a transport that records what a channel would be asked to send.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ChatModel, ChatRequest, ChatStreamEvent } from '../src/agent/chat-model.js';
import { ModelChain } from '../src/agent/model-chain.js';
import { ProviderError } from '../src/errors/index.js';
import { loadConfig } from '../src/config/config.js';
import { buildInfra } from '../src/infra/build-infra.js';
import { InProcessTurnQueue } from '../src/infra/in-process-turn-queue.js';
import { PipelineEvents } from '../src/observability/events.js';
import { createLogger } from '../src/observability/logger.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { createStore, type Store } from '../src/store/index.js';
import { ApprovalPolicy } from '../src/tools/approval.js';
import { defineTool, type AnyTool, type ToolContext } from '../src/tools/tool.js';
import { ToolPolicy } from '../src/tools/tool-policy.js';
import { ToolRegistry } from '../src/tools/tool-registry.js';
import type { ConfirmationRequest, ConfirmationResolution, FinishedReply, ReplyTarget, ReplyTransport } from '../src/turn/reply-transport.js';
import { createSpine, type Spine } from '../src/turn/spine.js';
import { listMessages, listToolCalls } from './helpers/store-queries.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';
import { waitFor } from './helpers/wait-for.js';

const logger = createLogger({ level: 'silent' });

/** Answers from a script, one entry per model call; a function entry may throw or inspect the request. */
class ScriptedModel implements ChatModel {
  readonly provider = 'openai' as const;
  readonly model = 'scripted';
  readonly requests: ChatRequest[] = [];
  constructor(private readonly script: Array<ChatStreamEvent[] | ((request: ChatRequest) => ChatStreamEvent[])>) {}
  async *stream(request: ChatRequest): AsyncIterable<ChatStreamEvent> {
    this.requests.push(request);
    const next = this.script.shift();
    if (!next) throw new ProviderError({ provider: this.provider, kind: 'server', message: 'script exhausted', status: 500 });
    for (const event of typeof next === 'function' ? next(request) : next) yield event;
  }
}

const say = (text: string): ChatStreamEvent[] => [
  { type: 'text-delta', delta: text },
  { type: 'finish', reason: 'stop', usage: { inputTokens: 3, outputTokens: 2 } },
];
const callTool = (name: string, args: unknown, id = `call_${name}`): ChatStreamEvent[] => [
  { type: 'tool-call', call: { id, name, arguments: JSON.stringify(args) } },
  { type: 'finish', reason: 'tool-calls', usage: { inputTokens: 3, outputTokens: 2 } },
];
const down = (): ChatStreamEvent[] => {
  throw new ProviderError({ provider: 'openai', kind: 'auth', message: 'invalid key', status: 401 });
};

class RecordingTransport implements ReplyTransport {
  readonly channel = 'test';
  readonly replies: FinishedReply[] = [];
  readonly deltas: string[] = [];
  readonly questions: ConfirmationRequest[] = [];
  readonly resolutions: ConfirmationResolution[] = [];
  delta(_target: ReplyTarget, delta: string): void {
    this.deltas.push(delta);
  }
  async done(_target: ReplyTarget, reply: FinishedReply): Promise<void> {
    this.replies.push(reply);
  }
  async requestConfirmation(_target: ReplyTarget, request: ConfirmationRequest): Promise<void> {
    this.questions.push(request);
  }
  async confirmationResolved(_target: ReplyTarget, resolution: ConfirmationResolution): Promise<void> {
    this.resolutions.push(resolution);
  }
}

describe('turn spine (no app)', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let store: Store;
  let spine: Spine | undefined;

  beforeAll(async () => {
    testDatabase = await createTestDatabase();
    database = await openDatabase({ url: testDatabase.url, dataDir: '/nonexistent' });
    await database.migrate();
    store = createStore(database.db);
  });

  afterEach(async () => {
    await spine?.drain(1000);
    spine = undefined;
  });

  afterAll(async () => {
    await database.close();
    await testDatabase.drop();
  });

  async function build(models: ChatModel[], options: { tools?: AnyTool[]; sensitive?: string[]; followUp?: boolean; attempts?: number } = {}) {
    const events = new PipelineEvents(logger);
    const queue = new InProcessTurnQueue({ attempts: options.attempts ?? 2, backoffMs: 10 }, logger);
    const built = createSpine({
      store,
      chain: new ModelChain(models, logger, { policy: {
        retries: 0,
        maxAttempts: 6,
        retryBaseMs: 1,
        retryMaxDelayMs: 1,
        firstTokenTimeoutMs: 2000,
        attemptTimeoutMs: 5000,
        turnTimeoutMs: 10_000,
        fallbackAfterMs: 5000,
        breaker: { failureRatio: 0.5, windowMs: 30_000, minRequests: 100, halfOpenAfterMs: 15_000 },
      } }),
      tools: new ToolRegistry(options.tools ?? [], new ToolPolicy({})),
      settings: {
        systemPrompt: 'You are a test.',
        maxToolSteps: 4,
        maxMessageChars: 200,
        historyCharBudget: 10_000,
        maxOutputTokens: 100,
        fallbackReply: 'Sorry, try later.',
        followUp: options.followUp ?? false,
      },
      events,
      logger,
      queues: { durable: queue, local: queue },
      approvals: new ApprovalPolicy({ sensitiveTools: new Set(options.sensitive ?? []), ttlMs: 60_000 }),
      toolTimeoutMs: 2000,
      followUpIntervalMs: 60_000,
    });
    const transport = new RecordingTransport();
    built.transports.register(transport);
    const finished: string[] = [];
    events.on('turn.finished', ({ outcome }) => finished.push(outcome.status));
    await built.start(true);
    spine = built;
    return { spine: built, transport, finished };
  }

  let person = 0;
  const inbound = (text: string, externalMessageId?: string) => ({
    channel: 'test',
    externalUserId: `person-${++person}`,
    text,
    ...(externalMessageId && { externalMessageId }),
  });

  it('answers a message once through the one delivery path, and a redelivered job answers nothing again', async () => {
    const model = new ScriptedModel([say('hello there')]);
    const { spine, transport, finished } = await build([model]);
    const accepted = await spine.intake.accept(inbound('hi'));
    await waitFor(() => transport.replies.length === 1, 'the reply');
    expect(transport.replies[0]).toMatchObject({ messageId: accepted.messageId, text: 'hello there', fallback: false });
    expect(transport.deltas.join('')).toBe('hello there');
    // The queue delivering the same job again (a crash after the reply was stored) runs no second turn.
    await spine.runner.run(accepted.messageId);
    expect(model.requests).toHaveLength(1);
    expect(transport.replies).toHaveLength(1);
    expect(finished).toEqual(['answered']);
    const rows = await listMessages(database.db, accepted.conversationId);
    expect(rows.map((row) => [row.role, row.status, row.text])).toEqual([
      ['user', 'answered', 'hi'],
      ['assistant', 'answered', 'hello there'],
    ]);
  });

  it('validates once at intake: a refused message stores nothing, a repeated external id is a duplicate', async () => {
    const { spine, transport } = await build([new ScriptedModel([say('one')])]);
    await expect(spine.intake.accept(inbound('   '))).rejects.toMatchObject({ code: 'empty_message' });
    await expect(spine.intake.accept(inbound('x'.repeat(201)))).rejects.toMatchObject({ code: 'message_too_long' });
    await expect(spine.intake.accept({ channel: '', externalUserId: 'a', text: 'hi' })).rejects.toMatchObject({ code: 'invalid_payload' });
    const message = inbound('hello', 'ext-1');
    const first = await spine.intake.accept(message);
    const again = await spine.intake.accept({ ...message, text: 'hello (resent)' });
    expect(again).toEqual({ ...first, duplicate: true });
    await waitFor(() => transport.replies.length === 1, 'the reply');
    expect(await listMessages(database.db, first.conversationId)).toHaveLength(2);
  });

  it('ends with the fallback reply when every provider fails, and the follow-up answers it properly once one recovers', async () => {
    const model = new ScriptedModel([down, say('the real answer')]);
    const { spine, transport, finished } = await build([model], { followUp: true });
    const accepted = await spine.intake.accept(inbound('are you there?'));
    await waitFor(() => transport.replies.length === 1, 'the fallback');
    expect(transport.replies[0]).toMatchObject({ text: 'Sorry, try later.', fallback: true });
    expect((await store.messages.getMessage(accepted.messageId))!.followUp).toBe('pending');
    await spine.followUps.runPass();
    expect(transport.replies[1]).toMatchObject({ messageId: accepted.messageId, text: 'the real answer', fallback: false });
    expect((await store.messages.getMessage(accepted.messageId))!.followUp).toBe('answered');
    // A second pass finds nothing to answer.
    await spine.followUps.runPass();
    expect(transport.replies).toHaveLength(2);
    expect(finished).toEqual(['fallback']);
  });

  it('a held sensitive call comes back from the executor as data, is shown by the turn, and runs once, through the executor, when confirmed', async () => {
    const runs: ToolContext[] = [];
    const refund = defineTool({
      name: 'refund',
      description: 'Refunds an order.',
      input: z.object({ order: z.string() }),
      confirmation: { summary: (input) => `Refund order ${input.order}.` },
      describeResult: (output: { refunded: string }) => `Refunded ${output.refunded}.`,
      async execute(input, context) {
        runs.push(context);
        return { refunded: input.order };
      },
    });
    const model = new ScriptedModel([callTool('refund', { order: 'A-1' }), say('Please confirm the refund.')]);
    const { spine, transport } = await build([model], { tools: [refund as AnyTool], sensitive: ['refund'] });
    const accepted = await spine.intake.accept(inbound('refund A-1'));
    await waitFor(() => transport.replies.length === 1, 'the turn reply');
    expect(runs).toHaveLength(0);
    expect(transport.questions).toEqual([expect.objectContaining({ messageId: accepted.messageId, toolName: 'refund', summary: 'Refund order A-1.' })]);
    // The model read that nothing has happened yet.
    const toolResult = model.requests[1]!.messages.find((message) => message.role === 'tool');
    expect(toolResult).toMatchObject({ content: expect.stringContaining('awaiting_confirmation') });

    const confirmationId = transport.questions[0]!.confirmationId;
    const outcome = await spine.confirmations.answer(accepted.conversationId, confirmationId, 'confirm');
    expect(outcome).toMatchObject({ status: 'ok', alreadyAnswered: false, text: 'Refunded A-1.' });
    expect(await spine.confirmations.answer(accepted.conversationId, confirmationId, 'confirm')).toMatchObject({ status: 'ok', alreadyAnswered: true });
    expect(runs).toHaveLength(1);
    // The confirmed run listens on the process's shutdown signal, not a signal that can never fire.
    expect(runs[0]!.signal.aborted).toBe(false);
    expect(transport.resolutions).toEqual([{ confirmationId, status: 'ok' }]);
    expect(transport.replies[1]).toMatchObject({ text: 'Refunded A-1.', toolCalls: [{ name: 'refund', status: 'ok' }] });
    const [row] = await listToolCalls(database.db, accepted.conversationId);
    expect(row).toMatchObject({ status: 'ok', confirmationDecision: 'confirmed', result: { refunded: 'A-1' } });
  });

  it('a confirmed call still running at shutdown is aborted when the drain times out', async () => {
    let seen: AbortSignal | undefined;
    const slow = defineTool({
      name: 'slow_export',
      description: 'Exports slowly.',
      input: z.object({}),
      confirmation: { summary: () => 'Export everything.' },
      async execute(_input, context) {
        seen = context.signal;
        await new Promise((_resolve, reject) => context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true }));
      },
    });
    const model = new ScriptedModel([callTool('slow_export', {}), say('Confirm the export, please.')]);
    const built = await build([model], { tools: [slow as AnyTool], sensitive: ['slow_export'] });
    const accepted = await built.spine.intake.accept(inbound('export'));
    await waitFor(() => built.transport.questions.length === 1, 'the question');
    const answering = built.spine.confirmations.answer(accepted.conversationId, built.transport.questions[0]!.confirmationId, 'confirm');
    await waitFor(() => seen, 'the tool to start');
    spine = undefined;
    await built.spine.drain(100);
    expect(seen!.aborted).toBe(true);
    expect(await answering).toMatchObject({ status: 'error' });
    const [row] = await listToolCalls(database.db, accepted.conversationId);
    expect(row!.status).toBe('error');
  });

  it('a turn retried after its reply could not be stored replays its recorded step and runs the tool once, although the model draws a new call id each time', async () => {
    const charges: string[] = [];
    const charge = defineTool({
      name: 'charge',
      description: 'Charges a card.',
      input: z.object({ amount: z.number(), currency: z.string() }),
      async execute(input, context) {
        charges.push(context.idempotencyKey);
        return { charged: input.amount };
      },
    });
    let callNumber = 0;
    // A real model draws a fresh tool-call id on every call, and may order the arguments differently.
    const freshCall = (): ChatStreamEvent[] =>
      callTool('charge', ++callNumber % 2 ? { amount: 49.99, currency: 'usd' } : { currency: 'usd', amount: 49.99 }, `call_${randomUUID()}`);
    // The retry asks the model only for the step after the recorded one (the journal replays step 0).
    const model = new ScriptedModel([freshCall, say('Charged 49.99 USD.'), say('Charged 49.99 USD.')]);
    // The storage edge fails once, for real: PostgreSQL refuses the first assistant reply of this text.
    await database.db.execute(sql`
      create sequence if not exists fail_once;
      create or replace function fail_first_reply() returns trigger language plpgsql as $$
      begin
        -- A sequence, because the failing statement's own writes roll back with it.
        if new.role = 'assistant' and new.text = 'Charged 49.99 USD.' and nextval('fail_once') = 1 then
          raise exception 'disk full (test)';
        end if;
        return new;
      end $$;
      create trigger fail_first_reply before insert on messages for each row execute function fail_first_reply();`);
    try {
      const { spine, transport } = await build([model], { tools: [charge as AnyTool], attempts: 3 });
      const accepted = await spine.intake.accept(inbound('charge me'));
      await waitFor(() => transport.replies.length === 1, 'the reply', 10_000);
      expect(model.requests).toHaveLength(3);
      expect(charges, JSON.stringify(charges)).toHaveLength(1);
      expect(transport.replies[0]).toMatchObject({ text: 'Charged 49.99 USD.', fallback: false });
      const rows = await listToolCalls(database.db, accepted.conversationId);
      expect(rows.map((row) => row.status)).toEqual(['ok']);
      expect(rows[0]!.idempotencyKey).toBe(charges[0]);
      expect(rows[0]!.idempotencyKey.startsWith(`${accepted.messageId}:0:charge:`)).toBe(true);
      // The retry replayed the recorded step 0 (same call, same key) and its model read the recorded result.
      expect(await store.turnSteps.list(accepted.messageId)).toEqual(new Map([[0, expect.objectContaining({ toolCalls: [expect.objectContaining({ name: 'charge' })] })]]));
      const secondToolResult = model.requests[2]!.messages.find((message) => message.role === 'tool');
      expect(secondToolResult).toMatchObject({ content: '{"charged":49.99}', isError: false });
    } finally {
      await database.db.execute(sql`drop trigger if exists fail_first_reply on messages; drop function if exists fail_first_reply(); drop sequence if exists fail_once;`);
    }
  });

  it('a provider that fails after the tool ran hands the step to the next provider, and the tool does not run again', async () => {
    const charges: string[] = [];
    const charge = defineTool({
      name: 'charge',
      description: 'Charges a card.',
      input: z.object({ amount: z.number() }),
      async execute(input, context) {
        charges.push(context.idempotencyKey);
        return { charged: input.amount };
      },
    });
    const serverError = (): ChatStreamEvent[] => {
      throw new ProviderError({ provider: 'openai', kind: 'server', message: 'overloaded', status: 529 });
    };
    const first = new ScriptedModel([callTool('charge', { amount: 5 }, `call_${randomUUID()}`), serverError, serverError]);
    const second = new (class extends ScriptedModel {
      override readonly provider = 'anthropic' as never;
    })([say('Charged 5.')]);
    const { spine, transport } = await build([first, second], { tools: [charge as AnyTool] });
    const accepted = await spine.intake.accept(inbound('charge 5'));
    await waitFor(() => transport.replies.length === 1, 'the reply');
    expect(transport.replies[0]).toMatchObject({ text: 'Charged 5.', fallback: false });
    expect(charges).toHaveLength(1);
    // The next provider continued the same step, with the tool's result in its messages.
    expect(second.requests[0]!.messages.find((message) => message.role === 'tool')).toMatchObject({ content: '{"charged":5}' });
    expect((await listToolCalls(database.db, accepted.conversationId)).map((row) => row.status)).toEqual(['ok']);
  });

  it('model output the database cannot hold (NUL in the reply, the tool arguments, the tool result) is cleaned, not a failed turn', async () => {
    const echo = defineTool({
      name: 'echo',
      description: 'Echoes a note.',
      input: z.object({ note: z.string() }),
      async execute(input) {
        return { echoed: input.note };
      },
    });
    const model = new ScriptedModel([callTool('echo', { note: 'a\u0000b\ud800' }, 'call\u0000_1'), say('done\u0000 here')]);
    const { spine, transport, finished } = await build([model], { tools: [echo as AnyTool] });
    const accepted = await spine.intake.accept(inbound('echo it'));
    await waitFor(() => transport.replies.length === 1, 'the reply');
    expect(transport.replies[0]).toMatchObject({ text: 'done here', fallback: false });
    expect(finished).toEqual(['answered']);
    const [row] = await listToolCalls(database.db, accepted.conversationId);
    expect(row).toMatchObject({ status: 'ok', callId: 'call_1', arguments: { note: 'ab\ufffd' }, result: { echoed: 'ab\ufffd' } });
  });

  it('the in-process queue (also the fallback when Redis fails) honours QUEUE_ATTEMPTS', async () => {
    const config = loadConfig({ QUEUE_ATTEMPTS: '2', DATA_DIR: '/nonexistent' });
    const { queue, localQueue } = buildInfra(config, { redis: undefined, logger });
    // Without Redis the durable queue is the in-process one: one queue, not a second built beside it.
    expect(localQueue).toBe(queue);
    let runs = 0;
    let exhausted: unknown;
    await localQueue.start({
      run: async () => {
        runs++;
        throw new Error('storage unavailable');
      },
      exhausted: async (_messageId, error) => {
        exhausted = error;
      },
    });
    await localQueue.enqueue('00000000-0000-4000-8000-000000000001');
    await waitFor(() => exhausted, 'the queue to give up', 15_000);
    expect(runs).toBe(2);
    expect((exhausted as Error).message).toBe('storage unavailable');
  });
});
