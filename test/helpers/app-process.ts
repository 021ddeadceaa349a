import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildDist } from './build-dist.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The real server as production runs it (`node dist/main.js`; test/global-setup.ts builds dist/
 * once per run) as a child process, configured only by its environment.
 */
export interface AppProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** SIGKILL: no shutdown hooks run, as in a crash. */
  kill(): Promise<void>;
  /** SIGTERM: graceful shutdown. */
  stop(): Promise<void>;
}

let built: Promise<void> | undefined;

/** Under vitest, test/global-setup.ts has built dist/ for the whole run; other callers (bench scripts) build it once per process. */
function ensureBuilt(): Promise<void> {
  if (process.env.VITEST) return Promise.resolve();
  built ??= buildDist();
  return built;
}

export async function startAppProcess(env: Record<string, string>): Promise<AppProcess> {
  await ensureBuilt();
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server that never came up must not outlive the test: nobody holds its handle yet.
      child.kill('SIGKILL');
      reject(new Error(`server did not start:\n${output.slice(-2000)}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"address":"(http:\/\/[^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exit.then(() => reject(new Error(`server exited early:\n${output.slice(-2000)}`)));
  });
  return {
    url,
    child,
    output: () => output,
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exit;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exit;
    },
  };
}
