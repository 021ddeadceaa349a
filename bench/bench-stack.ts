import { createBenchDatabase, type BenchDatabase } from './bench-database.js';
import { FakeProvider } from './fake-provider.js';
import { ServerProcess } from './server-process.js';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** What one scenario runs against: a fresh database, a fake provider process and a server process. */
export interface BenchStack {
  database: BenchDatabase;
  provider: FakeProvider;
  server: ServerProcess;
  /** Stops the server (gracefully), then the fake provider, then drops the database. Returns the server's exit code. */
  stop(): Promise<number | null>;
}

export async function startStack(options: { latencyMs: number; chunkSize: number; cpuProfileDir?: string }): Promise<BenchStack> {
  const database = await createBenchDatabase();
  let provider: FakeProvider | undefined;
  try {
    provider = await FakeProvider.start({ latencyMs: options.latencyMs, chunkSize: options.chunkSize });
    const server = await ServerProcess.start({
      databaseUrl: database.url,
      redisUrl: REDIS_URL,
      providerUrl: provider.url,
      ...(options.cpuProfileDir !== undefined && { cpuProfileDir: options.cpuProfileDir }),
    });
    const started = provider;
    return {
      database,
      provider: started,
      server,
      async stop() {
        try {
          return await server.stop();
        } finally {
          await started.stop();
          await database.drop();
        }
      },
    };
  } catch (error) {
    await provider?.stop();
    await database.drop();
    throw error;
  }
}
