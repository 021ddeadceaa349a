import { startStack } from '../bench-stack.js';
import { CpuMeter } from '../cpu-meter.js';
import type { BenchOptions } from '../options.js';
import { distribution } from '../percentiles.js';
import { loadAverage1m } from '../proc-stats.js';
import type { ScenarioResult } from '../report.js';
import { serverAddedLatencies, type MeasuredExchange } from '../server-added-latency.js';
import { Visitor } from '../visitor.js';

/** More failures than this and the run is broken, not slow: stop instead of waiting out every timeout. */
const MAX_ERRORS = 50;

/**
 * One visitor, one message at a time, fake provider latency 0: what the server adds
 * to a single turn when nothing else is going on.
 */
export async function runSerial(options: BenchOptions, runId: string): Promise<ScenarioResult> {
  const stack = await startStack({ latencyMs: 0, chunkSize: options.chunkSize, cpuProfileDir: options.cpuProfileDir });
  const visitor = new Visitor(stack.server.url, `serial-${runId}`, options.conversationTurns);
  const errors: string[] = [];
  const exchanges: MeasuredExchange[] = [];
  const loadAverage = loadAverage1m();
  let measuredSeconds = 0;
  let cpu;
  try {
    await visitor.connect();
    for (let i = 0; i < options.warmup && errors.length < MAX_ERRORS; i++) {
      await visitor.sendNext().catch((error: unknown) => void errors.push(String(error)));
    }
    const meter = new CpuMeter({ server: stack.server.pid, fakeProvider: stack.provider.pid });
    const started = performance.now();
    for (let i = 0; i < options.messages && errors.length < MAX_ERRORS; i++) {
      try {
        exchanges.push(await visitor.sendNext());
      } catch (error) {
        errors.push(String(error));
      }
    }
    measuredSeconds = (performance.now() - started) / 1000;
    cpu = meter.stop();
  } finally {
    visitor.close();
  }
  const { timings, untagged } = await stack.provider.takeTimings();
  const memory = stack.server.sampleMemory();
  const serverLogLines = stack.server.logLines;
  const exitCode = await stack.stop();

  const added = serverAddedLatencies(exchanges, timings);
  const serverAdded = distribution(added.samples);
  return {
    scenario: 'serial',
    rows: [
      { metric: 'server-added p50', value: serverAdded.p50, unit: 'ms', target: { op: '<=', value: 2 } },
      { metric: 'server-added p99', value: serverAdded.p99, unit: 'ms', target: { op: '<=', value: 5 } },
      { metric: 'client round trip p50', value: distribution(exchanges.map((exchange) => exchange.rttMs)).p50, unit: 'ms' },
      { metric: 'fake provider own time p50', value: distribution(added.providerMs).p50, unit: 'ms' },
      { metric: 'messages measured', value: serverAdded.count, unit: '' },
      { metric: 'errors', value: errors.length + added.unmatched, unit: '' },
    ],
    details: {
      parameters: { messages: options.messages, warmup: options.warmup, latencyMs: 0, chunkSize: options.chunkSize, conversationTurns: options.conversationTurns },
      serverAddedMs: serverAdded,
      clientRoundTripMs: distribution(exchanges.map((exchange) => exchange.rttMs)),
      providerOwnMs: distribution(added.providerMs),
      messagesPerSecond: Math.round((exchanges.length / measuredSeconds) * 10) / 10,
      cpuPercentOfOneCore: cpu,
      serverRssBytes: memory.rss,
      serverPeakRssBytes: memory.peakRss,
      errors: errors.length,
      errorSamples: [...new Set(errors)].slice(0, 5),
      unmatchedExchanges: added.unmatched,
      extraProviderRequests: added.extraRequests,
      untaggedProviderRequests: untagged,
      serverLogLines,
      serverExitCode: exitCode,
      loadAverage1mAtStart: loadAverage,
    },
  };
}
