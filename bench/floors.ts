import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { dropRedisPrefix, type BenchRedis } from './bench-redis.js';
import { distribution, type Distribution } from './percentiles.js';
import { readCpuMs, readCpuMsByName } from './proc-stats.js';

/**
 * Floors: what one piece of a web turn costs on this machine with nothing of Switchboard's around
 * it, measured in the same run as the turns they are compared with. Each is timed from the bench
 * process, one operation at a time after a warm-up; CPU is the bench process's own (the client
 * side of the operation: what a server doing it would spend), and the other party's where there is one.
 */
export interface OperationFloor {
  samples: number;
  latencyMs: Distribution;
  /** CPU of the process doing the operation (the bench), per operation. */
  cpuMsPerOperation: number;
}

const WARMUP = 50;

function cpuNowMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

const round = (value: number) => Math.round(value * 1000) / 1000;

/**
 * One durable insert and its commit: a one-row INSERT in autocommit on the bench database (a table
 * of the bench's own, created here), over postgres.js as the server talks to PostgreSQL (prepared
 * statements). `synchronous_commit` is as the server finds it (on: the commit waits for the WAL flush).
 */
export async function durableInsertFloor(
  databaseUrl: string,
  databaseName: string,
  samples: number,
): Promise<OperationFloor & { postgresCpuMsPerOperation: number; synchronousCommit: string }> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`create table if not exists bench_floor_inserts (id bigserial primary key, body text not null, created_at timestamptz not null default now())`;
    const [setting] = await sql<{ synchronous_commit: string }[]>`show synchronous_commit`;
    const latencies: number[] = [];
    let cpuStart = 0;
    let postgresStart = new Map<number, number>();
    for (let i = 0; i < WARMUP + samples; i++) {
      if (i === WARMUP) {
        cpuStart = cpuNowMs();
        postgresStart = readCpuMsByName('postgres', ` ${databaseName} `);
      }
      const body = `floor ${i}: when are you open on Saturdays?`;
      const started = performance.now();
      await sql`insert into bench_floor_inserts (body) values (${body})`;
      if (i >= WARMUP) latencies.push(performance.now() - started);
    }
    const cpu = cpuNowMs() - cpuStart;
    const postgresEnd = readCpuMsByName('postgres', ` ${databaseName} `);
    let postgresCpu = 0;
    for (const [pid, ms] of postgresEnd) if (postgresStart.has(pid)) postgresCpu += ms - postgresStart.get(pid)!;
    return {
      samples,
      latencyMs: distribution(latencies),
      cpuMsPerOperation: round(cpu / samples),
      postgresCpuMsPerOperation: round(postgresCpu / samples),
      synchronousCommit: setting?.synchronous_commit ?? 'unknown',
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * A BullMQ round trip on the bench's Redis: `queue.add` → the worker's processor (which does
 * nothing) → the job completed, with the options the server's turn queue uses (job id, attempts,
 * backoff, removeOnComplete), producer and worker in one process as in the all-in-one role.
 */
export async function bullmqFloor(
  redis: BenchRedis,
  samples: number,
): Promise<OperationFloor & { redisCommandsPerOperation: number; redisCommands: Record<string, number>; redisCpuMsPerOperation: number }> {
  const prefix = `sb_bench_floor_${randomBytes(4).toString('hex')}`;
  const producer = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const workerConnection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue('turns', { connection: producer, prefix: `${prefix}:bull` });
  const waiting = new Map<string, () => void>();
  const worker = new Worker(
    'turns',
    async () => {
      // Nothing: the floor is the queue's own work.
    },
    { connection: workerConnection, prefix: `${prefix}:bull`, concurrency: 200, lockDuration: 30_000, stalledInterval: 15_000, maxStalledCount: 2 },
  );
  worker.on('completed', (job) => {
    const resolve = waiting.get(String(job.id));
    waiting.delete(String(job.id));
    resolve?.();
  });
  try {
    await worker.waitUntilReady();
    const latencies: number[] = [];
    let cpuStart = 0;
    let redisCpuStart = 0;
    let commandsStart: Record<string, number> = {};
    for (let i = 0; i < WARMUP + samples; i++) {
      if (i === WARMUP) {
        commandsStart = await redis.commandCalls();
        cpuStart = cpuNowMs();
        redisCpuStart = readCpuMs(redis.pid) ?? 0;
      }
      const jobId = `job-${i}`;
      const started = performance.now();
      const completed = new Promise<void>((resolve) => waiting.set(jobId, resolve));
      await queue.add('turn', { messageId: jobId }, { jobId, attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 7 * 86_400 } });
      await completed;
      if (i >= WARMUP) latencies.push(performance.now() - started);
    }
    const cpu = cpuNowMs() - cpuStart;
    const redisCpu = (readCpuMs(redis.pid) ?? 0) - redisCpuStart;
    const commandsEnd = await redis.commandCalls();
    const commands: Record<string, number> = {};
    for (const [command, calls] of Object.entries(commandsEnd)) {
      // The first INFO is the bench's own.
      const delta = calls - (commandsStart[command] ?? 0) - (command === 'info' ? 1 : 0);
      if (delta > 0) commands[command] = round(delta / samples);
    }
    return {
      samples,
      latencyMs: distribution(latencies),
      cpuMsPerOperation: round(cpu / samples),
      redisCommandsPerOperation: round(Object.values(commands).reduce((sum, perJob) => sum + perJob, 0)),
      redisCommands: Object.fromEntries(Object.entries(commands).sort(([, a], [, b]) => b - a)),
      redisCpuMsPerOperation: round(redisCpu / samples),
    };
  } finally {
    await worker.close();
    await queue.close();
    producer.disconnect();
    workerConnection.disconnect();
    await dropRedisPrefix(prefix, redis.url);
  }
}
