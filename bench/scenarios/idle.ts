import { readFileSync } from 'node:fs';
import { stackOptions, startStack } from '../bench-stack.js';
import type { BenchOptions } from '../options.js';
import { loadAverage1m } from '../proc-stats.js';
import { toMB, type ScenarioResult } from '../report.js';
import { Visitor } from '../visitor.js';
import { connectInBatches } from './connect-in-batches.js';

/** Time for the server to settle (timers, lazily freed buffers) before memory is read; GC cannot be forced from outside. */
const SETTLE_MS = 5_000;
/** File descriptors the processes need besides the sockets (database pool, Redis, stdio, the fake provider...). */
const SPARE_DESCRIPTORS = 200;

/** Many connected visitors that never send a message: what holding sockets open costs the server in memory. */
export async function runIdle(options: BenchOptions, runId: string): Promise<ScenarioResult> {
  const ownLimit = openFileLimit('self');
  if (ownLimit !== undefined && ownLimit < options.idle + SPARE_DESCRIPTORS) {
    throw new Error(`idle: ${options.idle} sockets need about ${options.idle + SPARE_DESCRIPTORS} file descriptors; ulimit -n is ${ownLimit} (raise it, e.g. ulimit -n 65536)`);
  }
  const stack = await startStack(stackOptions(options, 0));
  const visitors = Array.from({ length: options.idle }, (_, index) => new Visitor(stack.server.url, `idle-${runId}-v${index}`, 0));
  const loadAverage = loadAverage1m();
  const serverLimit = openFileLimit(stack.server.pid);
  let baseline;
  let settled;
  let connectSeconds = 0;
  let connectErrors: string[] = [];
  let connected = 0;
  try {
    await sleep(SETTLE_MS);
    baseline = stack.server.sampleMemory();
    const started = performance.now();
    connectErrors = await connectInBatches(visitors, options.connectBatch, (visitor) => visitor.connect());
    connectSeconds = (performance.now() - started) / 1000;
    await sleep(SETTLE_MS);
    settled = stack.server.sampleMemory();
    connected = visitors.filter((visitor) => visitor.connected).length;
  } finally {
    for (const visitor of visitors) visitor.close();
  }
  const serverLogLines = stack.server.logLines;
  const exitCode = await stack.stop();

  const perSocketKB = Math.round(((settled.rss - baseline.rss) / Math.max(1, connected) / 1024) * 10) / 10;
  return {
    scenario: 'idle',
    rows: [
      { metric: 'sockets connected', value: connected, unit: '', target: { op: '>=', value: options.idle } },
      { metric: 'server RSS, all connected', value: toMB(settled.rss), unit: 'MB', target: { op: '<=', value: 250 }, check: true },
      { metric: 'server RSS before connecting', value: toMB(baseline.rss), unit: 'MB' },
      { metric: 'RSS per idle socket', value: perSocketKB, unit: 'KB' },
      { metric: 'connect time, all sockets', value: Math.round(connectSeconds * 10) / 10, unit: 's' },
    ],
    details: {
      parameters: { sockets: options.idle, connectBatch: options.connectBatch, settleMs: SETTLE_MS },
      serverRssBeforeBytes: baseline.rss,
      serverRssConnectedBytes: settled.rss,
      serverPeakRssBytes: settled.peakRss,
      connected,
      connectErrors: connectErrors.length,
      connectErrorSamples: [...new Set(connectErrors)].slice(0, 5),
      connectsPerSecond: Math.round(options.idle / connectSeconds),
      openFileLimit: { bench: ownLimit, server: serverLimit },
      serverLogLines,
      serverExitCode: exitCode,
      loadAverage1mAtStart: loadAverage,
    },
  };
}

/** The soft `Max open files` limit of a process (what `ulimit -n` shows for a shell). */
function openFileLimit(pid: number | 'self'): number | undefined {
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    return soft === undefined ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
