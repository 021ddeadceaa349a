import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Every child the bench starts is registered here, so whatever way the bench ends
 * (done, error, Ctrl-C) none is left running.
 */
const running = new Set<ChildProcess>();

export const PROJECT_ROOT = new URL('..', import.meta.url).pathname;

/**
 * Runs a module under node, with stdout and stderr piped and an IPC channel; a `.ts`
 * module runs under `node --import tsx` (resolved from `cwd`, this repository by default).
 */
export function forkModule(
  modulePath: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; nodeOptions?: string[]; cwd?: string },
): ChildProcess {
  const typescript = modulePath.endsWith('.ts');
  const forkOptions: ForkOptions = {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: options.env,
    execArgv: [...(options.nodeOptions ?? []), ...(typescript ? ['--import', 'tsx'] : [])],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  };
  const child = fork(modulePath, args, forkOptions);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/**
 * Passes a child's output lines to our stderr with a prefix, the first `limit` of
 * them only (a flood of warnings would bury the results); counts the rest.
 */
export function relayOutput(child: ChildProcess, prefix: string, limit = 20): { lines: () => number } {
  let count = 0;
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      count++;
      if (count <= limit) process.stderr.write(`${prefix} ${line.slice(0, 500)}\n`);
      else if (count === limit + 1) process.stderr.write(`${prefix} (further output counted, not shown)\n`);
    });
  }
  return { lines: () => count };
}

/** SIGTERM, then SIGKILL if the child has not exited within `graceMs`. Resolves with its exit code. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** For exit paths that cannot wait: every child still running gets SIGKILL. */
export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}
