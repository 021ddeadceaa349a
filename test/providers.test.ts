import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChatModel } from '../src/agent/chat-model.js';
import { AnthropicChatModel } from '../src/agent/providers/anthropic/anthropic-model.js';
import { GroqChatModel } from '../src/agent/providers/groq/groq-model.js';
import { OpenAIChatModel } from '../src/agent/providers/openai/openai-model.js';
import type { ProviderName } from '../src/config/config.js';
import { startFakeAnthropicServer } from './fakes/fake-anthropic-server.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { chatRequest, collectEvents, expectProviderError, finishOf, textOf, toolCallsOf } from './helpers/chat-stream.js';

interface ProviderCase {
  provider: ProviderName;
  apiKey: string;
  startServer: () => Promise<FakeProviderServer>;
  createModel: (server: FakeProviderServer, options?: { timeoutMs?: number }) => ChatModel;
  path: string;
  authHeader: (headers: Record<string, unknown>) => unknown;
}

const CASES: ProviderCase[] = [
  {
    provider: 'openai',
    apiKey: 'sk-test-OPENAI-SECRET-0123456789',
    startServer: startFakeOpenAIServer,
    createModel: (server, options) => new OpenAIChatModel({ apiKey: CASES[0]!.apiKey, baseURL: server.url, model: 'gpt-test', ...options }),
    path: '/v1/chat/completions',
    authHeader: (headers) => headers['authorization'],
  },
  {
    provider: 'anthropic',
    apiKey: 'sk-ant-test-ANTHROPIC-SECRET-0123456789',
    startServer: startFakeAnthropicServer,
    createModel: (server, options) =>
      new AnthropicChatModel({ apiKey: CASES[1]!.apiKey, baseURL: server.url, model: 'claude-test', ...options }),
    path: '/v1/messages',
    // Older SDKs send x-api-key; @anthropic-ai/sdk 1.x sends the key as a bearer token.
    authHeader: (headers) => headers['x-api-key'] ?? headers['authorization'],
  },
  {
    provider: 'groq',
    apiKey: 'gsk_test_GROQ_SECRET_0123456789',
    startServer: startFakeOpenAIServer,
    // groq-sdk wants the origin: it adds /openai/v1/chat/completions itself.
    createModel: (server, options) => new GroqChatModel({ apiKey: CASES[2]!.apiKey, baseURL: server.origin, model: 'llama-test', ...options }),
    path: '/openai/v1/chat/completions',
    authHeader: (headers) => headers['authorization'],
  },
];

describe.each(CASES)('$provider ChatModel against its fake wire format', (testCase) => {
  let server: FakeProviderServer;
  let model: ChatModel;

  beforeAll(async () => {
    server = await testCase.startServer();
    model = testCase.createModel(server);
  });
  afterAll(() => server.close());
  beforeEach(() => server.reset());

  it('streams text deltas that concatenate to the full reply, then one finish with usage', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    server.push({ text, chunkSize: 5, usage: { inputTokens: 42, outputTokens: 11 } });

    const events = await collectEvents(model.stream(chatRequest()));

    const deltas = events.filter((event) => event.type === 'text-delta');
    expect(deltas.length).toBe(Math.ceil(text.length / 5));
    expect(textOf(events)).toBe(text);
    expect(finishOf(events)).toEqual({ type: 'finish', reason: 'stop', usage: { inputTokens: 42, outputTokens: 11 } });
    expect(model.provider).toBe(testCase.provider);
  });

  it('calls the documented path with the key, the model and SDK retries off', async () => {
    server.push({ text: 'ok' });
    await collectEvents(model.stream(chatRequest({ maxOutputTokens: 321 })));

    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe(testCase.path);
    expect(String(testCase.authHeader(request!.headers))).toContain(testCase.apiKey);
    expect(request!.body.stream).toBe(true);
    expect(request!.body.model).toBe(model.model);
    expect(request!.body.max_completion_tokens ?? request!.body.max_tokens).toBe(321);
  });

  it('assembles a tool call streamed in many fragments into one complete call', async () => {
    const args = { orderId: 'A-17', include: ['items', 'shipping'], note: 'quote " and \\ backslash' };
    server.push({
      text: 'Let me check.',
      toolCalls: [
        { id: 'call_lookup_1', name: 'lookup_order', arguments: args },
        { id: 'call_status_2', name: 'shipping_status', arguments: '{"carrier":"UPS"}' },
      ],
      chunkSize: 4,
    });

    const events = await collectEvents(model.stream(chatRequest()));

    expect(textOf(events)).toBe('Let me check.');
    expect(toolCallsOf(events)).toEqual([
      { id: 'call_lookup_1', name: 'lookup_order', arguments: JSON.stringify(args) },
      { id: 'call_status_2', name: 'shipping_status', arguments: '{"carrier":"UPS"}' },
    ]);
    expect(finishOf(events).reason).toBe('tool-calls');
  });

  it('reports length when the reply hit the token limit', async () => {
    server.push({ text: 'cut sh', finishReason: 'length' });
    const events = await collectEvents(model.stream(chatRequest()));
    expect(finishOf(events).reason).toBe('length');
  });

  it('maps 401 to a non-retryable auth error, sent once, without the key in the message', async () => {
    server.push({ error: { status: 401, message: `Incorrect API key provided: ${testCase.apiKey}` } });

    const error = await expectProviderError(model.stream(chatRequest()));

    expect(error.kind).toBe('auth');
    expect(error.status).toBe(401);
    expect(error.retryable).toBe(false);
    expect(error.provider).toBe(testCase.provider);
    expect(error.message).not.toContain(testCase.apiKey);
    expect(JSON.stringify(error)).not.toContain(testCase.apiKey);
    expect(server.requests).toHaveLength(1);
  });

  it('maps 429 with retry-after seconds to rate_limited with retryAfterMs', async () => {
    server.push({ error: { status: 429, headers: { 'retry-after': '7' } } });

    const error = await expectProviderError(model.stream(chatRequest()));

    expect(error.kind).toBe('rate_limited');
    expect(error.retryAfterMs).toBe(7000);
    expect(error.retryable).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  it('prefers retry-after-ms over retry-after', async () => {
    server.push({ error: { status: 429, headers: { 'retry-after-ms': '1250', 'retry-after': '60' } } });
    const error = await expectProviderError(model.stream(chatRequest()));
    expect(error.retryAfterMs).toBe(1250);
  });

  it('maps 500 to a retryable server error, without SDK retries', async () => {
    server.push({ error: { status: 500 } }, { text: 'a retry would have succeeded' });

    const error = await expectProviderError(model.stream(chatRequest()));

    expect(error.kind).toBe('server');
    expect(error.status).toBe(500);
    expect(error.retryable).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    [400, 'bad_request'],
    [403, 'auth'],
    [404, 'not_found'],
    [408, 'timeout'],
    [409, 'conflict'],
    [422, 'bad_request'],
    [503, 'server'],
    [529, 'server'],
  ] as const)('maps HTTP %i to %s', async (status, kind) => {
    server.push({ error: { status } });
    const error = await expectProviderError(model.stream(chatRequest()));
    expect(error.kind).toBe(kind);
    expect(error.status).toBe(status);
  });

  it('refuses a redirect instead of re-sending the prompt, as a non-retryable error naming the base URL', async () => {
    const elsewhere = await testCase.startServer();
    try {
      server.push({ error: { status: 307, headers: { location: `${elsewhere.origin}${testCase.path}` } } });
      const error = await expectProviderError(model.stream(chatRequest()));
      expect(error.kind).toBe('not_found');
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(/redirect.*BASE_URL/);
      expect(server.requests).toHaveLength(1);
      expect(elsewhere.requests).toHaveLength(0);
    } finally {
      await elsewhere.close();
    }
  });

  it('fails a stream cut mid-way, after delivering what arrived', async () => {
    server.push({ text: 'abcdefghijklmnopqrstuvwxyz', chunkSize: 2, cutAfterChunks: 3 });

    const seen: string[] = [];
    const error = await expectProviderError(model.stream(chatRequest()), (event) => {
      if (event.type === 'text-delta') seen.push(event.delta);
    });

    expect(['network', 'invalid_response']).toContain(error.kind);
    expect(seen.join('')).toMatch(/^ab/);
    expect(seen.join('').length).toBeLessThan(26);
  });

  it('fails a stream cut before any event', async () => {
    server.push({ text: 'never seen', cutAfterChunks: 0 });
    const error = await expectProviderError(model.stream(chatRequest()));
    expect(['network', 'invalid_response']).toContain(error.kind);
  });

  it('fails a stream cut after all content but before the finish', async () => {
    server.push({ text: 'all of it', chunkSize: 100, cutAfterChunks: 99 });
    const error = await expectProviderError(model.stream(chatRequest()));
    expect(['network', 'invalid_response']).toContain(error.kind);
  });

  it('fails a stream that ends cleanly without its finish as invalid_response', async () => {
    server.push({ text: 'truncated by a proxy', chunkSize: 4, truncateAfterChunks: 2 });
    const error = await expectProviderError(model.stream(chatRequest()));
    expect(error.kind).toBe('invalid_response');
    expect(error.retryable).toBe(false);
  });

  it('maps a mid-stream overload event to a server error', async () => {
    server.push({ text: 'partial answer', chunkSize: 3, streamError: { kind: 'overloaded', afterChunks: 2 } });
    const error = await expectProviderError(model.stream(chatRequest()));
    expect(error.kind).toBe('server');
    expect(error.retryable).toBe(true);
  });

  it('maps a mid-stream rate-limit event to rate_limited', async () => {
    server.push({ text: 'partial answer', streamError: { kind: 'rate_limited', afterChunks: 1 } });
    const error = await expectProviderError(model.stream(chatRequest()));
    expect(error.kind).toBe('rate_limited');
  });

  it('aborts a request still waiting for headers', async () => {
    server.push({ hang: true });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);

    const error = await expectProviderError(model.stream(chatRequest({ signal: controller.signal })));

    expect(error.kind).toBe('aborted');
    expect(error.retryable).toBe(false);
  });

  it('aborts mid-stream instead of ending silently', async () => {
    server.push({ text: 'one two three four five six seven', chunkSize: 4, interChunkDelayMs: 40 });
    const controller = new AbortController();

    const seen: string[] = [];
    const error = await expectProviderError(model.stream(chatRequest({ signal: controller.signal })), (event) => {
      if (event.type === 'text-delta') {
        seen.push(event.delta);
        controller.abort();
      }
    });

    expect(error.kind).toBe('aborted');
    expect(seen).toEqual(['one ']);
  });

  it('rejects an already-aborted signal without a successful call', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await expectProviderError(model.stream(chatRequest({ signal: controller.signal })));
    expect(error.kind).toBe('aborted');
  });

  it('times out a provider that never answers, per timeoutMs', async () => {
    server.push({ hang: true });
    const impatient = testCase.createModel(server, { timeoutMs: 150 });
    const started = Date.now();

    const error = await expectProviderError(impatient.stream(chatRequest()));

    expect(error.kind).toBe('timeout');
    expect(error.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(server.requests).toHaveLength(1);
  });

  it('reports a refused connection as a network error', async () => {
    const dead = await testCase.startServer();
    await dead.close();
    const error = await expectProviderError(testCase.createModel(dead).stream(chatRequest()));
    expect(error.kind).toBe('network');
    expect(error.message).not.toContain(testCase.apiKey);
  });
});

describe('OpenAI wire rendering', () => {
  let server: FakeProviderServer;
  beforeAll(async () => {
    server = await startFakeOpenAIServer();
  });
  afterAll(() => server.close());
  beforeEach(() => server.reset());

  it('renders system, multi-turn tool calls, tool results and tools as Chat Completions expects', async () => {
    const model = new OpenAIChatModel({ apiKey: 'sk-test', baseURL: server.url, model: 'gpt-test' });
    server.push({ text: 'Your order ships tomorrow.' });

    await collectEvents(
      model.stream(
        chatRequest({
          system: 'Be brief.',
          messages: [
            { role: 'user', content: 'Where is my order?' },
            {
              role: 'assistant',
              content: '',
              toolCalls: [
                { id: 'call_1', name: 'lookup_order', arguments: '{"orderId":"A-17"}' },
                { id: 'call_2', name: 'shipping_status', arguments: '{}' },
              ],
            },
            { role: 'tool', toolCallId: 'call_1', toolName: 'lookup_order', content: '{"status":"packed"}', isError: false },
            { role: 'tool', toolCallId: 'call_2', toolName: 'shipping_status', content: 'carrier down', isError: true },
            { role: 'assistant', content: 'It is packed.' },
            { role: 'user', content: 'When does it ship?' },
          ],
          tools: [
            {
              name: 'lookup_order',
              description: 'Find an order',
              inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
            },
          ],
        }),
      ),
    );

    const body = server.requests[0]!.body;
    expect(body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Where is my order?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'lookup_order', arguments: '{"orderId":"A-17"}' } },
          { id: 'call_2', type: 'function', function: { name: 'shipping_status', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"status":"packed"}' },
      { role: 'tool', tool_call_id: 'call_2', content: 'carrier down' },
      { role: 'assistant', content: 'It is packed.' },
      { role: 'user', content: 'When does it ship?' },
    ]);
    expect(body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'lookup_order',
          description: 'Find an order',
          parameters: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
        },
      },
    ]);
    expect(body.stream_options).toEqual({ include_usage: true });
    expect(body.max_completion_tokens).toBe(256);
  });

  it('leaves out tools and system when there are none', async () => {
    const model = new OpenAIChatModel({ apiKey: 'sk-test', baseURL: server.url, model: 'gpt-test' });
    server.push({ text: 'hi' });
    await collectEvents(model.stream(chatRequest({ system: '', tools: [] })));
    const body = server.requests[0]!.body;
    expect(body).not.toHaveProperty('tools');
    expect(body.messages).toEqual([{ role: 'user', content: 'Hello there' }]);
  });

  it('turns a tool call with no argument text into "{}"', async () => {
    const model = new OpenAIChatModel({ apiKey: 'sk-test', baseURL: server.url, model: 'gpt-test' });
    server.push({ toolCalls: [{ id: 'call_empty', name: 'ping', arguments: '' }] });
    const events = await collectEvents(model.stream(chatRequest()));
    expect(toolCallsOf(events)).toEqual([{ id: 'call_empty', name: 'ping', arguments: '{}' }]);
  });
});

describe('Anthropic wire rendering', () => {
  let server: FakeProviderServer;
  let model: AnthropicChatModel;
  beforeAll(async () => {
    server = await startFakeAnthropicServer();
    model = new AnthropicChatModel({ apiKey: 'sk-ant-test', baseURL: server.url, model: 'claude-test' });
  });
  afterAll(() => server.close());
  beforeEach(() => server.reset());

  it('puts system on top, tool calls in tool_use blocks and merges consecutive tool results into one user message', async () => {
    server.push({ text: 'Ships tomorrow.' });

    await collectEvents(
      model.stream(
        chatRequest({
          system: 'Be brief.',
          messages: [
            { role: 'user', content: 'Where is my order?' },
            {
              role: 'assistant',
              content: 'Checking.',
              toolCalls: [
                { id: 'toolu_1', name: 'lookup_order', arguments: '{"orderId":"A-17"}' },
                { id: 'toolu_2', name: 'shipping_status', arguments: 'not json' },
                { id: 'toolu_3', name: 'list_items', arguments: '["array","is","not","an","object"]' },
              ],
            },
            { role: 'tool', toolCallId: 'toolu_1', toolName: 'lookup_order', content: '{"status":"packed"}', isError: false },
            { role: 'tool', toolCallId: 'toolu_2', toolName: 'shipping_status', content: 'carrier down', isError: true },
            { role: 'tool', toolCallId: 'toolu_3', toolName: 'list_items', content: '[]', isError: false },
            { role: 'assistant', content: 'It is packed.' },
            { role: 'user', content: 'When does it ship?' },
          ],
          tools: [
            {
              name: 'lookup_order',
              description: 'Find an order',
              inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
            },
          ],
        }),
      ),
    );

    const body = server.requests[0]!.body;
    expect(body.system).toBe('Be brief.');
    expect(body.max_tokens).toBe(256);
    expect(body.messages).toEqual([
      { role: 'user', content: 'Where is my order?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'lookup_order', input: { orderId: 'A-17' } },
          { type: 'tool_use', id: 'toolu_2', name: 'shipping_status', input: {} },
          { type: 'tool_use', id: 'toolu_3', name: 'list_items', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '{"status":"packed"}', is_error: false },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: 'carrier down', is_error: true },
          { type: 'tool_result', tool_use_id: 'toolu_3', content: '[]', is_error: false },
        ],
      },
      { role: 'assistant', content: 'It is packed.' },
      { role: 'user', content: 'When does it ship?' },
    ]);
    expect(body.tools).toEqual([
      {
        name: 'lookup_order',
        description: 'Find an order',
        input_schema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
      },
    ]);
  });

  it('keeps tool results of different turns in separate user messages', async () => {
    server.push({ text: 'done' });
    await collectEvents(
      model.stream(
        chatRequest({
          messages: [
            { role: 'user', content: 'go' },
            { role: 'assistant', content: '', toolCalls: [{ id: 't1', name: 'a', arguments: '{}' }] },
            { role: 'tool', toolCallId: 't1', toolName: 'a', content: 'one', isError: false },
            { role: 'assistant', content: '', toolCalls: [{ id: 't2', name: 'b', arguments: '{}' }] },
            { role: 'tool', toolCallId: 't2', toolName: 'b', content: 'two', isError: false },
          ],
        }),
      ),
    );
    const messages = server.requests[0]!.body.messages;
    expect(messages.map((message: { role: string }) => message.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user']);
    expect(messages[1].content).toEqual([{ type: 'tool_use', id: 't1', name: 'a', input: {} }]);
    expect(messages[4].content).toEqual([{ type: 'tool_result', tool_use_id: 't2', content: 'two', is_error: false }]);
  });

  it('leaves out system and tools when there are none', async () => {
    server.push({ text: 'hi' });
    await collectEvents(model.stream(chatRequest({ system: '', tools: [] })));
    const body = server.requests[0]!.body;
    expect(body).not.toHaveProperty('system');
    expect(body).not.toHaveProperty('tools');
  });

  it('reads an empty tool input JSON string as "{}"', async () => {
    server.push({ toolCalls: [{ id: 'toolu_empty', name: 'ping', arguments: '' }] });
    const events = await collectEvents(model.stream(chatRequest()));
    expect(toolCallsOf(events)).toEqual([{ id: 'toolu_empty', name: 'ping', arguments: '{}' }]);
    expect(finishOf(events).reason).toBe('tool-calls');
  });

  it('maps 529 overloaded_error to server and keeps the request id in the message', async () => {
    server.push({ error: { status: 529 } });
    const error = await expectProviderError(model.stream(chatRequest()));
    expect(error.kind).toBe('server');
    expect(error.message).toMatch(/overloaded_error/);
    expect(error.message).toMatch(/req_fake\d+/);
  });

  it('reads retry-after given as an HTTP date', async () => {
    const inFiveSeconds = new Date(Date.now() + 5000).toUTCString();
    server.push({ error: { status: 429, headers: { 'retry-after': inFiveSeconds } } });
    const error = await expectProviderError(model.stream(chatRequest()));
    expect(error.kind).toBe('rate_limited');
    // HTTP dates have one-second resolution.
    expect(error.retryAfterMs).toBeGreaterThan(3000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(5000);
  });
});

describe('Groq specifics', () => {
  let server: FakeProviderServer;
  beforeAll(async () => {
    server = await startFakeOpenAIServer();
  });
  afterAll(() => server.close());
  beforeEach(() => server.reset());

  it('reads usage from x_groq on the last chunk (no stream_options sent)', async () => {
    const model = new GroqChatModel({ apiKey: 'gsk_test', baseURL: server.origin, model: 'llama-test' });
    server.push({ text: 'hello', usage: { inputTokens: 9, outputTokens: 2 } });

    const events = await collectEvents(model.stream(chatRequest()));

    expect(server.requests[0]!.body).not.toHaveProperty('stream_options');
    expect(finishOf(events).usage).toEqual({ inputTokens: 9, outputTokens: 2 });
  });

  it('renders tool results as role "tool" messages, like OpenAI', async () => {
    const model = new GroqChatModel({ apiKey: 'gsk_test', baseURL: server.origin, model: 'llama-test' });
    server.push({ text: 'ok' });
    await collectEvents(
      model.stream(
        chatRequest({
          messages: [
            { role: 'user', content: 'go' },
            { role: 'assistant', content: '', toolCalls: [{ id: 'call_9', name: 'a', arguments: '{}' }] },
            { role: 'tool', toolCallId: 'call_9', toolName: 'a', content: 'done', isError: false },
          ],
        }),
      ),
    );
    expect(server.requests[0]!.body.messages.at(-1)).toEqual({ role: 'tool', tool_call_id: 'call_9', content: 'done' });
  });
});
