import Groq from 'groq-sdk';
import type { ChatModel, ChatRequest, ChatStreamEvent } from '../../chat-model.js';
import {
  isChatCompletionsRateLimitLabel,
  readChatCompletionsStream,
  toChatCompletionsMessages,
  toChatCompletionsTools,
} from '../chat-completions.js';
import { toProviderError } from '../provider-errors.js';
import { sdkClientOptions } from '../sdk-client-options.js';
import { readGroqExtras } from './groq-chunks.js';
import { groqSettings } from './settings.js';

export interface GroqModelOptions {
  apiKey: string;
  /** The API origin: the SDK appends `/openai/v1/chat/completions`. */
  baseURL?: string;
  model: string;
  timeoutMs?: number;
}

/**
 * Groq's OpenAI-compatible Chat Completions, through groq-sdk. The wire format
 * is OpenAI's; the difference is that usage arrives in `x_groq.usage`, which
 * readGroqExtras hands the shared stream reader, so no `stream_options` is sent.
 */
export class GroqChatModel implements ChatModel {
  readonly provider = groqSettings.name;
  readonly model: string;
  readonly #client: Groq;
  readonly #apiKey: string;

  constructor(options: GroqModelOptions) {
    this.model = options.model;
    this.#apiKey = options.apiKey;
    this.#client = new Groq(sdkClientOptions(options));
  }

  async *stream(request: ChatRequest): AsyncGenerator<ChatStreamEvent> {
    const context = {
      provider: this.provider,
      signal: request.signal,
      apiKey: this.#apiKey,
      sdk: Groq,
      baseUrlVariable: groqSettings.variables.baseUrl,
      isRateLimitLabel: isChatCompletionsRateLimitLabel,
      readExtras: readGroqExtras,
    };
    try {
      const chunks = await this.#client.chat.completions.create(
        {
          model: this.model,
          messages: toChatCompletionsMessages(request.system, request.messages),
          ...(request.tools.length > 0 && { tools: toChatCompletionsTools(request.tools) }),
          max_completion_tokens: request.maxOutputTokens,
          stream: true,
        },
        { signal: request.signal },
      );
      yield* readChatCompletionsStream(chunks, context);
    } catch (error) {
      throw toProviderError(error, context);
    }
  }
}
