/**
 * Reproduces, outside the server, what one long-lived AbortSignal passed to every
 * provider call costs: the OpenAI SDK adds an `abort` listener to the caller's signal
 * per request and never removes it (openai/client.mjs, fetchWithTimeout). The message
 * pipeline passes its process-wide shutdown signal to every turn, so listeners (and
 * whatever they retain) pile up for the life of the process.
 *
 *   node --expose-gc --import tsx bench/abort-listener-leak.ts [--calls=3000]
 */
import { getEventListeners } from 'node:events';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { startFakeOpenAIServer } from '../test/fakes/fake-openai-server.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '3000' } } });
const calls = Number(values.calls);
const fake = await startFakeOpenAIServer({ recordRequests: false, responder: () => ({ text: 'ok', chunkSize: 16 }) });
const client = new OpenAI({ apiKey: 'sk-bench', baseURL: fake.url, maxRetries: 0 });

async function run(label: string, signalFor: () => AbortSignal | undefined): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  let lastSignal: AbortSignal | undefined;
  let lastTenthStarted = started;
  for (let i = 0; i < calls; i++) {
    if (i === Math.floor(calls * 0.9)) lastTenthStarted = performance.now();
    lastSignal = signalFor();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${i}` }], stream: true },
      lastSignal ? { signal: lastSignal } : {},
    );
    for await (const _chunk of stream) {
      // Read to the end, as the server does.
    }
  }
  const ended = performance.now();
  const ms = ended - started;
  const lastTenthMs = (ended - lastTenthStarted) / (calls - Math.floor(calls * 0.9));
  gc?.();
  const retainedKB = (process.memoryUsage().heapUsed - heapBefore) / 1024;
  const listeners = lastSignal ? getEventListeners(lastSignal, 'abort').length : 0;
  console.log(
    `${label.padEnd(34)} ${calls} calls: ${(ms / calls).toFixed(3)} ms/call (last tenth ${lastTenthMs.toFixed(3)}), abort listeners left ${listeners}, heap retained ${retainedKB.toFixed(0)} KB (${(retainedKB / calls).toFixed(2)} KB/call)`,
  );
}

const shared = new AbortController();
await run('warm-up (not a result)', () => undefined);
await run('no signal', () => undefined);
await run('fresh signal per call', () => new AbortController().signal);
await run('one shared signal (as the server)', () => shared.signal);
await fake.close();
