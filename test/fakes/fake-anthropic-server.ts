/**
 * A fake Anthropic Messages server on 127.0.0.1 (port 0), speaking the
 * documented SSE format: `event:`/`data:` pairs for message_start, ping,
 * content_block_start / _delta (text_delta, input_json_delta) / _stop,
 * message_delta (stop_reason, usage) and message_stop; errors as
 * `{"type":"error","error":{"type","message"}}`, over HTTP or as `event: error`.
 */
import { argumentsText, chunkText, estimateUsage, type ReplyScript, type StreamErrorSpec } from './provider-script.js';
import { startScriptedServer, type FakeProviderServer, type FakeServerOptions, type WireFormat } from './scripted-provider-server.js';

export type { FakeProviderServer, FakeServerOptions } from './scripted-provider-server.js';
export { echoResponder, lastUserText, type RecordedRequest, type Responder, type Script } from './provider-script.js';

/** `url` is the Anthropic SDK's baseURL: the SDK appends `/v1/messages` itself. */
export function startFakeAnthropicServer(options: FakeServerOptions = {}): Promise<FakeProviderServer> {
  return startScriptedServer(anthropicWire(), { ...options, basePath: '' });
}

const STOP_REASONS = { stop: 'end_turn', length: 'max_tokens', 'tool-calls': 'tool_use' } as const;

const ERROR_TYPES: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  403: { type: 'permission_error', message: 'Your API key does not have permission to use the specified resource.' },
  404: { type: 'not_found_error', message: 'The requested resource could not be found.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
  429: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit.' },
  500: { type: 'api_error', message: 'Internal server error' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

const STREAM_ERROR_TYPES = { overloaded: 529, rate_limited: 429, server: 500 } as const;

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

function anthropicWire(): WireFormat {
  let sequence = 0;

  return {
    handles: (method, path) => method === 'POST' && path.endsWith('/v1/messages'),

    responseHeaders: () => ({ 'request-id': `req_fake${++sequence}` }),

    errorBody(status, message) {
      const known = ERROR_TYPES[status] ?? (status >= 500 ? ERROR_TYPES[500]! : ERROR_TYPES[400]!);
      return { type: 'error', error: { type: known.type, message: message ?? known.message } };
    },

    renderStream(reply, request, requestBytes) {
      const usage = estimateUsage(requestBytes, reply);
      const size = reply.chunkSize ?? 8;
      const events: string[] = [];
      let index = 0;
      if (reply.text) {
        events.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
        for (const piece of chunkText(reply.text, size)) {
          events.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } }));
        }
        events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
        index++;
      }
      for (const call of reply.toolCalls ?? []) {
        const block = { type: 'tool_use', id: call.id ?? `toolu_fake${++sequence}`, name: call.name, input: {} };
        events.push(sse('content_block_start', { type: 'content_block_start', index, content_block: block }));
        // The API opens every tool input with an empty fragment.
        const fragments = ['', ...chunkText(argumentsText(call), size).filter((piece) => piece !== '')];
        for (const partial_json of fragments) {
          events.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } }));
        }
        events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
        index++;
      }

      const message = {
        id: `msg_fake${++sequence}`,
        type: 'message',
        role: 'assistant',
        model: request.body?.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
      };
      return {
        opening: [sse('message_start', { type: 'message_start', message }), sse('ping', { type: 'ping' })],
        events,
        closing: [
          sse('message_delta', {
            type: 'message_delta',
            delta: { stop_reason: stopReasonOf(reply), stop_sequence: null },
            usage: { output_tokens: usage.outputTokens },
          }),
          sse('message_stop', { type: 'message_stop' }),
        ],
      };
    },

    renderStreamError(spec: StreamErrorSpec) {
      const known = ERROR_TYPES[STREAM_ERROR_TYPES[spec.kind]]!;
      return sse('error', { type: 'error', error: { type: known.type, message: spec.message ?? known.message } });
    },

    renderJson(reply, request, requestBytes) {
      const usage = estimateUsage(requestBytes, reply);
      return {
        id: `msg_fake${++sequence}`,
        type: 'message',
        role: 'assistant',
        model: request.body?.model,
        content: [
          ...(reply.text ? [{ type: 'text', text: reply.text }] : []),
          ...(reply.toolCalls ?? []).map((call) => ({
            type: 'tool_use',
            id: call.id ?? `toolu_fake${++sequence}`,
            name: call.name,
            input: typeof call.arguments === 'string' ? safeParse(call.arguments) : call.arguments,
          })),
        ],
        stop_reason: stopReasonOf(reply),
        stop_sequence: null,
        usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens },
      };
    },
  };
}

function stopReasonOf(reply: ReplyScript): string {
  return STOP_REASONS[reply.finishReason ?? (reply.toolCalls?.length ? 'tool-calls' : 'stop')];
}

function safeParse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return {};
  }
}
