import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchDatabase, POSTGRES_ADMIN_URL, type BenchDatabase } from './bench-database.js';
import { benchRedisUrl, dropRedisPrefix } from './bench-redis.js';
import { FakeProvider } from './fake-provider.js';
import type { BenchOptions } from './options.js';
import { PgProxy } from './pg-proxy.js';
import { migrateDatabase, ServerProcess } from './server-process.js';
import { insertBenchWorkspaces } from './workspaces.js';

/** What one scenario runs against: a fresh database, a fake provider process and a server process. */
export interface BenchStack {
  database: BenchDatabase;
  provider: FakeProvider;
  server: ServerProcess;
  /** The counting proxy the server reaches PostgreSQL through (bench/pg-proxy-process.ts); none with `--direct-postgres`. */
  proxy: PgProxy | undefined;
  /** Stops the server (gracefully), then the fake provider, then drops the database. Returns the server's exit code. */
  stop(): Promise<number | null>;
}

export interface StackOptions {
  latencyMs: number;
  chunkSize: number;
  cpuProfileDir: string | undefined;
  serverRoot: string | undefined;
  serverEntry: string | undefined;
  serverEnv: Record<string, string>;
  /** The server talks to PostgreSQL directly: no counting proxy (no statement or commit counts). */
  directPostgres?: boolean;
  /** More than 1: the database is migrated and this many bench workspaces written before the server starts (bench/workspaces.ts). */
  workspaces?: number;
}

export async function startStack(options: StackOptions): Promise<BenchStack> {
  const database = await createBenchDatabase();
  let provider: FakeProvider | undefined;
  let proxy: PgProxy | undefined;
  try {
    if ((options.workspaces ?? 1) > 1) {
      await migrateDatabase(database.url, { root: options.serverRoot, entry: options.serverEntry });
      await insertBenchWorkspaces(database.url, options.workspaces!);
    }
    provider = await FakeProvider.start({ latencyMs: options.latencyMs, chunkSize: options.chunkSize });
    const postgresAddress = new URL(POSTGRES_ADMIN_URL);
    if (!options.directPostgres) proxy = await PgProxy.start({ host: postgresAddress.hostname, port: Number(postgresAddress.port || 5432) });
    const server = await ServerProcess.start({
      // Through the counting proxy: statements, round trips and commits are counted on the wire.
      databaseUrl: proxy ? proxy.proxiedUrl(database.url) : database.url,
      redisUrl: benchRedisUrl(),
      // The database's random name doubles as the Redis key prefix, so runs never share queue, cache or budgets.
      redisPrefix: database.name,
      extraEnv: options.serverEnv,
      providerUrl: provider.url,
      ...(options.cpuProfileDir !== undefined && { cpuProfileDir: options.cpuProfileDir }),
      ...(options.serverRoot !== undefined && { root: options.serverRoot }),
      ...(options.serverEntry !== undefined && { entry: options.serverEntry }),
    });
    const started = provider;
    const startedProxy = proxy;
    // For attaching a profiler or strace by hand while a scenario runs.
    process.stderr.write(`bench: server pid ${server.pid} at ${server.url}, fake provider pid ${started.pid}${proxy ? `, PostgreSQL proxy pid ${proxy.pid}` : ''}\n`);
    return {
      database,
      provider: started,
      server,
      proxy: startedProxy,
      async stop() {
        try {
          return await server.stop();
        } finally {
          await started.stop();
          await startedProxy?.stop();
          await database.drop();
          await dropRedisPrefix(database.name);
        }
      },
    };
  } catch (error) {
    await provider?.stop();
    await proxy?.stop();
    await database.drop();
    throw error;
  }
}

/** `--rate-limits`: every budget on, and far above what the bench sends, so the limiters do their Redis work but never refuse. */
const RATE_LIMITS_MEASURED = {
  RATE_LIMIT_USER_PER_MINUTE: '1000000',
  RATE_LIMIT_IP_PER_MINUTE: '1000000',
  RATE_LIMIT_GLOBAL_PER_SECOND: '1000000',
};

/**
 * `countTurns`: serial and load count statements per turn, so their server reaches PostgreSQL through
 * the counting proxy (unless `--direct-postgres`); the other scenarios keep the direct connection
 * their figures were taken with.
 */
export function stackOptions(options: BenchOptions, latencyMs: number, { countTurns = false } = {}): StackOptions {
  return {
    latencyMs,
    chunkSize: options.chunkSize,
    cpuProfileDir: options.cpuProfileDir,
    serverRoot: options.serverRoot,
    serverEntry: options.serverEntry,
    serverEnv: { ...(options.rateLimits && RATE_LIMITS_MEASURED), ...options.serverEnv },
    directPostgres: !countTurns || options.directPostgres,
    workspaces: options.workspaces,
  };
}

/** Data directories of embedded stacks not yet removed: the exit path removes them. */
const embeddedDataDirs = new Set<string>();

/** The server as it runs with no DATABASE_URL and no REDIS_URL, and a fake provider process. */
export interface EmbeddedStack {
  /** The server's throw-away DATA_DIR (PGlite's files). */
  dataDir: string;
  provider: FakeProvider;
  server: ServerProcess;
  /** Stops the server (gracefully), then the fake provider, then removes the data directory. Returns the server's exit code. */
  stop(): Promise<number | null>;
}

/**
 * The embedded default: PGlite in a fresh DATA_DIR under the system's temporary directory, the
 * in-process queue and socket.io's in-memory adapter. The database runs inside the server
 * process, so its CPU is the server's.
 */
export async function startEmbeddedStack(options: StackOptions): Promise<EmbeddedStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sb_bench_embedded_'));
  embeddedDataDirs.add(dataDir);
  let provider: FakeProvider | undefined;
  try {
    provider = await FakeProvider.start({ latencyMs: options.latencyMs, chunkSize: options.chunkSize });
    const server = await ServerProcess.start({
      extraEnv: { DATA_DIR: dataDir, ...options.serverEnv },
      providerUrl: provider.url,
      ...(options.cpuProfileDir !== undefined && { cpuProfileDir: options.cpuProfileDir }),
      ...(options.serverRoot !== undefined && { root: options.serverRoot }),
      ...(options.serverEntry !== undefined && { entry: options.serverEntry }),
    });
    const started = provider;
    process.stderr.write(`bench: embedded server pid ${server.pid} at ${server.url} (DATA_DIR ${dataDir}), fake provider pid ${started.pid}\n`);
    return {
      dataDir,
      provider: started,
      server,
      async stop() {
        try {
          return await server.stop();
        } finally {
          await started.stop();
          await removeDataDir(dataDir);
        }
      },
    };
  } catch (error) {
    await provider?.stop();
    await removeDataDir(dataDir);
    throw error;
  }
}

/** Removes the data directories of embedded stacks still present (used on error and Ctrl-C). */
export async function removeAllEmbeddedDataDirs(): Promise<void> {
  for (const dataDir of [...embeddedDataDirs]) await removeDataDir(dataDir);
}

async function removeDataDir(dataDir: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
  embeddedDataDirs.delete(dataDir);
}
