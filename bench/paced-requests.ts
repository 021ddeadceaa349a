import { Agent, request } from 'node:http';

/** A request that has not answered in this long counts as an error (a bounded run, never a hung bench). */
const REQUEST_TIMEOUT_MS = 10_000;

export interface PacedRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface PacedResult {
  /** Request issued → response body read (ms); NaN when it failed. */
  ackMs: number;
  /** How late the request was issued against its schedule (ms): the sender's own lag. */
  lateMs: number;
  /** `performance.now()` when the request was issued (after `build`). */
  issuedAt: number;
  /** 0 when no response came (refused, reset, timed out). */
  status: number;
  body: string;
  error?: string;
}

/**
 * An open loop over one keep-alive HTTP agent: request i is issued at start + i / rate whatever the
 * earlier ones are doing, so a slow answer never delays the next request. `build(i)` is called at
 * the moment request i is due (it may sign it then); `onResult` sees each answer as it arrives.
 * Resolves when every request has answered or failed.
 */
export async function sendPaced(
  baseUrl: string,
  plan: { rate: number; count: number; build: (index: number) => PacedRequest; onResult?: (index: number, result: PacedResult) => void },
): Promise<PacedResult[]> {
  // Bounded: beyond this many open connections requests wait in the agent (and count as slow).
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const results: PacedResult[] = new Array(plan.count);
  const answers: Promise<void>[] = [];
  const intervalMs = 1000 / plan.rate;
  const start = performance.now();
  try {
    for (let i = 0; i < plan.count; i++) {
      const dueAt = start + i * intervalMs;
      const wait = dueAt - performance.now();
      // Timers count whole milliseconds: rounded down, a request would go out before it is due.
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.ceil(wait)));
      const paced = plan.build(i);
      answers.push(
        send(agent, baseUrl, paced, performance.now() - dueAt).then((result) => {
          results[i] = result;
          plan.onResult?.(i, result);
        }),
      );
    }
    await Promise.all(answers);
  } finally {
    agent.destroy();
  }
  return results;
}

function send(agent: Agent, baseUrl: string, paced: PacedRequest, lateMs: number): Promise<PacedResult> {
  return new Promise((resolve) => {
    const startedAt = performance.now();
    const failed = (error: Error) => resolve({ ackMs: NaN, lateMs, issuedAt: startedAt, status: 0, body: '', error: error.message });
    const outgoing = request(`${baseUrl}${paced.path}`, { method: paced.method, headers: paced.headers, agent, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', failed);
      response.once('end', () =>
        resolve({ ackMs: performance.now() - startedAt, lateMs, issuedAt: startedAt, status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    outgoing.once('timeout', () => outgoing.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    outgoing.once('error', failed);
    outgoing.end(paced.body);
  });
}
