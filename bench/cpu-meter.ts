import { privateRedisPid } from './bench-redis.js';
import { readCpuMs, readCpuMsByName, readMachineCpuMs } from './proc-stats.js';

/** CPU used during a measured window by each party, in milliseconds (summed over cores). */
export interface CpuTimes {
  server: number;
  fakeProvider: number;
  /** This process: the socket.io clients that generate the load. */
  clients: number;
  /** The PostgreSQL backends serving the bench database (not the WAL writer or checkpointer, which serve everyone). */
  postgres: number;
  /** The Redis server (queue, cache, budgets): the bench's private one when it runs (exact), else every redis-server on the machine (an upper bound). */
  redis: number;
  /** The bench's PostgreSQL counting proxy (a process of its own, on the server's path to PostgreSQL). */
  pgProxy: number;
  /** The whole machine minus the six above: other people's work on a shared machine. */
  others: number;
  /** The whole machine, whatever runs on it. */
  machine: number;
}

export interface CpuUsage {
  wallMs: number;
  ms: CpuTimes;
  /** In percent of one core (200 % = both cores of a 2-core machine). */
  percentOfOneCore: CpuTimes;
}

interface Snapshot {
  at: number;
  server: number;
  fakeProvider: number;
  clients: number;
  postgres: Map<number, number>;
  redis: Map<number, number>;
  pgProxy: number;
  machineBusy: number;
}

/** Snapshots CPU time at the start of a window; `stop()` turns the difference into shares. */
export class CpuMeter {
  readonly #start: Snapshot;

  constructor(private readonly pids: { server: number; fakeProvider: number; database: string; pgProxy?: number }) {
    this.#start = this.#snapshot();
  }

  stop(): CpuUsage {
    const end = this.#snapshot();
    const start = this.#start;
    const wallMs = end.at - start.at;
    const ours = {
      server: end.server - start.server,
      fakeProvider: end.fakeProvider - start.fakeProvider,
      clients: end.clients - start.clients,
      postgres: difference(start.postgres, end.postgres),
      redis: difference(start.redis, end.redis),
      pgProxy: end.pgProxy - start.pgProxy,
    };
    const machine = end.machineBusy - start.machineBusy;
    const ms: CpuTimes = { ...ours, others: Math.max(0, machine - Object.values(ours).reduce((a, b) => a + b, 0)), machine };
    const percent = (value: number) => Math.round((value / wallMs) * 1000) / 10;
    return {
      wallMs,
      ms: mapValues(ms, Math.round),
      percentOfOneCore: mapValues(ms, percent),
    };
  }

  #snapshot(): Snapshot {
    const usage = process.cpuUsage();
    return {
      at: performance.now(),
      server: readCpuMs(this.pids.server) ?? 0,
      fakeProvider: readCpuMs(this.pids.fakeProvider) ?? 0,
      clients: (usage.user + usage.system) / 1000,
      postgres: readCpuMsByName('postgres', ` ${this.pids.database} `),
      redis: redisCpu(),
      pgProxy: this.pids.pgProxy === undefined ? 0 : (readCpuMs(this.pids.pgProxy) ?? 0),
      machineBusy: readMachineCpuMs().busy,
    };
  }
}

function redisCpu(): Map<number, number> {
  const pid = privateRedisPid();
  if (pid === undefined) return readCpuMsByName('redis-server');
  return new Map([[pid, readCpuMs(pid) ?? 0]]);
}

/** CPU used between two readings by the processes alive at both: one that came or went has no honest difference. */
function difference(start: Map<number, number>, end: Map<number, number>): number {
  let sum = 0;
  for (const [pid, cpu] of end) {
    const before = start.get(pid);
    if (before !== undefined) sum += cpu - before;
  }
  return sum;
}

function mapValues(times: CpuTimes, map: (value: number) => number): CpuTimes {
  return Object.fromEntries(Object.entries(times).map(([key, value]) => [key, map(value)])) as unknown as CpuTimes;
}

/** CPU milliseconds each party spent per message. */
export function cpuPerMessage(
  usage: CpuUsage | undefined,
  messages: number,
): Record<'server' | 'postgres' | 'redis' | 'fakeProvider' | 'clients', number> | undefined {
  if (!usage || messages === 0) return undefined;
  const per = (ms: number) => Math.round((ms / messages) * 100) / 100;
  return {
    server: per(usage.ms.server),
    postgres: per(usage.ms.postgres),
    redis: per(usage.ms.redis),
    fakeProvider: per(usage.ms.fakeProvider),
    clients: per(usage.ms.clients),
  };
}
