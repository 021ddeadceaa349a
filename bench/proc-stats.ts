import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Linux /proc readings: memory and CPU time of a process, CPU time of the machine. */

const CLOCK_TICKS_PER_SECOND = readClockTicks();

function readClockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

export interface MemoryReading {
  /** Resident set size now, in bytes. */
  rss: number;
  /** Peak resident set size over the process's life (VmHWM), in bytes. */
  peakRss: number;
}

/** Undefined once the process is gone. */
export function readMemory(pid: number): MemoryReading | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kilobytes = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kilobytes('VmRSS'), peakRss: kilobytes('VmHWM') };
}

/** User + system CPU time a process has used, in milliseconds; undefined once it is gone. */
export function readCpuMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Every process whose command name is `name` and whose command line contains
 * `cmdlineIncludes` (PostgreSQL backends show their database there), with its CPU time.
 */
export function readCpuMsByName(name: string, cmdlineIncludes = ''): Map<number, number> {
  const found = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm !== name) continue;
      if (cmdlineIncludes && !readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(cmdlineIncludes)) continue;
      const cpu = readCpuMs(Number(entry));
      if (cpu !== undefined) found.set(Number(entry), cpu);
    } catch {
      // The process ended between readdir and read.
    }
  }
  return found;
}

/** I/O counters of a process (all its threads): `syscw` counts write(2)-family calls (write, writev, pwrite…), sockets included; sendto/sendmsg are not counted there. */
export interface IoReading {
  syscr: number;
  syscw: number;
  rchar: number;
  wchar: number;
}

/** `/proc/<pid>/io`; undefined once the process is gone (or when it is not ours to read). */
export function readIo(pid: number): IoReading | undefined {
  let io: string;
  try {
    io = readFileSync(`/proc/${pid}/io`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? NaN);
  return { syscr: field('syscr'), syscw: field('syscw'), rchar: field('rchar'), wchar: field('wchar') };
}

/** Busy and total CPU time of the whole machine, summed over cores, in milliseconds. */
export function readMachineCpuMs(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return { busy: ((total - idle) * 1000) / CLOCK_TICKS_PER_SECOND, total: (total * 1000) / CLOCK_TICKS_PER_SECOND };
}

export function loadAverage1m(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}
