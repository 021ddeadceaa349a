import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { forkModule, PROJECT_ROOT, relayOutput, stopChild } from './child-processes.js';
import { readMemory } from './proc-stats.js';
import { describeTree, type TreeState } from './tree-state.js';

const READY_TIMEOUT_MS = 60_000;

/**
 * Production runs the compiled build (`npm start` builds, then runs `node dist/main.js`),
 * so the bench does too: the tsx loader alone costs ~80 MB of RSS and would be measured as
 * the server's. `--server-entry=src/main.ts` runs a checkout from source under tsx instead.
 */
export const DEFAULT_SERVER_ENTRY = 'dist/main.js';

/**
 * Message budgets are policy, not capacity: every bench visitor shares one IP and
 * sends far faster than a person, so the per-IP, per-user and global limits would
 * measure the limits themselves. 0 turns each off; `--server-env` can set them back.
 */
const BENCH_POLICY_ENV = {
  RATE_LIMIT_USER_PER_MINUTE: '0',
  RATE_LIMIT_IP_PER_MINUTE: '0',
  RATE_LIMIT_GLOBAL_PER_SECOND: '0',
};
const MEMORY_SAMPLE_MS = 200;
/** Shutdown drains turns in flight (SHUTDOWN_TIMEOUT_MS, 15 s by default) before it exits. */
const STOP_GRACE_MS = 20_000;

export interface ServerOptions {
  /** PostgreSQL and Redis; without them the server runs embedded (PGlite in DATA_DIR, in-process queue). */
  databaseUrl?: string;
  redisUrl?: string;
  redisPrefix?: string;
  providerUrl: string;
  /** Settings on top of the bench's own (they win). */
  extraEnv?: Record<string, string>;
  /** The checkout to run (default: this repository) and its entry point relative to it (default dist/main.js, built first). */
  root?: string;
  entry?: string;
  /** Directory for a V8 CPU profile of the server (`node --cpu-prof`), written when it exits. */
  cpuProfileDir?: string;
}

/** The real Switchboard server (`node dist/main.js`, as `npm start` runs it) as a child process, configured only by its environment. */
export class ServerProcess {
  #maxRss = 0;
  readonly #sampler: NodeJS.Timeout;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly output: { lines: () => number },
    /** The code it runs: read right after the build, before the process started. */
    readonly tree: TreeState,
  ) {
    this.#sampler = setInterval(() => this.sampleMemory(), MEMORY_SAMPLE_MS);
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(options: ServerOptions): Promise<ServerProcess> {
    const root = resolve(options.root ?? PROJECT_ROOT);
    const entry = options.entry ?? DEFAULT_SERVER_ENTRY;
    if (!entry.endsWith('.ts')) await buildOnce(root);
    const tree = describeTree(root);
    const port = await findFreePort();
    const child = forkModule(resolve(root, entry), [], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        ...(options.databaseUrl !== undefined && { DATABASE_URL: options.databaseUrl }),
        ...(options.redisUrl !== undefined && { REDIS_URL: options.redisUrl }),
        ...(options.redisPrefix !== undefined && { REDIS_PREFIX: options.redisPrefix }),
        LLM_PROVIDERS: 'openai',
        OPENAI_API_KEY: 'sk-bench',
        OPENAI_BASE_URL: options.providerUrl,
        ...BENCH_POLICY_ENV,
        ...options.extraEnv,
      },
      nodeOptions: options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [],
    });
    const output = relayOutput(child, '[server]');
    const url = `http://127.0.0.1:${port}`;
    await waitUntilReady(child, url);
    return new ServerProcess(child, url, output, tree);
  }

  /** Resident memory now and the largest seen (sampled every 200 ms, and the kernel's own peak, VmHWM). */
  sampleMemory(): { rss: number; peakRss: number } {
    const reading = readMemory(this.pid);
    if (reading) this.#maxRss = Math.max(this.#maxRss, reading.rss);
    return { rss: reading?.rss ?? 0, peakRss: Math.max(this.#maxRss, reading?.peakRss ?? 0) };
  }

  /** Lines the server wrote to stdout/stderr (at LOG_LEVEL=warn: warnings and errors). */
  get logLines(): number {
    return this.output.lines();
  }

  /** Graceful stop (SIGTERM); resolves with the exit code. */
  async stop(): Promise<number | null> {
    clearInterval(this.#sampler);
    return stopChild(this.child, STOP_GRACE_MS);
  }
}

/**
 * Applies a checkout's migrations to a database before its server starts (the entry `npm run
 * migrate` runs; built first, as the server is), so the bench can write rows the server reads at
 * start. The server's own start-up migration then finds nothing to do.
 */
export async function migrateDatabase(databaseUrl: string, options: Pick<ServerOptions, 'root' | 'entry'> = {}): Promise<void> {
  const root = resolve(options.root ?? PROJECT_ROOT);
  const fromSource = (options.entry ?? DEFAULT_SERVER_ENTRY).endsWith('.ts');
  if (!fromSource) await buildOnce(root);
  const child = forkModule(resolve(root, fromSource ? 'src/migrate.ts' : 'dist/migrate.js'), [], {
    cwd: root,
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const code = await new Promise<number | null>((resolvePromise) => child.once('exit', resolvePromise));
  if (code !== 0) throw new Error(`migrations failed in ${root} (exit ${code}):\n${output.join('').slice(-2000)}`);
}

const builds = new Map<string, Promise<void>>();

/** `npm run build` in the server's checkout, once per bench run (incremental: about a second when nothing changed). */
function buildOnce(root: string): Promise<void> {
  let build = builds.get(root);
  if (!build) {
    build = runBuild(root);
    builds.set(root, build);
  }
  return build;
}

function runBuild(root: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    // Build output goes to stderr with the bench's progress lines; stdout is for the results.
    const child = spawn('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 2, 2] });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolvePromise()
        : reject(new Error(`npm run build failed in ${root} (exit ${code}); a checkout without a build script runs with --server-entry=src/main.ts`)),
    );
  });
}

/** The kernel picks a free port; the server is then told to use it (at LOG_LEVEL=warn it does not log its address). */
async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Polls GET /ready (database and Redis answer) until it says 200; fails if the child exits first. */
async function waitUntilReady(child: ChildProcess, url: string): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready`);
    }
    try {
      const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`server not ready within ${READY_TIMEOUT_MS} ms`);
}
