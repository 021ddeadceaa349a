import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  isError,
  isHang,
  type ErrorScript,
  type RecordedRequest,
  type ReplyScript,
  type Responder,
  type Script,
  type StreamErrorSpec,
  echoResponder,
} from './provider-script.js';

/** How one provider's wire format renders scripts. The HTTP plumbing around it is shared. */
export interface WireFormat {
  /** Whether this fake serves the request (anything else gets a 404 in the provider's error format). */
  handles(method: string, path: string): boolean;
  errorBody(status: number, message: string | undefined): unknown;
  /** Headers every response carries, e.g. a request id. */
  responseHeaders(): Record<string, string>;
  /**
   * `opening` is always sent; `events` are what `cutAfterChunks` / `streamError.afterChunks`
   * count; `closing` is sent only when the stream completes normally.
   */
  renderStream(reply: ReplyScript, request: RecordedRequest, requestBytes: number): SseFrames;
  renderStreamError(spec: StreamErrorSpec): string;
  renderJson(reply: ReplyScript, request: RecordedRequest, requestBytes: number): unknown;
}

export interface SseFrames {
  opening: string[];
  events: string[];
  closing: string[];
}

export interface FakeServerOptions {
  /** Used when no script is queued. Default: echo the last user message. */
  responder?: Responder;
  /** Keep every request in `requests` (default true). Turn off for long benchmarks. */
  recordRequests?: boolean;
}

export interface FakeProviderServer {
  /** The base URL to hand to the provider's SDK. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`, for SDKs that add their own path prefix (groq-sdk adds `/openai/v1`). */
  readonly origin: string;
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Queue scripts: each request takes the next one, then falls back to the responder. */
  push(...scripts: Script[]): void;
  /** Replace the fallback responder; `undefined` restores the echo responder. */
  setResponder(responder: Responder | undefined): void;
  /** Clear queued scripts and recorded requests, and restore the echo responder. */
  reset(): void;
  /** Stop listening and cut every open connection (hanging requests included). */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startScriptedServer(
  wire: WireFormat,
  options: FakeServerOptions & { basePath: string },
): Promise<FakeProviderServer> {
  const defaultResponder = echoResponder();
  const queue: Script[] = [];
  const requests: RecordedRequest[] = [];
  const record = options.recordRequests ?? true;
  let responder = options.responder ?? defaultResponder;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      path: (req.url ?? '/').split('?')[0] ?? '/',
      headers: req.headers,
      body: parseJson(raw),
    };
    if (record) requests.push(request);

    if (!wire.handles(request.method, request.path)) {
      sendJson(res, 404, wire.responseHeaders(), wire.errorBody(404, `no route for ${request.method} ${request.path}`));
      return;
    }
    const script = queue.shift() ?? responder(request.body, request);
    if (script.delayMs) await sleep(script.delayMs);
    if (res.destroyed) return;
    if (isHang(script)) return;
    if (isError(script)) {
      sendError(res, wire, script);
      return;
    }
    if (request.body?.stream !== true) {
      sendJson(res, 200, wire.responseHeaders(), wire.renderJson(script, request, raw.length));
      return;
    }
    await sendStream(res, wire, script, wire.renderStream(script, request, raw.length));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A fake that fails must fail loudly in the test, not hang it.
      if (!res.headersSent) sendJson(res, 500, {}, { error: { message: `fake server bug: ${String(error)}` } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    url: `${origin}${options.basePath}`,
    origin,
    requests,
    push: (...scripts) => void queue.push(...scripts),
    setResponder: (next) => {
      responder = next ?? defaultResponder;
    },
    reset: () => {
      queue.length = 0;
      requests.length = 0;
      responder = options.responder ?? defaultResponder;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

function sendError(res: ServerResponse, wire: WireFormat, script: ErrorScript) {
  const { status, body, headers = {}, message } = script.error;
  sendJson(res, status, { ...wire.responseHeaders(), ...headers }, body ?? wire.errorBody(status, message));
}

async function sendStream(res: ServerResponse, wire: WireFormat, script: ReplyScript, frames: SseFrames) {
  const ending = streamEnding(script);
  const body = [...frames.opening, ...frames.events.slice(0, ending.afterChunks)];
  const tail =
    ending.kind === 'complete' ? frames.closing : ending.kind === 'error' && script.streamError ? [wire.renderStreamError(script.streamError)] : [];

  res.writeHead(200, {
    ...wire.responseHeaders(),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-fake-latency-ms': String(script.delayMs ?? 0),
  });

  const gap = script.interChunkDelayMs ?? 0;
  if (gap > 0) {
    for (const frame of body) {
      if (res.destroyed) return;
      res.write(frame);
      await sleep(gap);
    }
  } else if (body.length > 0) {
    res.write(body.join(''));
  }
  if (res.destroyed) return;

  if (ending.kind === 'cut') {
    // Destroy only once the bytes are flushed, so the client sees the chunks and then a dead socket.
    res.write('', () => res.socket?.destroy());
    return;
  }
  res.end(tail.join(''));
}

/**
 * Which early ending applies, the earliest winning. A cut or truncation happens
 * even past the last event: the closing frames never arrive.
 */
function streamEnding(script: ReplyScript): { kind: 'complete' | 'cut' | 'truncate' | 'error'; afterChunks: number } {
  const candidates = [
    { kind: 'cut' as const, afterChunks: script.cutAfterChunks },
    { kind: 'truncate' as const, afterChunks: script.truncateAfterChunks },
    { kind: 'error' as const, afterChunks: script.streamError ? (script.streamError.afterChunks ?? 0) : undefined },
  ].filter((candidate): candidate is { kind: 'cut' | 'truncate' | 'error'; afterChunks: number } => candidate.afterChunks !== undefined);
  candidates.sort((a, b) => a.afterChunks - b.afterChunks);
  return candidates[0] ?? { kind: 'complete', afterChunks: Infinity };
}
