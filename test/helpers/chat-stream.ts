import { expect } from 'vitest';
import type { ChatRequest, ChatStreamEvent, ToolCallRequest } from '../../src/agent/chat-model.js';
import { ProviderError } from '../../src/errors/index.js';

/** Drains a model stream; `onEvent` runs as each event arrives (e.g. to abort mid-stream). */
export async function collectEvents(
  stream: AsyncIterable<ChatStreamEvent>,
  onEvent?: (event: ChatStreamEvent) => void,
): Promise<ChatStreamEvent[]> {
  const events: ChatStreamEvent[] = [];
  for await (const event of stream) {
    events.push(event);
    onEvent?.(event);
  }
  return events;
}

/** Drains a stream that must fail, and returns its ProviderError. */
export async function expectProviderError(
  stream: AsyncIterable<ChatStreamEvent>,
  onEvent?: (event: ChatStreamEvent) => void,
): Promise<ProviderError> {
  let events: ChatStreamEvent[] = [];
  try {
    events = await collectEvents(stream, onEvent);
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return error as ProviderError;
  }
  throw new Error(`stream ended without an error after ${JSON.stringify(events)}`);
}

export const textOf = (events: ChatStreamEvent[]) =>
  events.flatMap((event) => (event.type === 'text-delta' ? [event.delta] : [])).join('');

export const toolCallsOf = (events: ChatStreamEvent[]): ToolCallRequest[] =>
  events.flatMap((event) => (event.type === 'tool-call' ? [event.call] : []));

export const finishOf = (events: ChatStreamEvent[]) => {
  const finishes = events.filter((event) => event.type === 'finish');
  expect(finishes).toHaveLength(1);
  expect(events.at(-1)?.type).toBe('finish');
  return finishes[0] as Extract<ChatStreamEvent, { type: 'finish' }>;
};

export function chatRequest(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    system: 'You are a test assistant.',
    messages: [{ role: 'user', content: 'Hello there' }],
    tools: [],
    maxOutputTokens: 256,
    ...overrides,
  };
}
