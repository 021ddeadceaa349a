import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAIChatModel } from '../src/agent/providers/openai/openai-model.js';
import { startFakeAnthropicServer } from './fakes/fake-anthropic-server.js';
import { echoResponder, startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { chatRequest, collectEvents, textOf } from './helpers/chat-stream.js';

/** The fakes themselves: other suites and the benchmark lean on this behaviour. */
describe('fake provider servers', () => {
  let openaiServer: FakeProviderServer;
  let anthropicServer: FakeProviderServer;
  beforeAll(async () => {
    [openaiServer, anthropicServer] = await Promise.all([startFakeOpenAIServer(), startFakeAnthropicServer()]);
  });
  afterAll(() => Promise.all([openaiServer.close(), anthropicServer.close()]));
  beforeEach(() => {
    openaiServer.reset();
    anthropicServer.reset();
  });

  it('answers non-streaming requests with a whole chat.completion the SDK parses', async () => {
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: openaiServer.url, maxRetries: 0 });
    openaiServer.push({ text: 'whole answer', toolCalls: [{ id: 'call_x', name: 'f', arguments: { a: 1 } }], usage: { inputTokens: 3, outputTokens: 4 } });

    const completion = await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });

    expect(completion.choices[0]!.message.content).toBe('whole answer');
    expect(completion.choices[0]!.message.tool_calls).toEqual([{ id: 'call_x', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }]);
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
    expect(completion.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 4 });
  });

  it('answers non-streaming Anthropic requests with a whole message', async () => {
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: anthropicServer.url, maxRetries: 0 });
    anthropicServer.push({ text: 'whole answer', toolCalls: [{ id: 'toolu_x', name: 'f', arguments: { a: 1 } }] });

    const message = await client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });

    expect(message.content).toEqual([
      { type: 'text', text: 'whole answer' },
      { type: 'tool_use', id: 'toolu_x', name: 'f', input: { a: 1 } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
  });

  it('streams the documented Anthropic event sequence', async () => {
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: anthropicServer.url, maxRetries: 0 });
    anthropicServer.push({ text: 'hi', toolCalls: [{ id: 'toolu_1', name: 'f', arguments: '{"a":1}' }], chunkSize: 100 });

    const stream = await client.messages.create({ model: 'claude-test', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x' }] });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type === 'content_block_delta' ? `delta:${event.delta.type}` : event.type);

    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'delta:text_delta',
      'content_block_stop',
      'content_block_start',
      'delta:input_json_delta',
      'delta:input_json_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });

  it('streams OpenAI chunks ending with a usage chunk and [DONE]', async () => {
    openaiServer.push({ text: 'abc', chunkSize: 1, usage: { inputTokens: 5, outputTokens: 3 } });
    const response = await fetch(`${openaiServer.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, stream_options: { include_usage: true }, messages: [] }),
    });
    const frames = (await response.text()).trim().split('\n\n');

    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(frames.at(-1)).toBe('data: [DONE]');
    const chunks = frames.slice(0, -1).map((frame) => JSON.parse(frame.replace(/^data: /, '')));
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? null).join('')).toBe('abc');
    expect(chunks.at(-2).choices[0].finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } });
  });

  it('echoes the last user message by default and uses a custom responder when set', async () => {
    const model = new OpenAIChatModel({ apiKey: 'sk-test', baseURL: openaiServer.url, model: 'gpt-test' });
    const ask = async (content: string) => textOf(await collectEvents(model.stream(chatRequest({ messages: [{ role: 'user', content }] }))));

    expect(await ask('ping')).toBe('echo: ping');
    openaiServer.setResponder(echoResponder({ prefix: 'you said: ' }));
    expect(await ask('pong')).toBe('you said: pong');
    openaiServer.setResponder((body) => ({ text: `messages=${body.messages.length}` }));
    expect(await ask('x')).toBe('messages=2');
    openaiServer.push({ text: 'queued first' });
    expect(await ask('y')).toBe('queued first');
    openaiServer.setResponder(undefined);
    expect(await ask('back')).toBe('echo: back');
  });

  it('waits delayMs before answering and says so in a header', async () => {
    openaiServer.push({ text: 'late', delayMs: 120 });
    const started = Date.now();
    const response = await fetch(`${openaiServer.url}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', stream: true, messages: [] }),
    });
    await response.text();
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    expect(response.headers.get('x-fake-latency-ms')).toBe('120');
  });

  it('answers unknown paths with a 404 in the provider error format', async () => {
    const response = await fetch(`${anthropicServer.origin}/v1/nope`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('sends a custom error body and headers verbatim', async () => {
    openaiServer.push({ error: { status: 418, body: { custom: true }, headers: { 'x-thing': 'yes' } } });
    const response = await fetch(`${openaiServer.url}/chat/completions`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(418);
    expect(response.headers.get('x-thing')).toBe('yes');
    expect(await response.json()).toEqual({ custom: true });
  });

  it('serves hundreds of concurrent streams quickly, without recording when asked not to', async () => {
    const quiet = await startFakeOpenAIServer({ recordRequests: false, responder: echoResponder({ chunkSize: 4 }) });
    try {
      const model = new OpenAIChatModel({ apiKey: 'sk-test', baseURL: quiet.url, model: 'gpt-test' });
      const started = Date.now();
      const replies = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          collectEvents(model.stream(chatRequest({ messages: [{ role: 'user', content: `n${i}` }] }))).then(textOf),
        ),
      );
      expect(replies).toEqual(Array.from({ length: 300 }, (_, i) => `echo: n${i}`));
      expect(Date.now() - started).toBeLessThan(5000);
      expect(quiet.requests).toHaveLength(0);
    } finally {
      await quiet.close();
    }
  });

  it('closes promptly even with a request left hanging', async () => {
    const server = await startFakeAnthropicServer();
    server.push({ hang: true });
    const pending = fetch(`${server.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ stream: true }) }).catch(
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
  });
});
