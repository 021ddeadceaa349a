import postgres from 'postgres';
import { POSTGRES_ADMIN_URL } from './bench-database.js';
import type { BenchRedis } from './bench-redis.js';
import { frameCounts } from './chat-client.js';
import { wireDelta, type PgProxy } from './pg-proxy.js';
import type { PgWireCounts } from './pg-proxy-protocol.js';
import { readIo, type IoReading } from './proc-stats.js';

/**
 * Counts per web turn, from deltas between two snapshots taken by the bench: Redis commands
 * (`INFO commandstats` on the bench's private redis-server), PostgreSQL statements, round trips
 * and commits on the wire (the counting proxy), write syscalls of the server process
 * (`/proc/<pid>/io` syscw) and socket.io frames at the bench's clients. Counts do not depend on
 * how busy the machine is: they are the figures to compare across runs and trees.
 */
export interface CountSources {
  redis: BenchRedis | undefined;
  proxy: PgProxy | undefined;
  serverPid: number;
}

export interface CountSnapshot {
  redis: Record<string, number> | undefined;
  wire: PgWireCounts | undefined;
  io: IoReading | undefined;
  frames: { in: number; out: number };
}

/** Commands the bench itself sends to its Redis between two snapshots (the `INFO` of the first). */
const OWN_COMMANDS: Record<string, number> = { info: 1 };
const TOP_COMMANDS = 10;

export async function takeSnapshot(sources: CountSources): Promise<CountSnapshot> {
  const [redis, wire] = await Promise.all([sources.redis?.commandCalls(), sources.proxy?.snapshot()]);
  return { redis, wire, io: readIo(sources.serverPid), frames: { ...frameCounts } };
}

/** `pg_stat_database` of the bench database after the proxy made every backend publish (server idle a second first). */
export interface PgStatReading {
  xactCommit: number;
  xactRollback: number;
  /** The proxy's own empty queries so far: one commit each, to subtract. */
  injectedQueries: number;
}

export async function readPgStats(proxy: PgProxy | undefined, databaseName: string): Promise<PgStatReading | undefined> {
  if (!proxy) return undefined;
  await proxy.flushStatistics();
  const admin = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const [row] = await admin<{ xact_commit: string; xact_rollback: string }[]>`
      select xact_commit, xact_rollback from pg_stat_database where datname = ${databaseName}`;
    const { injectedQueries } = await proxy.snapshot();
    return { xactCommit: Number(row?.xact_commit), xactRollback: Number(row?.xact_rollback), injectedQueries };
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export interface TurnCounts {
  turns: number;
  /** Per turn. */
  redisCommands: number;
  /** The commands that make up most of it, per turn, largest first. */
  redisTop: Record<string, number>;
  postgresStatements: number;
  /** Sync or simple-query cycles: what the server waited on PostgreSQL for. */
  postgresRoundTrips: number;
  /** Committed transactions on the wire. */
  postgresCommits: number;
  /** `pg_stat_database.xact_commit` delta (minus the proxy's own), when read around the window: autovacuum's transactions in the database count there too. */
  xactCommits: number | undefined;
  /** Frontend messages by type (P parse, B bind, D describe, E execute, S sync, Q query…). */
  postgresMessages: Record<string, number>;
  writeSyscalls: number;
  readSyscalls: number;
  framesToClient: number;
  framesFromClient: number;
  /** The raw deltas, for the JSON line. */
  totals: {
    redis: Record<string, number>;
    wire: PgWireCounts | undefined;
    syscw: number;
    syscr: number;
    frames: { in: number; out: number };
    xactCommit: number | undefined;
    xactRollback: number | undefined;
  };
}

export function countsPerTurn(
  before: CountSnapshot,
  after: CountSnapshot,
  turns: number,
  pgStats?: { before: PgStatReading | undefined; after: PgStatReading | undefined },
  /** Snapshots taken from `before` up to (not with) `after`: each sent one INFO, which is the bench's and not counted. */
  snapshotsBetween = 1,
): TurnCounts {
  const per = (value: number) => (turns > 0 ? Math.round((value / turns) * 1000) / 1000 : NaN);
  const redis: Record<string, number> = {};
  if (before.redis && after.redis) {
    for (const [command, calls] of Object.entries(after.redis)) {
      const delta = calls - (before.redis[command] ?? 0) - (OWN_COMMANDS[command] ?? 0) * snapshotsBetween;
      if (delta > 0) redis[command] = delta;
    }
  }
  const redisTotal = before.redis && after.redis ? Object.values(redis).reduce((sum, calls) => sum + calls, 0) : NaN;
  const redisTop = Object.fromEntries(
    Object.entries(redis)
      .sort(([, a], [, b]) => b - a)
      .slice(0, TOP_COMMANDS)
      .map(([command, calls]) => [command, per(calls)]),
  );
  const wire = before.wire && after.wire ? wireDelta(before.wire, after.wire) : undefined;
  const syscw = before.io && after.io ? after.io.syscw - before.io.syscw : NaN;
  const syscr = before.io && after.io ? after.io.syscr - before.io.syscr : NaN;
  const frames = { in: after.frames.in - before.frames.in, out: after.frames.out - before.frames.out };
  const stats = pgStats?.before && pgStats.after ? pgStats : undefined;
  const xactCommit = stats ? stats.after!.xactCommit - stats.before!.xactCommit - (stats.after!.injectedQueries - stats.before!.injectedQueries) : undefined;
  const xactRollback = stats ? stats.after!.xactRollback - stats.before!.xactRollback : undefined;
  return {
    turns,
    redisCommands: per(redisTotal),
    redisTop,
    postgresStatements: per(wire?.statements ?? NaN),
    postgresRoundTrips: per(wire?.roundTrips ?? NaN),
    postgresCommits: per(wire?.commits ?? NaN),
    xactCommits: xactCommit === undefined ? undefined : per(xactCommit),
    postgresMessages: Object.fromEntries(Object.entries(wire?.messages ?? {}).map(([type, calls]) => [type, per(calls)])),
    writeSyscalls: per(syscw),
    readSyscalls: per(syscr),
    framesToClient: per(frames.in),
    framesFromClient: per(frames.out),
    totals: { redis, wire, syscw, syscr, frames, xactCommit, xactRollback },
  };
}

/** "xadd 8, evalsha 5, …": the breakdown as one line. */
export function formatTop(top: Record<string, number>): string {
  if (Object.keys(top).length === 0) return 'none';
  return Object.entries(top)
    .map(([command, perTurn]) => `${command} ${formatCount(perTurn)}`)
    .join(', ');
}

export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1);
}
