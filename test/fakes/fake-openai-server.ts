/**
 * A fake OpenAI Chat Completions server on 127.0.0.1 (port 0), speaking the
 * documented wire format: `chat.completion.chunk` SSE events ending in
 * `data: [DONE]`, tool calls streamed as index/id/name/argument fragments, a
 * usage-only chunk when `stream_options.include_usage` is set, and errors as
 * `{"error":{"message","type","param","code"}}`.
 *
 * It serves any path ending in `/chat/completions`, so groq-sdk (which calls
 * `/openai/v1/chat/completions` under its base URL, the server's `origin`) works
 * too; on that path it reports usage in `x_groq.usage` on the last chunk, as Groq does.
 */
import {
  argumentsText,
  chunkText,
  estimateUsage,
  type ReplyScript,
  type StreamErrorSpec,
} from './provider-script.js';
import { startScriptedServer, type FakeProviderServer, type FakeServerOptions, type WireFormat } from './scripted-provider-server.js';

export type { FakeProviderServer, FakeServerOptions } from './scripted-provider-server.js';
export { echoResponder, lastUserText, type RecordedRequest, type Responder, type Script } from './provider-script.js';

/** `url` is the OpenAI SDK's baseURL (`…/v1`); `origin` is groq-sdk's. */
export function startFakeOpenAIServer(options: FakeServerOptions = {}): Promise<FakeProviderServer> {
  return startScriptedServer(openAIWire(), { ...options, basePath: '/v1' });
}

const FINISH_REASONS = { stop: 'stop', length: 'length', 'tool-calls': 'tool_calls' } as const;

const ERROR_TYPES: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request.' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided.' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Request not allowed.' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist or you do not have access to it.' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests.' },
  500: { type: 'server_error', code: null, message: 'The server had an error while processing your request.' },
  503: { type: 'server_error', code: null, message: 'The engine is currently overloaded, please try again later.' },
};

function openAIWire(): WireFormat {
  let sequence = 0;

  return {
    handles: (method, path) => method === 'POST' && path.endsWith('/chat/completions'),

    responseHeaders: () => ({ 'x-request-id': `req_fake${++sequence}` }),

    errorBody(status, message) {
      const known = ERROR_TYPES[status] ?? (status >= 500 ? ERROR_TYPES[500]! : ERROR_TYPES[400]!);
      return { error: { message: message ?? known.message, type: known.type, param: null, code: known.code } };
    },

    renderStream(reply, request, requestBytes) {
      const body = request.body ?? {};
      const isGroq = request.path.startsWith('/openai/');
      const includeUsage = body.stream_options?.include_usage === true;
      const usage = toWireUsage(estimateUsage(requestBytes, reply));
      const id = `chatcmpl-fake${++sequence}`;
      const created = Math.floor(Date.now() / 1000);
      // With include_usage, every chunk but the last carries `"usage": null`.
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({
          id,
          object: 'chat.completion.chunk',
          created,
          model: body.model,
          system_fingerprint: 'fp_fake',
          choices,
          ...(includeUsage && { usage: null }),
          ...extra,
        })}\n\n`;
      const delta = (value: Record<string, unknown>, finishReason: string | null = null) =>
        chunk([{ index: 0, delta: value, logprobs: null, finish_reason: finishReason }]);

      const size = reply.chunkSize ?? 8;
      const events: string[] = [];
      if (reply.text) for (const piece of chunkText(reply.text, size)) events.push(delta({ content: piece }));
      (reply.toolCalls ?? []).forEach((call, index) => {
        const callId = call.id ?? `call_fake${++sequence}`;
        events.push(delta({ tool_calls: [{ index, id: callId, type: 'function', function: { name: call.name, arguments: '' } }] }));
        for (const piece of chunkText(argumentsText(call), size)) {
          if (piece !== '') events.push(delta({ tool_calls: [{ index, function: { arguments: piece } }] }));
        }
      });

      const finish = [{ index: 0, delta: {}, logprobs: null, finish_reason: finishReasonOf(reply) }];
      const closing = [
        chunk(finish, isGroq ? { x_groq: { id: `req_fake${sequence}`, usage } } : {}),
        ...(includeUsage ? [chunk([], { usage })] : []),
        'data: [DONE]\n\n',
      ];
      return { opening: [delta({ role: 'assistant', content: '' })], events, closing };
    },

    renderStreamError(spec: StreamErrorSpec) {
      const error =
        spec.kind === 'rate_limited'
          ? { message: spec.message ?? 'Rate limit reached for requests.', type: 'requests', param: null, code: 'rate_limit_exceeded' }
          : { message: spec.message ?? 'The server had an error while processing your request.', type: 'server_error', param: null, code: null };
      return `data: ${JSON.stringify({ error })}\n\n`;
    },

    renderJson(reply, request, requestBytes) {
      const calls = (reply.toolCalls ?? []).map((call) => ({
        id: call.id ?? `call_fake${++sequence}`,
        type: 'function',
        function: { name: call.name, arguments: argumentsText(call) },
      }));
      return {
        id: `chatcmpl-fake${++sequence}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: request.body?.model,
        system_fingerprint: 'fp_fake',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: reply.text ?? null, refusal: null, ...(calls.length > 0 && { tool_calls: calls }) },
            logprobs: null,
            finish_reason: finishReasonOf(reply),
          },
        ],
        usage: toWireUsage(estimateUsage(requestBytes, reply)),
      };
    },
  };
}

function finishReasonOf(reply: ReplyScript): string {
  return FINISH_REASONS[reply.finishReason ?? (reply.toolCalls?.length ? 'tool-calls' : 'stop')];
}

function toWireUsage(usage: { inputTokens: number; outputTokens: number }) {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

