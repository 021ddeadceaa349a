import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SYSCALLS = ['write', 'writev', 'sendto', 'sendmsg'] as const;
const ATTACH_TIMEOUT_MS = 10_000;

/** Calls per traced syscall over the traced window, from `strace -c`. */
export type SyscallCounts = Record<(typeof SYSCALLS)[number] | 'total', number>;

export function straceAvailable(): boolean {
  return spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
}

/**
 * `--strace`: `strace -c -f -e trace=write,writev,sendto,sendmsg -p <pid>` over a measured window.
 * It counts every thread's calls (libuv's pool and V8's threads too), the ones `/proc/<pid>/io`
 * `syscw` leaves out (sendto, sendmsg) included. ptrace stops the process on every traced call, so
 * in this mode the latency, throughput and CPU figures of the same window are not the server's.
 */
export class StraceCounter {
  private constructor(
    private readonly child: ChildProcess,
    private readonly directory: string,
    private readonly exited: Promise<void>,
  ) {}

  static async attach(pid: number): Promise<StraceCounter> {
    const directory = mkdtempSync(join(tmpdir(), 'sb_bench_strace_'));
    const child = spawn('strace', ['-c', '-f', '-e', `trace=${SYSCALLS.join(',')}`, '-o', join(directory, 'summary'), '-p', String(pid)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`strace did not attach to ${pid} within ${ATTACH_TIMEOUT_MS} ms: ${output}`)), ATTACH_TIMEOUT_MS);
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        // "strace: Process 123 attached with 11 threads" (or "attached" for a single thread).
        if (/Process \d+ attached/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`strace exited before attaching to ${pid}: ${output.trim()} (ptrace not permitted?)`));
      });
    });
    return new StraceCounter(child, directory, exited);
  }

  /** Detaches (SIGINT: strace writes its summary) and returns the counts. */
  async stop(): Promise<SyscallCounts> {
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
    try {
      return parseStraceSummary(readFileSync(join(this.directory, 'summary'), 'utf8'));
    } finally {
      rmSync(this.directory, { recursive: true, force: true });
    }
  }
}

/** The `calls` column of `strace -c`'s table, by syscall name. */
export function parseStraceSummary(summary: string): SyscallCounts {
  const counts = { write: 0, writev: 0, sendto: 0, sendmsg: 0, total: 0 };
  for (const line of summary.split('\n')) {
    // % time  seconds  usecs/call  calls  [errors]  syscall
    const fields = line.trim().split(/\s+/);
    const name = fields.at(-1);
    if (name === undefined || !(SYSCALLS as readonly string[]).includes(name)) continue;
    const calls = Number(fields[3]);
    if (Number.isFinite(calls)) counts[name as (typeof SYSCALLS)[number]] = calls;
  }
  counts.total = counts.write + counts.writev + counts.sendto + counts.sendmsg;
  return counts;
}
