import { ProviderError } from '../../errors/index.js';
import type { ChatMessage, ChatStreamEvent, FinishReason, TokenUsage, ToolCallRequest, ToolSpec } from '../chat-model.js';
import { streamEndedEarly } from './provider-errors.js';

/*
 * The Chat Completions wire format, shared by OpenAI and Groq (whose API is
 * OpenAI-compatible); the types are the subset both SDKs accept. It lives apart
 * from either SDK so that loading one provider never loads the other's SDK.
 */
export type ChatCompletionsMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | {
      role: 'assistant';
      content: string | null;
      tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
    }
  | { role: 'tool'; tool_call_id: string; content: string };

export function toChatCompletionsMessages(system: string, messages: ChatMessage[]): ChatCompletionsMessage[] {
  const rendered: ChatCompletionsMessage[] = system === '' ? [] : [{ role: 'system', content: system }];
  for (const message of messages) {
    switch (message.role) {
      case 'user':
        rendered.push({ role: 'user', content: message.content });
        break;
      case 'assistant':
        rendered.push(renderAssistant(message.content, message.toolCalls ?? []));
        break;
      case 'tool':
        // The wire format has no error flag on tool results, so the model reads it in the text.
        rendered.push({
          role: 'tool',
          tool_call_id: message.toolCallId,
          content: message.content,
        });
        break;
    }
  }
  return rendered;
}

function renderAssistant(content: string, toolCalls: ToolCallRequest[]): ChatCompletionsMessage {
  if (toolCalls.length === 0) return { role: 'assistant', content };
  return {
    role: 'assistant',
    content: content === '' ? null : content,
    tool_calls: toolCalls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.arguments },
    })),
  };
}

export function toChatCompletionsTools(tools: ToolSpec[]) {
  return tools.map((tool) => ({
    type: 'function' as const,
    function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
  }));
}

/** The fields of a chat.completion.chunk we read, as both SDKs type them. */
export interface ChunkUsage {
  prompt_tokens: number;
  completion_tokens: number;
}
export interface ChatCompletionsChunk {
  choices: {
    delta?: {
      content?: string | null;
      tool_calls?: { index: number; id?: string | null; function?: { name?: string | null; arguments?: string | null } | null }[] | null;
    } | null;
    finish_reason?: string | null;
  }[];
  usage?: ChunkUsage | null;
}

/**
 * What an OpenAI-compatible provider adds to the wire format, read from each chunk by
 * the provider's own hook: usage reported in its own field, or an error that stops the stream.
 */
export interface ChunkExtras {
  usage?: ChunkUsage | null | undefined;
  error?: string | null | undefined;
}

/** OpenAI labels a rate limit with type "requests"/"tokens" and code "rate_limit_exceeded"; compatible APIs copy it. */
export const isChatCompletionsRateLimitLabel = (label: string): boolean =>
  label.includes('rate_limit') || label === 'requests' || label === 'tokens';

interface PartialToolCall {
  id: string;
  name: string;
  arguments: string;
}

interface StreamContext<Chunk> {
  provider: string;
  signal?: AbortSignal | undefined;
  readExtras?: ((chunk: Chunk) => ChunkExtras | null | undefined) | undefined;
}

/**
 * Turns chunks into our events: text as it arrives; tool calls, assembled by
 * index from their fragments, once the stream has finished; then one finish.
 */
export async function* readChatCompletionsStream<Chunk extends ChatCompletionsChunk>(
  chunks: AsyncIterable<Chunk>,
  context: StreamContext<Chunk>,
): AsyncGenerator<ChatStreamEvent> {
  const toolCalls = new Map<number, PartialToolCall>();
  let finishReason: string | undefined;
  let usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };

  for await (const chunk of chunks) {
    const extras = context.readExtras?.(chunk);
    if (extras?.error) {
      throw new ProviderError({ provider: context.provider, kind: 'server', message: `stream stopped: ${extras.error}` });
    }
    const reported = chunk.usage ?? extras?.usage;
    if (reported) usage = { inputTokens: reported.prompt_tokens, outputTokens: reported.completion_tokens };

    // We never ask for n > 1, so the first choice is the whole answer.
    const choice = chunk.choices[0];
    if (!choice) continue;
    const delta = choice.delta;
    if (delta?.content) yield { type: 'text-delta', delta: delta.content };
    for (const fragment of delta?.tool_calls ?? []) {
      const call = toolCalls.get(fragment.index) ?? { id: '', name: '', arguments: '' };
      if (fragment.id) call.id = fragment.id;
      if (fragment.function?.name) call.name = fragment.function.name;
      if (fragment.function?.arguments) call.arguments += fragment.function.arguments;
      toolCalls.set(fragment.index, call);
    }
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }

  if (finishReason === undefined) throw streamEndedEarly(context);
  const calls = [...toolCalls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
  for (const call of calls) {
    if (call.id === '' || call.name === '') {
      throw new ProviderError({ provider: context.provider, kind: 'invalid_response', message: 'tool call streamed without an id or name' });
    }
    yield { type: 'tool-call', call: { id: call.id, name: call.name, arguments: call.arguments === '' ? '{}' : call.arguments } };
  }
  // Some OpenAI-compatible servers say "stop" after tool calls; the calls are what the loop must act on.
  yield { type: 'finish', reason: calls.length > 0 ? 'tool-calls' : toFinishReason(finishReason), usage };
}

function toFinishReason(reason: string): FinishReason {
  switch (reason) {
    case 'stop':
      return 'stop';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    case 'length':
      return 'length';
    default:
      return 'other';
  }
}
