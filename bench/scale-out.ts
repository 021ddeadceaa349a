/**
 * `npx tsx bench/scale-out.ts`: messages/s through 1 web + 1 worker process vs 2 web + 2 workers,
 * measured in one run on this machine, with each process's CPU share so the bound is visible.
 * Real processes (`SWITCHBOARD_ROLE`), one fresh PostgreSQL database and a private redis-server
 * per configuration, the scripted OpenAI fake in this process. Options (env): BENCH_CLIENTS (60),
 * BENCH_SECONDS (10), BENCH_PROVIDER_DELAY_MS (50).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { io as connect, type Socket } from 'socket.io-client';
import { startFakeOpenAIServer } from '../test/fakes/fake-openai-server.js';
import { startAppProcess, type AppProcess } from '../test/helpers/app-process.js';
import { startPrivateRedis } from '../test/helpers/private-redis.js';
import { createTestDatabase } from '../test/helpers/test-database.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 60);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PROVIDER_DELAY_MS = Number(process.env.BENCH_PROVIDER_DELAY_MS ?? 50);
const ROOT = new URL('..', import.meta.url).pathname;

interface Result {
  label: string;
  answered: number;
  perSecond: number;
  cpu: { role: string; percent: number }[];
  redisCpuPercent: number;
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function migrate(databaseUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/migrate.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
      stdio: 'ignore',
    });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited ${code}`))));
  });
}

async function measure(label: string, webs: number, workers: number, providerUrl: string): Promise<Result> {
  const [redis, database] = await Promise.all([startPrivateRedis(), createTestDatabase()]);
  const processes: { role: string; process: AppProcess }[] = [];
  const sockets: Socket[] = [];
  try {
    await migrate(database.url);
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_BASE_URL: providerUrl,
      LLM_PROVIDERS: 'openai',
      LOG_LEVEL: 'warn',
      CACHE_TTL_S: '0',
      RATE_LIMIT_USER_PER_MINUTE: '0',
      RATE_LIMIT_IP_PER_MINUTE: '0',
      RATE_LIMIT_GLOBAL_PER_SECOND: '0',
      FOLLOW_UP_ENABLED: 'false',
    };
    const roles = [...Array(webs).fill('web'), ...Array(workers).fill('worker')] as string[];
    // startAppProcess waits for the "listening" line, which needs LOG_LEVEL info; warn keeps the hot path quiet after.
    for (const role of roles) {
      processes.push({ role, process: await startAppProcess({ ...env, LOG_LEVEL: 'info', SWITCHBOARD_ROLE: role }) });
    }
    const webUrls = processes.filter((entry) => entry.role === 'web').map((entry) => entry.process.url);
    for (let i = 0; i < CLIENTS; i++) {
      const socket = connect(webUrls[i % webUrls.length]!, { transports: ['websocket'], forceNew: true, reconnection: false });
      await new Promise((resolve, reject) => {
        socket.once('session', resolve);
        socket.once('connect_error', reject);
      });
      sockets.push(socket);
    }

    let answered = 0;
    let running = true;
    const loops = sockets.map(async (socket, index) => {
      let n = 0;
      while (running) {
        const done = new Promise<void>((resolve) => socket.once('reply.done', () => resolve()));
        const ack = await socket.timeout(10_000).emitWithAck('message', { text: `bench ${index} ${n}`, clientMessageId: `b-${index}-${n++}` });
        if (!ack.ok) throw new Error(`refused: ${JSON.stringify(ack.error)}`);
        await done;
        if (running) answered++;
      }
    });
    const redisPid = redisPidOf(redis.port);
    const before = await Promise.all(processes.map((entry) => cpuTicks(entry.process.child.pid!)));
    const redisBefore = redisPid ? await cpuTicks(redisPid) : 0;
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    const elapsed = (Date.now() - started) / 1000;
    const total = answered;
    const after = await Promise.all(processes.map((entry) => cpuTicks(entry.process.child.pid!)));
    const redisAfter = redisPid ? await cpuTicks(redisPid) : 0;
    running = false;
    await Promise.race([Promise.allSettled(loops), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    return {
      label,
      answered: total,
      perSecond: total / elapsed,
      cpu: processes.map((entry, i) => ({ role: entry.role, percent: (after[i]! - before[i]!) / elapsed })),
      redisCpuPercent: (redisAfter - redisBefore) / elapsed,
    };
  } finally {
    for (const socket of sockets) socket.disconnect();
    await Promise.allSettled(processes.map((entry) => entry.process.kill()));
    await redis.kill();
    await database.drop();
  }
}

/** The private redis-server listening on `port` (its handle does not expose the pid). */
function redisPidOf(port: number): number {
  try {
    const out = execFileSync('pgrep', ['-f', `redis-server 127.0.0.1:${port}`]).toString().trim();
    return Number(out.split('\n')[0]) || 0;
  } catch {
    return 0;
  }
}

const provider = await startFakeOpenAIServer({ recordRequests: false });
provider.setResponder((body) => ({ text: `answer to ${body.messages.at(-1).content}`, delayMs: PROVIDER_DELAY_MS }));
try {
  const one = await measure('1 web + 1 worker', 1, 1, provider.url);
  const two = await measure('2 web + 2 workers', 2, 2, provider.url);
  for (const result of [one, two]) {
    const cpu = result.cpu.map((entry) => `${entry.role} ${entry.percent.toFixed(0)}%`).join(', ');
    console.log(`${result.label}: ${result.answered} answered in ${SECONDS} s = ${result.perSecond.toFixed(1)} msg/s; CPU ${cpu}; redis ${result.redisCpuPercent.toFixed(0)}%`);
  }
  console.log(`ratio 2+2 / 1+1: ${(two.perSecond / one.perSecond).toFixed(2)} (${CLIENTS} closed-loop clients, provider latency ${PROVIDER_DELAY_MS} ms)`);
} finally {
  await provider.close();
}
