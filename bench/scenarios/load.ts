import { stackOptions, startStack } from '../bench-stack.js';
import { CpuMeter, cpuPerMessage, type CpuUsage } from '../cpu-meter.js';
import type { BenchOptions } from '../options.js';
import { distribution } from '../percentiles.js';
import { loadAverage1m } from '../proc-stats.js';
import { toMB, type ScenarioResult } from '../report.js';
import { serverAddedLatencies } from '../server-added-latency.js';
import { LATE_REPLY_MS, Visitor, type SentMessage } from '../visitor.js';
import { connectInBatches } from './connect-in-batches.js';

/** After a failed message a visitor pauses, so a broken server is not hammered in a tight loop. */
const PAUSE_AFTER_ERROR_MS = 100;

/**
 * Closed loop: every visitor sends its next message as soon as the previous
 * `reply.done` arrives. Warm-up seconds first (not measured), then the measured window.
 *
 * Paced (`--rate=N`): the sockets together offer N messages/s; each sends on its own
 * schedule (every sockets / N seconds, phases spread) and never has two in flight, so a
 * reply later than its next slot delays that socket. A closed loop always drives the server
 * to saturation, where the added latency is the queue in front of it; a paced run shows the
 * latency at a throughput the server sustains.
 */
export async function runLoad(options: BenchOptions, runId: string): Promise<ScenarioResult> {
  const stack = await startStack(stackOptions(options, options.latency));
  const visitors = Array.from({ length: options.sockets }, (_, index) => new Visitor(stack.server.url, `load-${runId}-v${index}`, options.conversationTurns));
  const errors: { at: number; message: string }[] = [];
  const sent: SentMessage[] = [];
  const loadAverage = loadAverage1m();
  let cpu: CpuUsage | undefined;
  let peakRss = 0;
  let measureStart = 0;
  let measureEnd = 0;
  try {
    const connectErrors = await connectInBatches(visitors, options.connectBatch, (visitor) => visitor.connect());
    if (connectErrors.length > 0) throw new Error(`${connectErrors.length} of ${options.sockets} sockets could not connect: ${connectErrors[0]}`);

    const runStart = performance.now();
    measureStart = runStart + options.warmupSeconds * 1000;
    measureEnd = measureStart + options.duration * 1000;
    let meter: CpuMeter | undefined;
    const meterTimer = setTimeout(() => {
      meter = new CpuMeter({ server: stack.server.pid, fakeProvider: stack.provider.pid, database: stack.database.name });
    }, measureStart - runStart);
    const intervalMs = options.rate > 0 ? (options.sockets / options.rate) * 1000 : 0;
    const loops = visitors.map(async (visitor, index) => {
      let nextAt = runStart + (intervalMs * index) / options.sockets;
      // Bounded by time: no new message starts after the window closes.
      while (performance.now() < measureEnd) {
        if (intervalMs > 0) {
          const wait = nextAt - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          nextAt = Math.max(nextAt + intervalMs, performance.now());
          if (performance.now() >= measureEnd) break;
        }
        try {
          sent.push(await visitor.sendNext());
        } catch (error) {
          errors.push({ at: performance.now(), message: String(error) });
          await new Promise((resolve) => setTimeout(resolve, PAUSE_AFTER_ERROR_MS));
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, measureEnd - performance.now())));
    cpu = meter?.stop();
    peakRss = stack.server.sampleMemory().peakRss;
    clearTimeout(meterTimer);
    // Messages in flight when the window closed finish (or time out) before the sockets close.
    await Promise.all(loops);
  } finally {
    for (const visitor of visitors) visitor.close();
  }
  const { timings, untagged } = await stack.provider.takeTimings();
  const serverLogLines = stack.server.logLines;
  const exitCode = await stack.stop();

  const windowSeconds = (measureEnd - measureStart) / 1000;
  const completedInWindow = sent.filter((message) => {
    const doneAt = message.startedAt + message.rttMs;
    return doneAt >= measureStart && doneAt <= measureEnd;
  });
  const startedInWindow = sent.filter((message) => message.startedAt >= measureStart && message.startedAt <= measureEnd);
  const added = serverAddedLatencies(startedInWindow, timings);
  const serverAdded = distribution(added.samples);
  const lateReplies = startedInWindow.filter((message) => message.rttMs > LATE_REPLY_MS).length;
  const errorCount = errors.length + lateReplies + added.unmatched;
  const throughput = Math.round((completedInWindow.length / windowSeconds) * 10) / 10;
  const perMessage = cpuPerMessage(cpu, completedInWindow.length);
  return {
    scenario: 'load',
    rows: [
      { metric: 'throughput', value: throughput, unit: 'msg/s', target: { op: '>=', value: 500 } },
      { metric: 'errors (failed, or reply > 10 s)', value: errorCount, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'server-added p50', value: serverAdded.p50, unit: 'ms' },
      { metric: 'server-added p99', value: serverAdded.p99, unit: 'ms', target: { op: '<=', value: 20 } },
      { metric: 'peak server RSS', value: toMB(peakRss), unit: 'MB' },
      { metric: 'server CPU', value: cpu?.percentOfOneCore.server ?? NaN, unit: '% of a core' },
      { metric: 'server CPU per message', value: perMessage?.server ?? NaN, unit: 'ms' },
      { metric: 'PostgreSQL CPU per message', value: perMessage?.postgres ?? NaN, unit: 'ms' },
      { metric: 'Redis CPU per message', value: perMessage?.redis ?? NaN, unit: 'ms' },
      { metric: 'other processes on the machine', value: cpu?.percentOfOneCore.others ?? NaN, unit: '% of a core' },
    ],
    details: {
      parameters: {
        sockets: options.sockets,
        durationSeconds: options.duration,
        warmupSeconds: options.warmupSeconds,
        latencyMs: options.latency,
        offeredRate: options.rate,
        chunkSize: options.chunkSize,
        conversationTurns: options.conversationTurns,
      },
      messagesPerSecond: throughput,
      completedInWindow: completedInWindow.length,
      serverAddedMs: serverAdded,
      clientRoundTripMs: distribution(startedInWindow.map((message) => message.rttMs)),
      providerOwnMs: distribution(added.providerMs),
      cpu,
      cpuMsPerMessage: perMessage,
      serverPeakRssBytes: peakRss,
      errors: errorCount,
      failures: errors.length,
      lateReplies,
      errorsInWarmup: errors.filter((error) => error.at < measureStart).length,
      errorSamples: [...new Set(errors.map((error) => error.message))].slice(0, 5),
      unmatchedExchanges: added.unmatched,
      extraProviderRequests: added.extraRequests,
      untaggedProviderRequests: untagged,
      serverLogLines,
      serverExitCode: exitCode,
      loadAverage1mAtStart: loadAverage,
    },
  };
}
