import { readCpuMs, readCpuMsByName, readMachineCpuMs } from './proc-stats.js';

/** CPU used during a measured window, in percent of one core (200 % = both cores of a 2-core machine). */
export interface CpuShares {
  server: number;
  fakeProvider: number;
  /** This process: the socket.io clients that generate the load. */
  clients: number;
  /** Every `postgres` process (backends, WAL writer, ...). Other users of the server count too. */
  postgres: number;
  /** The whole machine, whatever runs on it. */
  machine: number;
}

interface Snapshot {
  at: number;
  server: number;
  fakeProvider: number;
  clients: number;
  postgres: Map<number, number>;
  machineBusy: number;
}

/** Snapshots CPU time at the start of a window; `stop()` turns the difference into shares. */
export class CpuMeter {
  readonly #start: Snapshot;

  constructor(private readonly pids: { server: number; fakeProvider: number }) {
    this.#start = this.#snapshot();
  }

  stop(): CpuShares {
    const end = this.#snapshot();
    const start = this.#start;
    const wallMs = end.at - start.at;
    const share = (ms: number) => Math.round((ms / wallMs) * 1000) / 10;
    let postgres = 0;
    // Only processes alive at both ends: a backend that came or went has no honest difference.
    for (const [pid, cpu] of end.postgres) {
      const before = start.postgres.get(pid);
      if (before !== undefined) postgres += cpu - before;
    }
    return {
      server: share(end.server - start.server),
      fakeProvider: share(end.fakeProvider - start.fakeProvider),
      clients: share(end.clients - start.clients),
      postgres: share(postgres),
      machine: share(end.machineBusy - start.machineBusy),
    };
  }

  #snapshot(): Snapshot {
    const usage = process.cpuUsage();
    return {
      at: performance.now(),
      server: readCpuMs(this.pids.server) ?? 0,
      fakeProvider: readCpuMs(this.pids.fakeProvider) ?? 0,
      clients: (usage.user + usage.system) / 1000,
      postgres: readCpuMsByName('postgres'),
      machineBusy: readMachineCpuMs().busy,
    };
  }
}
