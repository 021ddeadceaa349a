import type { EchoFloor } from './bare-floor.js';
import { bullmqFloor, durableInsertFloor } from './floors.js';
import type { BenchRedis } from './bench-redis.js';
import type { Distribution } from './percentiles.js';
import type { ResultRow } from './report.js';
import type { SyscallCounts } from './strace-counter.js';
import { formatTop, type TurnCounts } from './turn-counts.js';

/** Redis commands per web turn (serial; all-in-one role, no tools): the issue-21 target. */
export const REDIS_COMMANDS_PER_TURN_TARGET = 20;
export const CACHE_HIT_REDIS_TARGET = 2;
export const CACHE_HIT_STATEMENTS_TARGET = 1;
const FLOOR_OPERATIONS = 300;

/** Floors measured in the same scenario run (see bench/floors.ts, bench/bare-floor.ts). */
export interface TurnFloors {
  echo: EchoFloor;
  /** The OpenAI SDK call to the fake provider minus the fake's own time, and its CPU in the caller. */
  sdk: { latencyMs: Distribution; cpuMsPerCall: number; concurrency: number };
  durableInsert: Awaited<ReturnType<typeof durableInsertFloor>>;
  bullmq: Awaited<ReturnType<typeof bullmqFloor>> | undefined;
}

/** The floors that need neither the scenario's load nor its visitors: one durable insert + commit, one BullMQ round trip. */
export async function measureOperationFloors(
  databaseUrl: string,
  databaseName: string,
  redis: BenchRedis | undefined,
): Promise<Pick<TurnFloors, 'durableInsert' | 'bullmq'>> {
  const durableInsert = await durableInsertFloor(databaseUrl, databaseName, FLOOR_OPERATIONS);
  // BullMQ's floor is measured on the bench's private Redis only (the shared one would mix in others' commands).
  const bullmq = redis ? await bullmqFloor(redis, FLOOR_OPERATIONS) : undefined;
  return { durableInsert, bullmq };
}

/**
 * The sums a web turn is compared with. A turn needs at least: socket.io receiving the message and
 * sending the same frames (the echo floor), one model call through the SDK, and one durable commit
 * (an accepted message is stored before its ack: the contract). A design that sends every turn
 * through BullMQ (ceedf87) needs a BullMQ round trip on top: both sums are printed.
 */
export function floorSums(floors: TurnFloors): { latencyMs: number; cpuMs: number; withQueueLatencyMs: number; withQueueCpuMs: number } {
  const latencyMs = floors.echo.latencyMs.p50 + floors.sdk.latencyMs.p50 + floors.durableInsert.latencyMs.p50;
  const cpuMs = floors.echo.cpuMsPerMessage + floors.sdk.cpuMsPerCall + floors.durableInsert.cpuMsPerOperation;
  return {
    latencyMs: round(latencyMs),
    cpuMs: round(cpuMs),
    withQueueLatencyMs: floors.bullmq ? round(latencyMs + floors.bullmq.latencyMs.p50) : NaN,
    withQueueCpuMs: floors.bullmq ? round(cpuMs + floors.bullmq.cpuMsPerOperation) : NaN,
  };
}

export function floorRows(floors: TurnFloors, serverAddedP50: number, serverCpuPerMessage: number): ResultRow[] {
  const sums = floorSums(floors);
  const ratio = (value: number, over: number) => (Number.isFinite(value) && over > 0 ? Math.round((value / over) * 100) / 100 : NaN);
  return [
    { metric: 'floor: bare socket.io, same frames, p50', value: floors.echo.latencyMs.p50, unit: 'ms' },
    { metric: 'floor: bare socket.io CPU per message', value: floors.echo.cpuMsPerMessage, unit: 'ms' },
    { metric: 'floor: SDK call minus fake p50', value: floors.sdk.latencyMs.p50, unit: 'ms' },
    { metric: 'floor: SDK CPU per call', value: floors.sdk.cpuMsPerCall, unit: 'ms' },
    { metric: 'floor: durable insert + commit p50', value: floors.durableInsert.latencyMs.p50, unit: 'ms' },
    { metric: 'floor: durable insert CPU (client)', value: floors.durableInsert.cpuMsPerOperation, unit: 'ms' },
    ...(floors.bullmq
      ? [
          { metric: 'floor: BullMQ add → processed p50', value: floors.bullmq.latencyMs.p50, unit: 'ms' },
          { metric: 'floor: BullMQ CPU per job (client)', value: floors.bullmq.cpuMsPerOperation, unit: 'ms' },
          { metric: 'floor: BullMQ Redis commands per job', value: floors.bullmq.redisCommandsPerOperation, unit: '' },
        ]
      : []),
    { metric: 'server-added p50 ÷ floors (socket.io + SDK + commit)', value: ratio(serverAddedP50, sums.latencyMs), unit: '×' },
    { metric: 'server-added p50 ÷ floors + BullMQ', value: ratio(serverAddedP50, sums.withQueueLatencyMs), unit: '×' },
    { metric: 'server CPU per message ÷ floors (socket.io + SDK + commit)', value: ratio(serverCpuPerMessage, sums.cpuMs), unit: '×' },
    { metric: 'server CPU per message ÷ floors + BullMQ', value: ratio(serverCpuPerMessage, sums.withQueueCpuMs), unit: '×' },
  ];
}

/** Rows of the per-turn counts; the Redis target is checked on the serial scenario only. */
export function countRows(
  counts: TurnCounts,
  options: { checkRedis: boolean; strace?: { counts: SyscallCounts; turns: number } | undefined; commitsLabel?: string },
): ResultRow[] {
  return [
    {
      metric: 'Redis commands per turn',
      value: counts.redisCommands,
      unit: '',
      ...(options.checkRedis && { target: { op: '<=' as const, value: REDIS_COMMANDS_PER_TURN_TARGET }, check: true }),
    },
    { metric: 'PostgreSQL statements per turn', value: counts.postgresStatements, unit: '' },
    { metric: 'PostgreSQL round trips per turn', value: counts.postgresRoundTrips, unit: '' },
    { metric: 'PostgreSQL commits per turn (wire)', value: counts.postgresCommits, unit: '' },
    ...(counts.xactCommits !== undefined ? [{ metric: options.commitsLabel ?? 'xact_commit per turn (pg_stat_database)', value: counts.xactCommits, unit: '' }] : []),
    { metric: 'server write syscalls per turn (syscw)', value: counts.writeSyscalls, unit: '' },
    ...(options.strace
      ? [{ metric: 'server write+writev+sendto+sendmsg per turn (strace)', value: round(options.strace.counts.total / Math.max(1, options.strace.turns)), unit: '' }]
      : []),
    { metric: 'socket.io frames to the client per turn', value: counts.framesToClient, unit: '' },
  ];
}

export function countNotes(label: string, counts: TurnCounts): string[] {
  const messages = Object.entries(counts.postgresMessages)
    .map(([type, perTurn]) => `${type} ${perTurn}`)
    .join(', ');
  return [
    `${label}: Redis commands per turn: ${formatTop(counts.redisTop)} (${counts.turns} turns)`,
    `${label}: PostgreSQL frontend messages per turn: ${messages}; server read syscalls per turn ${counts.readSyscalls}, frames from the client ${counts.framesFromClient}`,
  ];
}

export function floorNotes(label: string, floors: TurnFloors): string[] {
  const sums = floorSums(floors);
  return [
    `${label}: floors: socket.io echo ${floors.echo.latencyMs.p50} ms / ${floors.echo.cpuMsPerMessage} ms CPU (${floors.echo.deltasPerMessage} deltas, ${floors.echo.framesToClientPerMessage} frames, ${floors.echo.writeSyscallsPerMessage} write syscalls per message${floors.echo.errors > 0 ? `; ${floors.echo.errors} FAILED` : ''}); ` +
      `SDK ${floors.sdk.latencyMs.p50} ms / ${floors.sdk.cpuMsPerCall} ms CPU; durable insert ${floors.durableInsert.latencyMs.p50} ms / ${floors.durableInsert.cpuMsPerOperation} ms CPU (+${floors.durableInsert.postgresCpuMsPerOperation} ms PostgreSQL, synchronous_commit ${floors.durableInsert.synchronousCommit})` +
      (floors.bullmq ? `; BullMQ ${floors.bullmq.latencyMs.p50} ms / ${floors.bullmq.cpuMsPerOperation} ms CPU (+${floors.bullmq.redisCpuMsPerOperation} ms Redis), ${floors.bullmq.redisCommandsPerOperation} Redis commands per job: ${formatTop(floors.bullmq.redisCommands)}` : ''),
    `${label}: sum of floors: ${sums.latencyMs} ms latency, ${sums.cpuMs} ms CPU (with BullMQ: ${sums.withQueueLatencyMs} ms, ${sums.withQueueCpuMs} ms)`,
  ];
}

export function cacheHitRows(
  counts: Pick<TurnCounts, 'redisCommands' | 'postgresStatements' | 'postgresCommits' | 'writeSyscalls' | 'framesToClient'>,
  hits: number,
  sent: number,
  roundTripP50: number,
): ResultRow[] {
  return [
    { metric: 'cache hits / first messages sent', value: hits, unit: `/ ${sent}`, target: { op: '>=', value: sent } },
    { metric: 'cache hit: Redis commands', value: counts.redisCommands, unit: '', target: { op: '<=', value: CACHE_HIT_REDIS_TARGET }, check: true },
    { metric: 'cache hit: PostgreSQL statements', value: counts.postgresStatements, unit: '', target: { op: '<=', value: CACHE_HIT_STATEMENTS_TARGET }, check: true },
    { metric: 'cache hit: PostgreSQL commits (wire)', value: counts.postgresCommits, unit: '' },
    { metric: 'cache hit: server write syscalls', value: counts.writeSyscalls, unit: '' },
    { metric: 'cache hit: frames to the client', value: counts.framesToClient, unit: '' },
    { metric: 'cache hit: client round trip p50', value: roundTripP50, unit: 'ms' },
  ];
}

const round = (value: number) => Math.round(value * 1000) / 1000;
