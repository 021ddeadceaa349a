import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { STEP_LIMIT_REPLY } from '../src/agent/agent.js';
import { ToolExecutionError } from '../src/errors/index.js';
import { defineTool } from '../src/tools/tool.js';
import { startFakeAnthropicServer } from './fakes/fake-anthropic-server.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { listMessages, listToolCalls } from './helpers/store-queries.js';
import { toolCallKey } from '../src/tools/idempotency-key.js';

/** Tools defined the way integrations are, injected through createApp's documented `extraTools`. */
const orderLookups: string[] = [];
const orderStatusTool = defineTool({
  name: 'get_order_status',
  description: 'Look up the status of an order by its id.',
  input: z.object({ orderId: z.string().regex(/^ord_\d+$/) }).strict(),
  async execute({ orderId }) {
    orderLookups.push(orderId);
    if (orderId === 'ord_404') throw new ToolExecutionError(`order ${orderId} does not exist`);
    if (orderId === 'ord_500') throw new Error('connection reset by db-secret-host:5432');
    return { orderId, status: 'shipped' };
  },
});
const slowTool = defineTool({
  name: 'slow_report',
  description: 'Builds a slow report.',
  input: z.object({}).strict(),
  execute: (_input, { signal }) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve({ done: true }), 5000);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    }),
});

describe('the agent tool loop and provider chain, end to end through the web channel', () => {
  let openai: FakeProviderServer;
  let anthropic: FakeProviderServer;
  let server: RunningApp;
  let socket: ClientSocket;
  let conversationId: string;

  beforeAll(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAIServer(), startFakeAnthropicServer()]);
    server = await startTestApp(
      {
        OPENAI_API_KEY: 'sk-openai-secret',
        OPENAI_BASE_URL: openai.url,
        ANTHROPIC_API_KEY: 'sk-ant-secret',
        ANTHROPIC_BASE_URL: anthropic.url,
        LLM_PROVIDERS: 'openai,anthropic',
        MAX_TOOL_STEPS: '3',
        TOOL_TIMEOUT_MS: '300',
        FALLBACK_REPLY: 'We are busy; a human will reply soon.',
        // These cases pin the chain's move to the next provider; retries on one provider are tested in resilience-chain.
        LLM_RETRIES: '0',
      },
      { extraTools: [orderStatusTool, slowTool] },
    );
  });

  afterEach(() => {
    socket?.disconnect();
    openai.reset();
    anthropic.reset();
    orderLookups.length = 0;
  });

  afterAll(async () => {
    await server?.stop();
    await Promise.all([openai?.close(), anthropic?.close()]);
  });

  const newClient = async () => {
    const connected = await connectClient(server.url);
    socket = connected.socket;
    conversationId = connected.session.conversationId;
  };

  it('runs a tool the model asks for, feeds the result back, and records the call', async () => {
    await newClient();
    openai.push(
      { toolCalls: [{ id: 'call_A', name: 'get_order_status', arguments: { orderId: 'ord_42' } }], chunkSize: 4 },
      { text: 'Your order ord_42 has shipped.' },
    );
    const { reply } = await sendAndCollect(socket, 'where is order 42?');
    expect(reply.done.text).toBe('Your order ord_42 has shipped.');
    expect(reply.done.toolCalls).toEqual([{ name: 'get_order_status', status: 'ok' }]);
    expect(orderLookups).toEqual(['ord_42']);

    const first = openai.requests[0]!.body;
    const offered = first.tools.map((tool: { function: { name: string } }) => tool.function.name);
    // request_human is the spine's own tool, offered on every channel unless HANDOFF_ENABLED=false.
    expect(offered).toEqual(['get_order_status', 'slow_report', 'request_human']);
    expect(first.tools[0].function.parameters).toMatchObject({
      type: 'object',
      properties: { orderId: { type: 'string' } },
      required: ['orderId'],
      additionalProperties: false,
    });
    const followUp = openai.requests[1]!.body.messages;
    expect(followUp.at(-2)).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_A', type: 'function' }] });
    expect(followUp.at(-1)).toEqual({ role: 'tool', tool_call_id: 'call_A', content: '{"orderId":"ord_42","status":"shipped"}' });

    const [row] = await listToolCalls(server.app.database.db, conversationId);
    expect(row).toMatchObject({
      toolName: 'get_order_status',
      callId: 'call_A',
      arguments: { orderId: 'ord_42' },
      result: { orderId: 'ord_42', status: 'shipped' },
      status: 'ok',
      error: null,
      provider: 'openai',
      step: 0,
      // From what the turn knows (message, step, tool, canonical arguments), not the model's call id.
      idempotencyKey: toolCallKey({ messageId: row!.messageId, step: 0, toolName: 'get_order_status', arguments: { orderId: 'ord_42' } }),
    });
    expect(row!.idempotencyKey).not.toContain('call_A');
    expect(row!.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('turns unknown tools, bad JSON, invalid arguments and tool failures into errors the model reads', async () => {
    await newClient();
    openai.push(
      {
        toolCalls: [
          { id: 'c1', name: 'drop_all_tables', arguments: {} },
          { id: 'c2', name: 'get_order_status', arguments: '{"orderId": "ord_1"' },
          { id: 'c3', name: 'get_order_status', arguments: { orderId: 'DROP TABLE', extra: true } },
          { id: 'c4', name: 'get_order_status', arguments: { orderId: 'ord_404' } },
          { id: 'c5', name: 'get_order_status', arguments: { orderId: 'ord_500' } },
          { id: 'c6', name: '__proto__', arguments: {} },
        ],
      },
      { text: 'Sorry, I could not look that up.' },
    );
    const { reply } = await sendAndCollect(socket, 'do many things');
    expect(reply.done.text).toBe('Sorry, I could not look that up.');
    expect(reply.done.toolCalls.map((call) => call.status)).toEqual(['invalid', 'invalid', 'invalid', 'error', 'error', 'invalid']);
    expect(orderLookups).toEqual(['ord_404', 'ord_500']);

    const toolMessages = openai.requests[1]!.body.messages.filter((m: { role: string }) => m.role === 'tool');
    const errors = toolMessages.map((m: { content: string }) => JSON.parse(m.content).error as string);
    expect(errors[0]).toBe('unknown tool "drop_all_tables". Available tools: get_order_status, slow_report, request_human.');
    expect(errors[1]).toMatch(/^arguments for get_order_status are not valid JSON/);
    expect(errors[2]).toMatch(/^invalid arguments for get_order_status:/);
    expect(errors[2]).toContain('orderId');
    expect(errors[3]).toBe('order ord_404 does not exist');
    // An unexpected failure is reported generically: internals (hosts, secrets) never reach the model.
    expect(errors[4]).toBe('the tool failed unexpectedly; try again later or continue without it');
    expect(errors[5]).toMatch(/^unknown tool "__proto__"/);

    const rows = await listToolCalls(server.app.database.db, conversationId);
    expect(rows).toHaveLength(6);
    expect(rows.find((row) => row.callId === 'c2')!.arguments).toEqual({ unparsed: '{"orderId": "ord_1"' });
    expect(rows.find((row) => row.callId === 'c5')!.error).not.toContain('secret');
  });

  it('fails a tool that exceeds TOOL_TIMEOUT_MS and still answers', async () => {
    await newClient();
    openai.push({ toolCalls: [{ id: 'slow', name: 'slow_report', arguments: {} }] }, { text: 'The report is taking too long.' });
    const started = Date.now();
    const { reply } = await sendAndCollect(socket, 'build the report');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(reply.done.toolCalls).toEqual([{ name: 'slow_report', status: 'error' }]);
    const [row] = await listToolCalls(server.app.database.db, conversationId);
    expect(row!.error).toBe('the tool did not finish within 300 ms');
  });

  it('stops after MAX_TOOL_STEPS model calls when the model keeps asking for tools', async () => {
    await newClient();
    let n = 0;
    openai.setResponder(() => ({ toolCalls: [{ id: `loop_${n++}`, name: 'get_order_status', arguments: { orderId: 'ord_1' } }] }));
    const { reply } = await sendAndCollect(socket, 'loop forever');
    expect(openai.requests).toHaveLength(3);
    expect(reply.done.text).toBe(STEP_LIMIT_REPLY);
    expect(reply.done.toolCalls).toHaveLength(3);
    expect(await listToolCalls(server.app.database.db, conversationId)).toHaveLength(3);
  });

  it('moves to the next provider when the first fails, and records the attempts', async () => {
    await newClient();
    openai.push({ error: { status: 500 } });
    anthropic.push({ text: 'Answer from Claude.' });
    const { reply } = await sendAndCollect(socket, 'hello');
    expect(reply.done).toMatchObject({ text: 'Answer from Claude.', fallback: false });
    const [, answer] = await listMessages(server.app.database.db, conversationId);
    expect(answer).toMatchObject({ provider: 'anthropic', status: 'answered' });
    expect(answer!.attempts).toEqual([
      expect.objectContaining({ provider: 'openai', outcome: 'error', errorKind: 'server', status: 500 }),
      expect.objectContaining({ provider: 'anthropic', outcome: 'ok' }),
    ]);
    const headers = anthropic.requests[0]!.headers;
    expect(String(headers['x-api-key'] ?? headers.authorization)).toContain('sk-ant-secret');
  });

  it('tells the client to discard a partial reply when a stream breaks mid-way', async () => {
    await newClient();
    openai.push({ text: 'This answer will be cut off half way through', chunkSize: 4, cutAfterChunks: 3 });
    anthropic.push({ text: 'A clean answer.' });
    const { reply } = await sendAndCollect(socket, 'tell me something');
    expect(reply.discards).toBe(1);
    expect(reply.deltas.join('')).toBe('A clean answer.');
    expect(reply.done.text).toBe('A clean answer.');
  });

  it('continues a turn on the next provider without running finished tools again', async () => {
    await newClient();
    openai.push({ toolCalls: [{ id: 'once', name: 'get_order_status', arguments: { orderId: 'ord_7' } }] }, { error: { status: 503 } });
    anthropic.push({ text: 'Order 7 has shipped.' });
    const { reply } = await sendAndCollect(socket, 'status of 7?');
    expect(reply.done.text).toBe('Order 7 has shipped.');
    expect(orderLookups).toEqual(['ord_7']);
    const sentToClaude = anthropic.requests[0]!.body.messages;
    expect(sentToClaude.at(-1).content[0]).toMatchObject({ type: 'tool_result', tool_use_id: 'once' });
  });

  it('answers with FALLBACK_REPLY when every provider fails, and marks the message', async () => {
    await newClient();
    openai.push({ error: { status: 401 } });
    anthropic.push({ error: { status: 529 } });
    const { ack, reply } = await sendAndCollect(socket, 'anyone there?');
    expect(reply.done).toEqual({
      messageId: ack.messageId,
      text: 'We are busy; a human will reply soon.',
      fallback: true,
      cached: false,
      toolCalls: [],
      author: 'agent',
    });
    const [question, answer] = await listMessages(server.app.database.db, conversationId);
    expect(question).toMatchObject({ status: 'fallback', fallback: true, fallbackReason: 'all_providers_failed' });
    expect(answer).toMatchObject({ status: 'fallback', fallback: true, provider: null });
    expect(JSON.stringify(answer!.attempts)).not.toContain('secret');
  });
});

describe('with no provider configured', () => {
  let server: RunningApp;
  beforeAll(async () => {
    server = await startTestApp({ FALLBACK_REPLY: 'No model here yet.' });
  });
  afterAll(async () => server?.stop());

  it('still starts and answers every message with the fallback reply', async () => {
    const { socket, session } = await connectClient(server.url);
    try {
      const { reply } = await sendAndCollect(socket, 'hi');
      expect(reply.done).toMatchObject({ text: 'No model here yet.', fallback: true });
      const [question] = await listMessages(server.app.database.db, session.conversationId);
      expect(question).toMatchObject({ status: 'fallback', fallbackReason: 'no_provider_configured' });
    } finally {
      socket.disconnect();
    }
  });
});
