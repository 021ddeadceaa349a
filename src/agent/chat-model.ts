/** A tool the model may call, in provider-neutral form; each provider renders it to its own wire format. */
export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema (draft 2020-12 subset) of the tool's input object. */
  inputSchema: Record<string, unknown>;
}

/** A tool call as the model asked for it. `arguments` is the raw JSON text: parsing it is the tool loop's job. */
export interface ToolCallRequest {
  id: string;
  name: string;
  arguments: string;
}

export type ChatMessage =
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCallRequest[] }
  | { role: 'tool'; toolCallId: string; toolName: string; content: string; isError: boolean };

export interface ChatRequest {
  system: string;
  messages: ChatMessage[];
  tools: ToolSpec[];
  maxOutputTokens: number;
  signal?: AbortSignal;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export type FinishReason = 'stop' | 'tool-calls' | 'length' | 'other';

export type ChatStreamEvent =
  | { type: 'text-delta'; delta: string }
  /** Emitted once per complete tool call, after its arguments have fully streamed. */
  | { type: 'tool-call'; call: ToolCallRequest }
  | { type: 'finish'; reason: FinishReason; usage: TokenUsage };

/**
 * One LLM provider behind the official SDK. Implementations live one folder per provider
 * in ./providers and never leak SDK types or errors: failures are thrown as ProviderError.
 */
export interface ChatModel {
  /** The provider's plugin name (`anthropic`, ...): a string, so this contract never lists providers. */
  readonly provider: string;
  readonly model: string;
  stream(request: ChatRequest): AsyncIterable<ChatStreamEvent>;
}
