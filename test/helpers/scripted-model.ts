import type { ChatMessage, ChatModel, ChatRequest, ChatStreamEvent, TokenUsage, ToolCallRequest } from '../../src/agent/chat-model.js';
import type { ProviderError } from '../../src/errors/index.js';

/** What one call to a scripted model does. */
export type ScriptedCall =
  | { text?: string; toolCalls?: ToolCallRequest[]; usage?: TokenUsage }
  /** Streams `afterText` (if any), then fails. */
  | { fail: ProviderError; afterText?: string }
  /** Sends nothing, ever, and ignores aborts: a provider that went silent. */
  | { hang: true };

/**
 * An in-memory implementation of our own ChatModel interface: each call plays the next
 * scripted behaviour (the last one repeats) and records what it was asked.
 */
export class ScriptedModel implements ChatModel {
  readonly requests: { messages: ChatMessage[]; signal: AbortSignal | undefined }[] = [];
  readonly #script: ScriptedCall[];

  constructor(
    readonly provider: string,
    script: ScriptedCall[],
    readonly model = `${provider}-model`,
  ) {
    if (script.length === 0) throw new Error('a scripted model needs at least one call');
    this.#script = [...script];
  }

  get calls(): number {
    return this.requests.length;
  }

  async *stream(request: ChatRequest): AsyncGenerator<ChatStreamEvent> {
    this.requests.push({ messages: structuredClone(request.messages), signal: request.signal });
    const call = this.#script.length > 1 ? this.#script.shift()! : this.#script[0]!;
    if ('hang' in call) {
      await new Promise<never>(() => {});
      return;
    }
    if ('fail' in call) {
      if (call.afterText) yield { type: 'text-delta', delta: call.afterText };
      throw call.fail;
    }
    if (call.text) yield { type: 'text-delta', delta: call.text };
    for (const toolCall of call.toolCalls ?? []) yield { type: 'tool-call', call: toolCall };
    yield {
      type: 'finish',
      reason: call.toolCalls?.length ? 'tool-calls' : 'stop',
      usage: call.usage ?? { inputTokens: 10, outputTokens: 5 },
    };
  }
}
