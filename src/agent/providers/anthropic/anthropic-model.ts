import Anthropic from '@anthropic-ai/sdk';
import type { MessageParam, RawMessageStreamEvent, ToolResultBlockParam } from '@anthropic-ai/sdk/resources/messages';
import type {
  ChatMessage,
  ChatModel,
  ChatRequest,
  ChatStreamEvent,
  FinishReason,
  TokenUsage,
  ToolSpec,
} from '../../chat-model.js';
import { streamEndedEarly, toProviderError, type ProviderErrorContext } from '../provider-errors.js';
import { sdkClientOptions } from '../sdk-client-options.js';
import { anthropicSettings } from './settings.js';

export interface AnthropicModelOptions {
  apiKey: string;
  baseURL?: string;
  model: string;
  timeoutMs?: number;
}

/** Anthropic's Messages API, streamed as raw events. */
export class AnthropicChatModel implements ChatModel {
  readonly provider = anthropicSettings.name;
  readonly model: string;
  readonly #client: Anthropic;
  readonly #apiKey: string;

  constructor(options: AnthropicModelOptions) {
    this.model = options.model;
    this.#apiKey = options.apiKey;
    this.#client = new Anthropic(sdkClientOptions(options));
  }

  async *stream(request: ChatRequest): AsyncGenerator<ChatStreamEvent> {
    const context = {
      provider: this.provider,
      signal: request.signal,
      apiKey: this.#apiKey,
      sdk: Anthropic,
      baseUrlVariable: anthropicSettings.variables.baseUrl,
      isRateLimitLabel: isAnthropicRateLimitLabel,
    };
    try {
      const events = await this.#client.messages.create(
        {
          model: this.model,
          max_tokens: request.maxOutputTokens,
          ...(request.system !== '' && { system: request.system }),
          messages: toAnthropicMessages(request.messages),
          ...(request.tools.length > 0 && { tools: toAnthropicTools(request.tools) }),
          stream: true,
        },
        { signal: request.signal },
      );
      yield* readMessageStream(events, context);
    } catch (error) {
      throw toProviderError(error, context);
    }
  }
}

/** Anthropic labels a rate limit in an error event `rate_limit_error`. */
const isAnthropicRateLimitLabel = (label: string) => label.includes('rate_limit');

/**
 * Tool results travel as `tool_result` blocks in a user message, and the API
 * wants every result answering one assistant turn in a single user message.
 */
export function toAnthropicMessages(messages: ChatMessage[]): MessageParam[] {
  const rendered: MessageParam[] = [];
  let openResults: ToolResultBlockParam[] | undefined;
  for (const message of messages) {
    if (message.role === 'tool') {
      const block: ToolResultBlockParam = {
        type: 'tool_result',
        tool_use_id: message.toolCallId,
        content: message.content,
        is_error: message.isError,
      };
      if (openResults) {
        openResults.push(block);
      } else {
        openResults = [block];
        rendered.push({ role: 'user', content: openResults });
      }
      continue;
    }
    openResults = undefined;
    if (message.role === 'user') {
      rendered.push({ role: 'user', content: message.content });
    } else if (!message.toolCalls?.length) {
      rendered.push({ role: 'assistant', content: message.content });
    } else {
      rendered.push({
        role: 'assistant',
        content: [
          ...(message.content === '' ? [] : [{ type: 'text' as const, text: message.content }]),
          ...message.toolCalls.map((call) => ({
            type: 'tool_use' as const,
            id: call.id,
            name: call.name,
            input: parseToolInput(call.arguments),
          })),
        ],
      });
    }
  }
  return rendered;
}

/** The API requires `input` to be an object; a model's malformed arguments must not fail the whole request. */
function parseToolInput(json: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Anthropic only accepts object schemas at the top level, and types `input_schema` to say so. */
export function toAnthropicTools(tools: ToolSpec[]) {
  return tools.map((tool) => ({
    name: tool.name,
    description: tool.description,
    input_schema: { ...tool.inputSchema, type: 'object' as const },
  }));
}

type OpenBlock = { kind: 'text' } | { kind: 'tool'; id: string; name: string; json: string; input: unknown };

/** Raw stream events to ours: text as it arrives, each tool call at its block's stop, finish at message_stop. */
async function* readMessageStream(
  events: AsyncIterable<RawMessageStreamEvent>,
  context: ProviderErrorContext,
): AsyncGenerator<ChatStreamEvent> {
  const blocks = new Map<number, OpenBlock>();
  let usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  let stopReason: string | null = null;
  let stopped = false;

  for await (const event of events) {
    switch (event.type) {
      case 'message_start': {
        const start = event.message.usage;
        usage = { inputTokens: totalInput(start), outputTokens: start.output_tokens };
        break;
      }
      case 'content_block_start': {
        const block = event.content_block;
        if (block.type === 'text') {
          blocks.set(event.index, { kind: 'text' });
          if (block.text) yield { type: 'text-delta', delta: block.text };
        } else if (block.type === 'tool_use') {
          blocks.set(event.index, { kind: 'tool', id: block.id, name: block.name, json: '', input: block.input });
        }
        break;
      }
      case 'content_block_delta': {
        const block = blocks.get(event.index);
        if (event.delta.type === 'text_delta') yield { type: 'text-delta', delta: event.delta.text };
        else if (event.delta.type === 'input_json_delta' && block?.kind === 'tool') block.json += event.delta.partial_json;
        break;
      }
      case 'content_block_stop': {
        const block = blocks.get(event.index);
        if (block?.kind === 'tool') {
          // No input deltas means the input was complete in the start block (`{}` for a no-argument tool).
          const args = block.json === '' ? JSON.stringify(block.input ?? {}) : block.json;
          yield { type: 'tool-call', call: { id: block.id, name: block.name, arguments: args } };
        }
        blocks.delete(event.index);
        break;
      }
      case 'message_delta': {
        stopReason = event.delta.stop_reason ?? stopReason;
        // Cumulative when present; older API versions send only output_tokens here.
        const inputTokens = typeof event.usage.input_tokens === 'number' ? totalInput(event.usage) : usage.inputTokens;
        usage = { inputTokens, outputTokens: event.usage.output_tokens };
        break;
      }
      case 'message_stop':
        stopped = true;
        break;
    }
  }

  if (!stopped) throw streamEndedEarly(context);
  yield { type: 'finish', reason: toFinishReason(stopReason), usage };
}

/** Anthropic counts cached input separately; the total is what the request consumed. */
function totalInput(usage: {
  input_tokens: number | null;
  cache_creation_input_tokens: number | null;
  cache_read_input_tokens: number | null;
}): number {
  return (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}

function toFinishReason(reason: string | null): FinishReason {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'tool_use':
      return 'tool-calls';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    default:
      return 'other';
  }
}
