import { loadEchoFloor } from '../bare-floor.js';
import { privateRedis } from '../bench-redis.js';
import { stackOptions, startStack } from '../bench-stack.js';
import { providerCallsThroughSdk } from '../calibration.js';
import { CpuMeter, cpuPerMessage, type CpuUsage } from '../cpu-meter.js';
import type { BenchOptions } from '../options.js';
import { distribution } from '../percentiles.js';
import { loadAverage1m } from '../proc-stats.js';
import { toMB, type ScenarioResult } from '../report.js';
import { serverAddedLatencies, type MeasuredExchange } from '../server-added-latency.js';
import { StraceCounter, type SyscallCounts } from '../strace-counter.js';
import { countsPerTurn, readPgStats, takeSnapshot, type CountSnapshot, type CountSources, type PgStatReading, type TurnCounts } from '../turn-counts.js';
import { countNotes, countRows, floorNotes, floorRows, measureOperationFloors, type TurnFloors } from '../turn-report.js';
import { LATE_REPLY_MS, Visitor, type SentMessage } from '../visitor.js';
import { benchWidgetKey, firstTurnNote, firstTurnRows, runFirstTurns, workspaceClients, type FirstTurns } from '../workspaces.js';
import { connectInBatches } from './connect-in-batches.js';

/** The echo floor's window under the same closed loop (after 2 s of warm-up): enough for a stable CPU per message. */
const ECHO_FLOOR_SECONDS = 10;
/** SDK calls for the floor, this many at a time (the fake answers after --latency). */
const SDK_FLOOR_CALLS = 500;
const SDK_FLOOR_CONCURRENCY = 50;

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
 *
 * With workspaces (`--workspaces`, `--workspaces-ab`) socket i uses workspace i mod N's widget key,
 * and each workspace's first turns run (measured on their own) before the warm-up.
 */
export async function runLoad(options: BenchOptions, runId: string): Promise<ScenarioResult> {
  const stack = await startStack(stackOptions(options, options.latency, { countTurns: true }));
  const visitors = Array.from(
    { length: options.sockets },
    (_, index) => new Visitor(stack.server.url, `load-${runId}-v${index}`, options.conversationTurns, benchWidgetKey(index, options.workspaces)),
  );
  const errors: { at: number; message: string }[] = [];
  const sent: SentMessage[] = [];
  const loadAverage = loadAverage1m();
  let cpu: CpuUsage | undefined;
  let peakRss = 0;
  let measureStart = 0;
  let measureEnd = 0;
  const sources: CountSources = { redis: privateRedis(), proxy: stack.proxy, serverPid: stack.server.pid };
  let windowCounts: { before: CountSnapshot; after: CountSnapshot } | undefined;
  let runCounts: { before: CountSnapshot; after: CountSnapshot; pgBefore: PgStatReading | undefined; pgAfter: PgStatReading | undefined } | undefined;
  let straceCounts: SyscallCounts | undefined;
  let floors: TurnFloors | undefined;
  let sdkFloorCalls: MeasuredExchange[] = [];
  let firstTurns: FirstTurns | undefined;
  const meterPids = { server: stack.server.pid, fakeProvider: stack.provider.pid, database: stack.database.name, ...(stack.proxy && { pgProxy: stack.proxy.pid }) };
  try {
    const connectErrors = await connectInBatches(visitors, options.connectBatch, (visitor) => visitor.connect());
    if (connectErrors.length > 0) throw new Error(`${connectErrors.length} of ${options.sockets} sockets could not connect: ${connectErrors[0]}`);
    // Before the run's counts: these turns are not in `sent`.
    const clients = workspaceClients(options);
    if (clients > 1) firstTurns = await runFirstTurns(stack.server.url, `load-${runId}`, visitors, clients, meterPids);
    // The whole run's counts, for the commits: pg_stat_database can only be read with the server quiet.
    const pgBefore = await readPgStats(stack.proxy, stack.database.name);
    const runBefore = await takeSnapshot(sources);

    const runStart = performance.now();
    measureStart = runStart + options.warmupSeconds * 1000;
    measureEnd = measureStart + options.duration * 1000;
    let meter: CpuMeter | undefined;
    let windowBefore: Promise<CountSnapshot> | undefined;
    let strace: Promise<StraceCounter> | undefined;
    const meterTimer = setTimeout(() => {
      windowBefore = takeSnapshot(sources);
      if (options.strace) strace = StraceCounter.attach(stack.server.pid);
      meter = new CpuMeter(meterPids);
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
    const windowAfter = takeSnapshot(sources);
    peakRss = stack.server.sampleMemory().peakRss;
    clearTimeout(meterTimer);
    straceCounts = await (await strace)?.stop();
    // Messages in flight when the window closed finish (or time out) before the sockets close.
    await Promise.all(loops);
    if (windowBefore) windowCounts = { before: await windowBefore, after: await windowAfter };
    const runAfter = await takeSnapshot(sources);
    runCounts = { before: runBefore, after: runAfter, pgBefore, pgAfter: await readPgStats(stack.proxy, stack.database.name) };

    if (!options.skipFloors) {
      const sdk = await providerCallsThroughSdk({ providerUrl: stack.provider.url, samples: SDK_FLOOR_CALLS, label: `load-sdk-${runId}`, concurrency: Math.min(options.sockets, SDK_FLOOR_CONCURRENCY) });
      sdkFloorCalls = sdk.calls;
      const deltas = Math.max(1, Math.round(sent.reduce((sum, message) => sum + message.deltas, 0) / Math.max(1, sent.length)));
      const echo = await loadEchoFloor({
        deltas,
        replyDelayMs: options.latency,
        sockets: options.sockets,
        warmupSeconds: 2,
        durationSeconds: Math.min(options.duration, ECHO_FLOOR_SECONDS),
        label: `echo-${runId}`,
      });
      const operations = await measureOperationFloors(stack.database.url, stack.database.name, privateRedis());
      floors = { echo, sdk: { latencyMs: distribution([]), cpuMsPerCall: sdk.cpuMsPerCall, concurrency: Math.min(options.sockets, SDK_FLOOR_CONCURRENCY) }, ...operations };
    }
  } finally {
    for (const visitor of visitors) visitor.close();
  }
  const { timings, untagged } = await stack.provider.takeTimings();
  const serverLogLines = stack.server.logLines;
  const tree = stack.server.tree;
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
  // Counts over the whole run (warm-up, window and the messages in flight at its end), quiet at both
  // ends, so every turn's work is in and none is cut at an edge; the commits (pg_stat_database) can
  // only be read so. Snapshots from the run's first up to its last: the run's, and the window's two.
  const counts: TurnCounts | undefined =
    runCounts && countsPerTurn(runCounts.before, runCounts.after, sent.length, { before: runCounts.pgBefore, after: runCounts.pgAfter }, windowCounts ? 3 : 1);
  // In the window only (per message completed in it), as a cross-check: up to a few per cent off, from the messages in flight at its edges.
  const windowOnly = windowCounts && countsPerTurn(windowCounts.before, windowCounts.after, completedInWindow.length);
  if (floors) floors.sdk.latencyMs = distribution(serverAddedLatencies(sdkFloorCalls, timings).samples);
  const serverCpu = perMessage?.server ?? NaN;
  return {
    scenario: 'load',
    rows: [
      { metric: 'throughput', value: throughput, unit: 'msg/s', target: { op: '>=', value: 500 } },
      { metric: 'errors (failed, or reply > 10 s)', value: errorCount, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'server-added p50', value: serverAdded.p50, unit: 'ms' },
      { metric: 'server-added p99', value: serverAdded.p99, unit: 'ms', target: { op: '<=', value: 20 } },
      { metric: 'peak server RSS', value: toMB(peakRss), unit: 'MB' },
      { metric: 'server CPU', value: cpu?.percentOfOneCore.server ?? NaN, unit: '% of a core' },
      { metric: 'server CPU per message', value: serverCpu, unit: 'ms' },
      { metric: 'PostgreSQL CPU per message', value: perMessage?.postgres ?? NaN, unit: 'ms' },
      { metric: 'Redis CPU per message', value: perMessage?.redis ?? NaN, unit: 'ms' },
      { metric: 'other processes on the machine', value: cpu?.percentOfOneCore.others ?? NaN, unit: '% of a core' },
      ...(firstTurns ? firstTurnRows(firstTurns) : []),
      // strace ran over the window only: its calls per message completed in the window.
      ...(counts ? countRows(counts, { checkRedis: false, strace: straceCounts && { counts: straceCounts, turns: completedInWindow.length } }) : []),
      ...(floors ? floorRows(floors, serverAdded.p50, serverCpu) : []),
      ...(floors?.echo.messagesPerSecond !== undefined ? [{ metric: 'floor: bare socket.io throughput, same loop', value: floors.echo.messagesPerSecond, unit: 'msg/s' }] : []),
    ],
    notes: [
      ...(firstTurns ? [firstTurnNote('load', options.workspaces, firstTurns)] : []),
      ...(counts ? countNotes('load (whole run)', counts) : []),
      ...(windowOnly ? [`load (window only, ${windowOnly.turns} turns): Redis ${windowOnly.redisCommands}, PostgreSQL statements ${windowOnly.postgresStatements}, commits ${windowOnly.postgresCommits}, write syscalls ${windowOnly.writeSyscalls}, frames ${windowOnly.framesToClient} per turn`] : []),
      ...(floors ? floorNotes('load', floors) : []),
      ...(options.strace ? ['load: --strace: the server ran under ptrace in the window; its throughput, latency and CPU figures are not valid in this run'] : []),
    ],
    details: {
      parameters: {
        sockets: options.sockets,
        workspaces: options.workspaces,
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
      counts,
      windowCounts: windowOnly,
      firstTurns,
      strace: straceCounts,
      floors,
      tree,
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
