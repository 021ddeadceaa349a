/**
 * What a fake provider does for one request, in provider-neutral terms. Each
 * fake server renders a Script into its own wire format (OpenAI chunks,
 * Anthropic events), so one script drives either provider.
 */

export interface ScriptTiming {
  /** Wait this long before the first byte (status line included): simulated provider latency. */
  delayMs?: number;
  /** Wait this long between streamed events. */
  interChunkDelayMs?: number;
}

export interface ScriptedToolCall {
  name: string;
  /** An object is JSON-encoded; a string is sent verbatim (so tests can send malformed JSON). */
  arguments: string | Record<string, unknown>;
  /** Defaults to a generated `call_…` / `toolu_…` id. */
  id?: string;
}

export interface ScriptedUsage {
  inputTokens: number;
  outputTokens: number;
}

/** A streamed (or, for non-streaming requests, whole) assistant reply. */
export interface ReplyScript extends ScriptTiming {
  text?: string;
  toolCalls?: ScriptedToolCall[];
  /** Characters per text delta and per tool-argument fragment. Default 8. */
  chunkSize?: number;
  /** Default: estimated from the request and reply sizes. */
  usage?: ScriptedUsage;
  /** Default: "tool-calls" when there are tool calls, else "stop". */
  finishReason?: 'stop' | 'length' | 'tool-calls';
  /** Send this many events after the opening one, then destroy the socket. */
  cutAfterChunks?: number;
  /** Send this many events after the opening one, then end the response cleanly without the closing events. */
  truncateAfterChunks?: number;
  /** After `afterChunks` events (default 0), send a provider error event and end the response. */
  streamError?: StreamErrorSpec;
}

export interface StreamErrorSpec {
  kind: 'overloaded' | 'rate_limited' | 'server';
  message?: string;
  afterChunks?: number;
}

/** An HTTP error response. `body` defaults to the provider's error JSON for the status. */
export interface ErrorScript extends ScriptTiming {
  error: { status: number; body?: unknown; headers?: Record<string, string>; message?: string };
}

/** Accept the request and never answer: for timeouts and aborts. */
export interface HangScript extends ScriptTiming {
  hang: true;
}

export type Script = ReplyScript | ErrorScript | HangScript;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (undefined when the body was empty or not JSON). */
  body: any;
}

/** Chooses the script for a request when the queue is empty. */
export type Responder = (body: any, request: RecordedRequest) => Script;

export const isHang = (script: Script): script is HangScript => 'hang' in script && script.hang === true;
export const isError = (script: Script): script is ErrorScript => 'error' in script && script.error !== undefined;

/**
 * Text of the last user message that has any, in either wire format: OpenAI
 * (`content` string or parts) or Anthropic (`content` string or blocks, where a
 * user message may hold only tool results).
 */
export function lastUserText(body: any): string {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role !== 'user') continue;
    if (typeof message.content === 'string') return message.content;
    if (Array.isArray(message.content)) {
      const text = message.content
        .filter((part: any) => part?.type === 'text' && typeof part.text === 'string')
        .map((part: any) => part.text)
        .join('');
      if (text !== '') return text;
    }
  }
  return '';
}

/** Replies `${prefix}${last user text}`: a fake model for tests that only need *an* answer. */
export function echoResponder(options: { prefix?: string } & Omit<ReplyScript, 'text' | 'toolCalls'> = {}): Responder {
  const { prefix = 'echo: ', ...rest } = options;
  return (body) => ({ ...rest, text: `${prefix}${lastUserText(body)}` });
}

/** Splits text into pieces of at most `size` characters (at least one piece, possibly empty). */
export function chunkText(text: string, size: number): string[] {
  const step = Math.max(1, Math.floor(size));
  if (text.length <= step) return [text];
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += step) pieces.push(text.slice(i, i + step));
  return pieces;
}

export function argumentsText(call: ScriptedToolCall): string {
  return typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
}

/** Roughly 4 characters per token, as providers' own rules of thumb go. */
export function estimateUsage(requestBytes: number, reply: ReplyScript): ScriptedUsage {
  if (reply.usage) return reply.usage;
  const replyChars = (reply.text ?? '').length + (reply.toolCalls ?? []).reduce((sum, call) => sum + argumentsText(call).length, 0);
  return { inputTokens: Math.max(1, Math.ceil(requestBytes / 4)), outputTokens: Math.max(1, Math.ceil(replyChars / 4)) };
}
