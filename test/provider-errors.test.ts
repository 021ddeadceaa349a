import Anthropic from '@anthropic-ai/sdk';
import Groq from 'groq-sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { readChatCompletionsStream, type ChatCompletionsChunk } from '../src/agent/providers/chat-completions.js';
import { readGroqExtras, type GroqChunk } from '../src/agent/providers/groq/groq-chunks.js';
import {
  parseRetryAfterMs,
  redactSecrets,
  streamEndedEarly,
  toProviderError,
} from '../src/agent/providers/provider-errors.js';
import { kindForStatus, ProviderError } from '../src/errors/index.js';
import { collectEvents, expectProviderError } from './helpers/chat-stream.js';

describe('parseRetryAfterMs', () => {
  const now = () => Date.parse('2025-01-01T00:00:00Z');

  it('reads retry-after-ms first, then retry-after seconds, then an HTTP date', () => {
    expect(parseRetryAfterMs(new Headers({ 'retry-after-ms': '250.5', 'retry-after': '9' }), now)).toBe(250.5);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': '2.5' }), now)).toBe(2500);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }), now)).toBe(30_000);
  });

  it('clamps a past date to zero and ignores garbage or absence', () => {
    expect(parseRetryAfterMs(new Headers({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }), now)).toBe(0);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfterMs(new Headers({ 'retry-after-ms': 'x', 'retry-after': '-3' }), now)).toBeUndefined();
    expect(parseRetryAfterMs(new Headers(), now)).toBeUndefined();
  });
});

describe('kindForStatus', () => {
  it.each([
    [400, 'bad_request'],
    [401, 'auth'],
    [402, 'auth'],
    [403, 'auth'],
    [404, 'not_found'],
    [408, 'timeout'],
    [409, 'conflict'],
    [413, 'bad_request'],
    [422, 'bad_request'],
    [429, 'rate_limited'],
    [500, 'server'],
    [502, 'server'],
    [529, 'server'],
  ] as const)('%i → %s', (status, kind) => {
    expect(kindForStatus(status)).toBe(kind);
  });
});

describe('redactSecrets', () => {
  it('removes the exact key and key-shaped tokens, even masked echoes', () => {
    const key = 'custom-key-without-prefix-42';
    expect(redactSecrets(`bad ${key}!`, key)).toBe('bad [redacted]!');
    expect(redactSecrets('Incorrect API key provided: sk-proj-abc****wxyz.', undefined)).toBe('Incorrect API key provided: [redacted]');
    expect(redactSecrets('key gsk_abcdef123 and sk-ant-api03-xyz', undefined)).toBe('key [redacted] and [redacted]');
    expect(redactSecrets('nothing secret here', 'sk-1')).toBe('nothing secret here');
  });
});

describe('toProviderError', () => {
  const context = { provider: 'openai' as const, apiKey: 'sk-live-SECRET-123', sdk: OpenAI };

  it('recognises each SDK’s own error classes', () => {
    for (const sdk of [OpenAI, Anthropic, Groq]) {
      expect(toProviderError(new sdk.APIUserAbortError(), { ...context, sdk }).kind).toBe('aborted');
      expect(toProviderError(new sdk.APIConnectionTimeoutError(), { ...context, sdk }).kind).toBe('timeout');
      expect(toProviderError(new sdk.APIConnectionError({ message: 'socket hang up' }), { ...context, sdk }).kind).toBe('network');
    }
  });

  it('maps an HTTP APIError by status, with retry-after and without the key or a cause', () => {
    const headers = new Headers({ 'retry-after': '4', 'x-request-id': 'req_1' });
    const error = OpenAI.APIError.generate(429, { error: { message: `slow down sk-live-SECRET-123`, type: 'requests' } }, undefined, headers);

    const mapped = toProviderError(error, context);

    expect(mapped).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 4000, provider: 'openai' });
    expect(mapped.message).not.toContain('SECRET');
    expect(mapped.message).toContain('req_1');
    expect(mapped.cause).toBeUndefined();
  });

  it('reports any failure after the caller aborted as aborted', () => {
    const controller = new AbortController();
    controller.abort();
    expect(toProviderError(new TypeError('terminated'), { ...context, signal: controller.signal }).kind).toBe('aborted');
  });

  it('maps a bad JSON frame to invalid_response and a cut socket to network', () => {
    expect(toProviderError(new SyntaxError('Unexpected token'), context).kind).toBe('invalid_response');
    expect(toProviderError(new TypeError('terminated'), context).kind).toBe('network');
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(toProviderError(reset, context).kind).toBe('network');
  });

  it('passes ProviderErrors through untouched', () => {
    const original = new ProviderError({ provider: 'groq', kind: 'server', message: 'x' });
    expect(toProviderError(original, context)).toBe(original);
  });

  it('explains a stream that ended early as an abort only when the caller aborted', () => {
    expect(streamEndedEarly(context).kind).toBe('invalid_response');
    const controller = new AbortController();
    controller.abort();
    expect(streamEndedEarly({ ...context, signal: controller.signal }).kind).toBe('aborted');
  });
});

describe('readChatCompletionsStream', () => {
  async function* chunks<Chunk extends ChatCompletionsChunk>(...items: Chunk[]) {
    yield* items;
  }

  it('assembles interleaved tool call fragments by index', async () => {
    const events = await collectEvents(
      readChatCompletionsStream(
        chunks(
          { choices: [{ delta: { tool_calls: [{ index: 1, id: 'b', function: { name: 'second', arguments: '{"y"' } }] } }] },
          { choices: [{ delta: { tool_calls: [{ index: 0, id: 'a', function: { name: 'first', arguments: '{"x":' } }] } }] },
          { choices: [{ delta: { tool_calls: [{ index: 1, function: { arguments: ':2}' } }] } }] },
          { choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '1}' } }] } }] },
          { choices: [{ delta: {}, finish_reason: 'stop' }] },
        ),
        { provider: 'openai' },
      ),
    );
    expect(events).toEqual([
      { type: 'tool-call', call: { id: 'a', name: 'first', arguments: '{"x":1}' } },
      { type: 'tool-call', call: { id: 'b', name: 'second', arguments: '{"y":2}' } },
      { type: 'finish', reason: 'tool-calls', usage: { inputTokens: 0, outputTokens: 0 } },
    ]);
  });

  it('rejects a tool call that never got an id', async () => {
    const error = await expectProviderError(
      readChatCompletionsStream(
        chunks(
          { choices: [{ delta: { tool_calls: [{ index: 0, function: { name: 'x', arguments: '{}' } }] } }] },
          { choices: [{ delta: {}, finish_reason: 'tool_calls' }] },
        ),
        { provider: 'openai' },
      ),
    );
    expect(error.kind).toBe('invalid_response');
  });

  it('turns a Groq early-stop error into a server error', async () => {
    const error = await expectProviderError(
      readChatCompletionsStream(chunks<GroqChunk>({ choices: [], x_groq: { error: 'over capacity' } }), {
        provider: 'groq',
        readExtras: readGroqExtras,
      }),
    );
    expect(error.kind).toBe('server');
    expect(error.message).toContain('over capacity');
  });
});
