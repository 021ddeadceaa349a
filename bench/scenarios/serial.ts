import { stackOptions, startStack } from '../bench-stack.js';
import { calibrate } from '../calibration.js';
import { CpuMeter, cpuPerMessage, type CpuUsage } from '../cpu-meter.js';
import type { BenchOptions } from '../options.js';
import { distribution } from '../percentiles.js';
import { loadAverage1m } from '../proc-stats.js';
import type { ScenarioResult } from '../report.js';
import { serverAddedLatencies, type MeasuredExchange } from '../server-added-latency.js';
import { LATE_REPLY_MS, Visitor } from '../visitor.js';

/** More failures than this and the run is broken, not slow: stop instead of waiting out every timeout. */
const MAX_ERRORS = 10;
const CALIBRATION_SAMPLES = 500;

/**
 * One visitor, one message at a time, fake provider latency 0: what the server adds
 * to a single turn when nothing else is going on. Preceded by reference measurements
 * (a PostgreSQL round trip, a provider call through the SDK) from this process.
 */
export async function runSerial(options: BenchOptions, runId: string): Promise<ScenarioResult> {
  const stack = await startStack(stackOptions(options, 0));
  const visitor = new Visitor(stack.server.url, `serial-${runId}`, options.conversationTurns);
  const errors: string[] = [];
  const exchanges: MeasuredExchange[] = [];
  const loadAverage = loadAverage1m();
  let measuredSeconds = 0;
  let cpu: CpuUsage | undefined;
  let calibration;
  try {
    calibration = await calibrate({
      databaseUrl: stack.database.url,
      providerUrl: stack.provider.url,
      samples: CALIBRATION_SAMPLES,
      label: `calibration-${runId}`,
    });
    await visitor.connect();
    for (let i = 0; i < options.warmup && errors.length < MAX_ERRORS; i++) {
      await visitor.sendNext().catch((error: unknown) => void errors.push(String(error)));
    }
    const meter = new CpuMeter({ server: stack.server.pid, fakeProvider: stack.provider.pid, database: stack.database.name });
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
  const sdk = serverAddedLatencies(calibration.providerCalls, timings);
  const sdkOverhead = distribution(sdk.samples);
  const postgresRoundTrip = distribution(calibration.postgresRoundTripMs);
  const postgresUnprepared = distribution(calibration.postgresUnpreparedQueryMs);
  const perMessage = cpuPerMessage(cpu, exchanges.length);
  const lateReplies = exchanges.filter((exchange) => exchange.rttMs > LATE_REPLY_MS).length;
  return {
    scenario: 'serial',
    rows: [
      { metric: 'server-added p50', value: serverAdded.p50, unit: 'ms', target: { op: '<=', value: 2 } },
      { metric: 'server-added p99', value: serverAdded.p99, unit: 'ms', target: { op: '<=', value: 5 } },
      { metric: 'client round trip p50', value: distribution(exchanges.map((exchange) => exchange.rttMs)).p50, unit: 'ms' },
      { metric: 'fake provider own time p50', value: distribution(added.providerMs).p50, unit: 'ms' },
      { metric: 'server CPU per message', value: perMessage?.server ?? NaN, unit: 'ms' },
      { metric: 'PostgreSQL CPU per message', value: perMessage?.postgres ?? NaN, unit: 'ms' },
      { metric: 'Redis CPU per message', value: perMessage?.redis ?? NaN, unit: 'ms' },
      { metric: 'messages measured', value: serverAdded.count, unit: '' },
      { metric: 'errors (failed, or reply > 10 s)', value: errors.length + lateReplies + added.unmatched, unit: '' },
      { metric: 'ref: PostgreSQL select 1 p50', value: postgresRoundTrip.p50, unit: 'ms' },
      { metric: 'ref: unprepared query p50', value: postgresUnprepared.p50, unit: 'ms' },
      { metric: 'ref: SDK call minus fake p50', value: sdkOverhead.p50, unit: 'ms' },
    ],
    details: {
      parameters: { messages: options.messages, warmup: options.warmup, latencyMs: 0, chunkSize: options.chunkSize, conversationTurns: options.conversationTurns },
      serverAddedMs: serverAdded,
      clientRoundTripMs: distribution(exchanges.map((exchange) => exchange.rttMs)),
      providerOwnMs: distribution(added.providerMs),
      messagesPerSecond: Math.round((exchanges.length / measuredSeconds) * 10) / 10,
      cpu,
      cpuMsPerMessage: perMessage,
      reference: {
        postgresSelect1Ms: postgresRoundTrip,
        postgresUnpreparedQueryMs: postgresUnprepared,
        sdkCallRoundTripMs: distribution(calibration.providerCalls.map((call) => call.rttMs)),
        sdkCallMinusFakeMs: sdkOverhead,
      },
      serverRssBytes: memory.rss,
      serverPeakRssBytes: memory.peakRss,
      failures: errors.length,
      lateReplies,
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
