import OpenAI from 'openai';
import type { ChatModel, ChatRequest, ChatStreamEvent } from '../../chat-model.js';
import {
  isChatCompletionsRateLimitLabel,
  readChatCompletionsStream,
  toChatCompletionsMessages,
  toChatCompletionsTools,
} from '../chat-completions.js';
import { toProviderError } from '../provider-errors.js';
import { sdkClientOptions } from '../sdk-client-options.js';
import { openaiSettings } from './settings.js';

export interface OpenAIModelOptions {
  apiKey: string;
  baseURL?: string;
  model: string;
  timeoutMs?: number;
}

/** OpenAI's Chat Completions API, streamed. */
export class OpenAIChatModel implements ChatModel {
  readonly provider = openaiSettings.name;
  readonly model: string;
  readonly #client: OpenAI;
  readonly #apiKey: string;

  constructor(options: OpenAIModelOptions) {
    this.model = options.model;
    this.#apiKey = options.apiKey;
    this.#client = new OpenAI(sdkClientOptions(options));
  }

  async *stream(request: ChatRequest): AsyncGenerator<ChatStreamEvent> {
    const context = {
      provider: this.provider,
      signal: request.signal,
      apiKey: this.#apiKey,
      sdk: OpenAI,
      baseUrlVariable: openaiSettings.variables.baseUrl,
      isRateLimitLabel: isChatCompletionsRateLimitLabel,
    };
    try {
      const chunks = await this.#client.chat.completions.create(
        {
          model: this.model,
          messages: toChatCompletionsMessages(request.system, request.messages),
          ...(request.tools.length > 0 && { tools: toChatCompletionsTools(request.tools) }),
          max_completion_tokens: request.maxOutputTokens,
          stream: true,
          stream_options: { include_usage: true },
        },
        { signal: request.signal },
      );
      yield* readChatCompletionsStream(chunks, context);
    } catch (error) {
      throw toProviderError(error, context);
    }
  }
}
