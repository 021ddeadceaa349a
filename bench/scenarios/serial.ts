import { serialEchoFloor } from '../bare-floor.js';
import { privateRedis } from '../bench-redis.js';
import { stackOptions, startStack, type BenchStack } from '../bench-stack.js';
import { calibrate } from '../calibration.js';
import { CpuMeter, cpuPerMessage, type CpuUsage } from '../cpu-meter.js';
import type { BenchOptions } from '../options.js';
import { distribution } from '../percentiles.js';
import { loadAverage1m } from '../proc-stats.js';
import type { ScenarioResult } from '../report.js';
import { serverAddedLatencies } from '../server-added-latency.js';
import { StraceCounter, type SyscallCounts } from '../strace-counter.js';
import { countsPerTurn, readPgStats, takeSnapshot, type CountSources, type TurnCounts } from '../turn-counts.js';
import { cacheHitRows, countNotes, countRows, floorNotes, floorRows, measureOperationFloors, type TurnFloors } from '../turn-report.js';
import { LATE_REPLY_MS, Visitor, type SentMessage } from '../visitor.js';
import { benchWidgetKey, firstTurnNote, firstTurnRows, runFirstTurns, workspaceClients, type FirstTurns } from '../workspaces.js';

/** More failures than this and the run is broken, not slow: stop instead of waiting out every timeout. */
const MAX_ERRORS = 10;
const CALIBRATION_SAMPLES = 500;
/** The echo floor's messages: enough for a stable p50 without doubling the scenario's time. */
const ECHO_FLOOR_MESSAGES = 1000;
/** After the reply that fills the cache, before the hits: the store follows the reply. */
const CACHE_FILL_SETTLE_MS = 500;

/**
 * One visitor, one message at a time, fake provider latency 0: what the server adds
 * to a single turn when nothing else is going on. Preceded by reference measurements
 * (a PostgreSQL round trip, a provider call through the SDK) from this process; followed by
 * the counts per turn, the cache-hit turns and the floors of bench/turn-report.ts.
 *
 * With workspaces (`--workspaces`, `--workspaces-ab`) the messages, still one at a time, go
 * round-robin over one visitor per workspace (bench/workspaces.ts), after each workspace's first
 * turns (measured on their own).
 */
export async function runSerial(options: BenchOptions, runId: string): Promise<ScenarioResult> {
  const stack = await startStack(stackOptions(options, 0, { countTurns: true }));
  const clients = workspaceClients(options);
  const visitors = Array.from(
    { length: clients },
    (_, index) => new Visitor(stack.server.url, clients === 1 ? `serial-${runId}` : `serial-${runId}-v${index}`, options.conversationTurns, benchWidgetKey(index, options.workspaces)),
  );
  const errors: string[] = [];
  const exchanges: SentMessage[] = [];
  const loadAverage = loadAverage1m();
  const sources: CountSources = { redis: privateRedis(), proxy: stack.proxy, serverPid: stack.server.pid };
  let measuredSeconds = 0;
  let cpu: CpuUsage | undefined;
  let calibration;
  let counts: TurnCounts | undefined;
  let straceCounts: SyscallCounts | undefined;
  let cacheHit: Awaited<ReturnType<typeof measureCacheHits>> | undefined;
  let floors: TurnFloors | undefined;
  let firstTurns: FirstTurns | undefined;
  const meterPids = { server: stack.server.pid, fakeProvider: stack.provider.pid, database: stack.database.name, ...(stack.proxy && { pgProxy: stack.proxy.pid }) };
  try {
    calibration = await calibrate({
      databaseUrl: stack.database.url,
      proxiedDatabaseUrl: stack.proxy?.proxiedUrl(stack.database.url),
      providerUrl: stack.provider.url,
      samples: CALIBRATION_SAMPLES,
      label: `calibration-${runId}`,
    });
    for (const visitor of visitors) await visitor.connect();
    if (clients > 1) firstTurns = await runFirstTurns(stack.server.url, `serial-${runId}`, visitors, clients, meterPids);
    for (let i = 0; i < options.warmup && errors.length < MAX_ERRORS; i++) {
      await visitors[i % clients]!.sendNext().catch((error: unknown) => void errors.push(String(error)));
    }
    // Counts first (the commits reading waits for the server to be quiet a second), then the clocks.
    const pgBefore = await readPgStats(stack.proxy, stack.database.name);
    const before = await takeSnapshot(sources);
    const strace = options.strace ? await StraceCounter.attach(stack.server.pid) : undefined;
    const meter = new CpuMeter(meterPids);
    const started = performance.now();
    for (let i = 0; i < options.messages && errors.length < MAX_ERRORS; i++) {
      try {
        exchanges.push(await visitors[(options.warmup + i) % clients]!.sendNext());
      } catch (error) {
        errors.push(String(error));
      }
    }
    measuredSeconds = (performance.now() - started) / 1000;
    cpu = meter.stop();
    const after = await takeSnapshot(sources);
    straceCounts = await strace?.stop();
    const pgAfter = await readPgStats(stack.proxy, stack.database.name);
    counts = countsPerTurn(before, after, exchanges.length, { before: pgBefore, after: pgAfter });

    if (options.cacheHits > 0) cacheHit = await measureCacheHits(stack, sources, options.cacheHits, runId, benchWidgetKey(0, options.workspaces));
    if (!options.skipFloors) {
      const deltas = Math.max(1, Math.round(exchanges.reduce((sum, exchange) => sum + exchange.deltas, 0) / Math.max(1, exchanges.length)));
      const echo = await serialEchoFloor({ deltas, warmup: Math.min(options.warmup, 100), messages: Math.min(options.messages, ECHO_FLOOR_MESSAGES), label: `echo-${runId}` });
      const operations = await measureOperationFloors(stack.database.url, stack.database.name, privateRedis());
      floors = { echo, sdk: { latencyMs: distribution([]), cpuMsPerCall: calibration.providerCallCpuMs, concurrency: 1 }, ...operations };
    }
  } finally {
    for (const visitor of visitors) visitor.close();
  }
  const { timings, untagged } = await stack.provider.takeTimings();
  const memory = stack.server.sampleMemory();
  const serverLogLines = stack.server.logLines;
  const tree = stack.server.tree;
  const exitCode = await stack.stop();

  const added = serverAddedLatencies(exchanges, timings);
  const serverAdded = distribution(added.samples);
  const sdk = serverAddedLatencies(calibration.providerCalls, timings);
  const sdkOverhead = distribution(sdk.samples);
  if (floors) floors.sdk.latencyMs = sdkOverhead;
  const postgresRoundTrip = distribution(calibration.postgresRoundTripMs);
  const postgresUnprepared = distribution(calibration.postgresUnpreparedQueryMs);
  const perMessage = cpuPerMessage(cpu, exchanges.length);
  const lateReplies = exchanges.filter((exchange) => exchange.rttMs > LATE_REPLY_MS).length;
  const serverCpu = perMessage?.server ?? NaN;
  return {
    scenario: 'serial',
    rows: [
      { metric: 'server-added p50', value: serverAdded.p50, unit: 'ms', target: { op: '<=', value: 2 } },
      { metric: 'server-added p99', value: serverAdded.p99, unit: 'ms', target: { op: '<=', value: 5 } },
      { metric: 'client round trip p50', value: distribution(exchanges.map((exchange) => exchange.rttMs)).p50, unit: 'ms' },
      { metric: 'fake provider own time p50', value: distribution(added.providerMs).p50, unit: 'ms' },
      { metric: 'server CPU per message', value: serverCpu, unit: 'ms' },
      { metric: 'PostgreSQL CPU per message', value: perMessage?.postgres ?? NaN, unit: 'ms' },
      { metric: 'Redis CPU per message', value: perMessage?.redis ?? NaN, unit: 'ms' },
      { metric: 'messages measured', value: serverAdded.count, unit: '' },
      { metric: 'errors (failed, or reply > 10 s)', value: errors.length + lateReplies + added.unmatched, unit: '' },
      ...(counts ? countRows(counts, { checkRedis: true, strace: straceCounts && { counts: straceCounts, turns: exchanges.length } }) : []),
      ...(firstTurns ? firstTurnRows(firstTurns) : []),
      ...(cacheHit ? cacheHitRows(cacheHit.medianCounts, cacheHit.hits, cacheHit.sent, cacheHit.roundTripMs.p50) : []),
      { metric: 'ref: PostgreSQL select 1 p50', value: postgresRoundTrip.p50, unit: 'ms' },
      { metric: 'ref: select 1 through the counting proxy p50', value: distribution(calibration.proxiedRoundTripMs).p50, unit: 'ms' },
      { metric: 'ref: unprepared query p50', value: postgresUnprepared.p50, unit: 'ms' },
      { metric: 'ref: SDK call minus fake p50', value: sdkOverhead.p50, unit: 'ms' },
      ...(floors ? floorRows(floors, serverAdded.p50, serverCpu) : []),
    ],
    notes: [
      ...(firstTurns ? [firstTurnNote('serial', options.workspaces, firstTurns)] : []),
      ...(counts ? countNotes('serial', counts) : []),
      ...(cacheHit
        ? [
            ...countNotes('serial cache hit (mean)', cacheHit.counts),
            `serial cache hit: the median hit is in the table; mean over ${cacheHit.counts.turns}: Redis ${cacheHit.counts.redisCommands}, PostgreSQL statements ${cacheHit.counts.postgresStatements}, write syscalls ${cacheHit.counts.writeSyscalls}; ${cacheHit.hitsAboveMedianRedis} hit(s) above the median in Redis commands`,
          ]
        : []),
      ...(floors ? floorNotes('serial', floors) : []),
      ...(options.strace ? ['serial: --strace: the server ran under ptrace in the window; its latency and CPU figures are not valid in this run'] : []),
    ],
    details: {
      parameters: { messages: options.messages, warmup: options.warmup, workspaces: options.workspaces, visitors: clients, latencyMs: 0, chunkSize: options.chunkSize, conversationTurns: options.conversationTurns, cacheHits: options.cacheHits, rateLimits: options.rateLimits, strace: options.strace },
      tree,
      serverAddedMs: serverAdded,
      clientRoundTripMs: distribution(exchanges.map((exchange) => exchange.rttMs)),
      providerOwnMs: distribution(added.providerMs),
      messagesPerSecond: Math.round((exchanges.length / measuredSeconds) * 10) / 10,
      cpu,
      cpuMsPerMessage: perMessage,
      counts,
      strace: straceCounts,
      cacheHit: cacheHit && { ...cacheHit, counts: cacheHit.counts },
      firstTurns,
      floors,
      reference: {
        postgresSelect1Ms: postgresRoundTrip,
        proxiedSelect1Ms: distribution(calibration.proxiedRoundTripMs),
        postgresUnpreparedQueryMs: postgresUnprepared,
        sdkCallRoundTripMs: distribution(calibration.providerCalls.map((call) => call.rttMs)),
        sdkCallMinusFakeMs: sdkOverhead,
        sdkCallCpuMs: calibration.providerCallCpuMs,
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

/**
 * Cache hits: one visitor asks a question as its first message (a miss: the answer goes to the
 * reply cache), then `count` fresh visitors (new conversations, connected first) each ask the same
 * question as their first message, one after another, so the reply cache answers each. Counts are
 * taken around the hits only (connecting is not part of a hit). All in the workspace of `workspaceKey`
 * (none: the default).
 */
async function measureCacheHits(stack: BenchStack, sources: CountSources, count: number, runId: string, workspaceKey: string | undefined) {
  const text = `cache probe ${runId}: when are you open on Saturdays?`;
  const filler = new Visitor(stack.server.url, `cache-fill-${runId}`, 0, workspaceKey);
  const visitors = Array.from({ length: count }, (_, index) => new Visitor(stack.server.url, `cache-hit-${runId}-v${index}`, 0, workspaceKey));
  try {
    await filler.send(text, `cache-fill-${runId}`);
    await new Promise((resolve) => setTimeout(resolve, CACHE_FILL_SETTLE_MS));
    for (const visitor of visitors) await visitor.connect();
    const pgBefore = await readPgStats(stack.proxy, stack.database.name);
    // A snapshot before each hit and after the last: hit i's counts are snapshot i → i + 1, so work
    // that follows its reply falls to it, and the median over the hits leaves out what the server
    // does on its own clock (queue housekeeping) when it lands in one.
    const snapshots = [await takeSnapshot(sources)];
    const answers: SentMessage[] = [];
    const failures: string[] = [];
    for (const [index, visitor] of visitors.entries()) {
      try {
        answers.push(await visitor.send(text, `cache-hit-${runId}-${index}`));
      } catch (error) {
        failures.push(String(error));
      }
      snapshots.push(await takeSnapshot(sources));
    }
    const pgAfter = await readPgStats(stack.proxy, stack.database.name);
    const perHit = snapshots.slice(1).map((after, index) => countsPerTurn(snapshots[index]!, after, 1));
    const median = (values: number[]) => distribution(values).p50;
    return {
      sent: count,
      hits: answers.filter((answer) => answer.cached).length,
      failures: failures.length,
      failureSamples: [...new Set(failures)].slice(0, 3),
      roundTripMs: distribution(answers.map((answer) => answer.rttMs)),
      /** Mean over the hits (with whatever else ran meanwhile). */
      counts: countsPerTurn(snapshots[0]!, snapshots.at(-1)!, answers.length, { before: pgBefore, after: pgAfter }, snapshots.length - 1),
      /** The median hit. */
      medianCounts: {
        redisCommands: median(perHit.map((hit) => hit.redisCommands)),
        postgresStatements: median(perHit.map((hit) => hit.postgresStatements)),
        postgresCommits: median(perHit.map((hit) => hit.postgresCommits)),
        writeSyscalls: median(perHit.map((hit) => hit.writeSyscalls)),
        framesToClient: median(perHit.map((hit) => hit.framesToClient)),
      },
      /** How many hits took more Redis commands than the median one (the first reads Redis; housekeeping may land in others). */
      hitsAboveMedianRedis: perHit.filter((hit, _index, all) => hit.redisCommands > median(all.map((other) => other.redisCommands))).length,
    };
  } finally {
    filler.close();
    for (const visitor of visitors) visitor.close();
  }
}
