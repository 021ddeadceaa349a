/**
 * The fake LLM provider as a process of its own, so its CPU is not the server's:
 * an OpenAI-wire server (test/fakes) that answers every request with the same short
 * text after `--latency` ms, streamed in `--chunk-size` character deltas.
 *
 * It times its own part of each request, from the request head being parsed to the
 * last byte of the response handed to the kernel, keyed by the text of the last user
 * message (the bench makes every message text unique). The parent fetches and clears
 * those timings over the IPC channel; run by hand, it just prints its URL.
 *
 *   node --import tsx bench/fake-provider-process.ts --latency=200
 */
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { parseArgs } from 'node:util';
import { lastUserText, startFakeOpenAIServer } from '../test/fakes/fake-openai-server.js';
import { BENCH_REPLY, type FakeProviderMessage, type ParentMessage, type ProviderTiming } from './fake-provider-protocol.js';

const { values } = parseArgs({
  options: {
    latency: { type: 'string', default: '0' },
    'chunk-size': { type: 'string', default: '16' },
  },
});
const latencyMs = Number(values.latency);
const chunkSize = Number(values['chunk-size']);

interface OpenRequest {
  startedAt: number;
  text?: string;
}

/** Keyed by the request's headers object: the one handle both the HTTP hooks and the responder see. */
const open = new WeakMap<object, OpenRequest>();
const timings = new Map<string, ProviderTiming>();
let untagged = 0;

subscribe('http.server.request.start', (message) => {
  const { request } = message as { request: IncomingMessage };
  open.set(request.headers, { startedAt: performance.now() });
});
subscribe('http.server.response.finish', (message) => {
  const { request } = message as { request: IncomingMessage };
  const entry = open.get(request.headers);
  if (entry?.text === undefined) {
    untagged++;
    return;
  }
  const ms = performance.now() - entry.startedAt;
  const previous = timings.get(entry.text);
  // A retried request adds to the provider's share: the person waited for both.
  timings.set(entry.text, previous ? { ms: previous.ms + ms, requests: previous.requests + 1 } : { ms, requests: 1 });
});

const server = await startFakeOpenAIServer({
  recordRequests: false,
  responder: (body, request) => {
    const entry = open.get(request.headers);
    if (entry) entry.text = lastUserText(body);
    return { text: BENCH_REPLY, chunkSize, ...(latencyMs > 0 && { delayMs: latencyMs }) };
  },
});

const send = (message: FakeProviderMessage) => process.send?.(message);

process.on('message', (message: ParentMessage) => {
  if (message.type === 'take-timings') {
    send({ type: 'timings', entries: [...timings], untagged });
    timings.clear();
    untagged = 0;
  }
});
// The parent died or let go: nothing is left to serve.
process.on('disconnect', () => void server.close().finally(() => process.exit(0)));
process.on('SIGTERM', () => void server.close().finally(() => process.exit(0)));
process.on('SIGINT', () => void server.close().finally(() => process.exit(0)));

console.log(JSON.stringify({ url: server.url }));
send({ type: 'ready', url: server.url });
