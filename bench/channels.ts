/**
 * Channel webhook benchmark (issue 5): how fast the real server acknowledges signed
 * Slack events while the model takes 10 s per answer, and whether Slack's retries
 * ever cause a second agent run.
 *
 *   node --import tsx bench/channels.ts [--rate=200] [--seconds=10] [--latency=10000] [--retry-ratio=0.1]
 *       [--topology=all,split,web-alone] [--warmup-rate=20] [--warmup-seconds=1] [--server-root=DIR] [--server-entry=src/main.ts]
 *
 * Topologies (each on its own fresh database and Redis prefix, one after the other):
 * - `all`: one production server process (`npm start`, SWITCHBOARD_ROLE=all) receives the
 *   webhooks and runs every turn;
 * - `split`: the documented scale-out (README, Scale-out): a SWITCHBOARD_ROLE=web process
 *   receives the webhooks and only enqueues, a SWITCHBOARD_ROLE=worker process runs the
 *   turns and posts the answers. The ack is a property of the process receiving webhooks.
 * - `web-alone` (opt-in): the split with the worker started only after the last ack, standing in
 *   for a worker on other hardware: the acks are measured without turn work competing for this
 *   machine's cores; the worker then drains the queue and every check below still applies.
 *
 * Open loop: event i is due at start + i / rate, whatever happened to the others. A share
 * of the events is sent again as Slack retries (`X-Slack-Retry-Num` 1 after 50 ms, 2 after
 * 1 s) while the first turn still runs. The sender is a process of its own
 * (slack-webhook-sender.ts) that signs everything before the clock starts; an ack's time runs
 * from the moment it was due, and the sender's own lateness and event-loop delay are
 * reported next to it. Before the measured window a short warm-up (excluded from the
 * figures, included in every count) lets JIT and connection pools settle, as in a process
 * that has been up for a while. PostgreSQL, Redis and the fake OpenAI provider (its own
 * process) are real; the Slack Web API is the test fake, in this process.
 *
 * Checks after every answer arrived: each event stored once, answered once (one
 * chat.postMessage per thread, one assistant row), one model run per event.
 * BENCH_CPU_PROF=DIR writes a V8 CPU profile per server process into DIR/<topology>-<role>
 * (summarise with bench/profile-summary.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { FAKE_SLACK_BOT_TOKEN, FAKE_SLACK_BOT_USER_ID, startFakeSlackApi, type FakeSlackApi } from '../test/fakes/fake-slack-api.js';
import { createBenchDatabase, type BenchDatabase } from './bench-database.js';
import { dropRedisPrefix, REDIS_URL } from './bench-redis.js';
import { forkModule, killAllChildren, stopChild } from './child-processes.js';
import { FakeProvider } from './fake-provider.js';
import { distribution } from './percentiles.js';
import { loadAverage1m, readCpuMs, readCpuMsByName, readMachineCpuMs } from './proc-stats.js';
import { ServerProcess } from './server-process.js';
import type { SenderPlan, SenderReport } from './slack-webhook-sender.js';

const SIGNING_SECRET = 'bench-slack-signing-secret';
const SENDER = new URL('./slack-webhook-sender.ts', import.meta.url).pathname;
const TOPOLOGIES = ['all', 'split', 'web-alone'] as const;
type Topology = (typeof TOPOLOGIES)[number];

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    latency: { type: 'string', default: '10000' },
    'retry-ratio': { type: 'string', default: '0.1' },
    topology: { type: 'string', default: 'all,split' },
    'warmup-rate': { type: 'string', default: '20' },
    'warmup-seconds': { type: 'string', default: '1' },
    'server-root': { type: 'string' },
    'server-entry': { type: 'string' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const latencyMs = Number(values.latency);
const retryRatio = Number(values['retry-ratio']);
const warmupRate = Number(values['warmup-rate']);
const warmupSeconds = Number(values['warmup-seconds']);
const serverRoot = values['server-root'] ? resolve(values['server-root']) : undefined;
const serverEntry = values['server-entry'];
const topologies = values.topology.split(',').map((name) => {
  if (!(TOPOLOGIES as readonly string[]).includes(name)) throw new Error(`--topology: ${name} is not one of ${TOPOLOGIES.join(', ')}`);
  return name as Topology;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const percentOfOneCore = (cpuMs: number, wallMs: number) => Math.round((cpuMs / wallMs) * 1000) / 10;

interface Servers {
  /** The process whose /slack/events the sender posts to. */
  receiver: ServerProcess;
  all: { role: string; process: ServerProcess }[];
  /** web-alone: starts the worker once the last ack is in (it joins `all`). */
  startDeferredWorker?: () => Promise<ServerProcess>;
}

async function startServers(topology: Topology, database: BenchDatabase, provider: FakeProvider, slack: FakeSlackApi): Promise<Servers> {
  const env = {
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: FAKE_SLACK_BOT_TOKEN,
    SLACK_API_URL: slack.apiUrl,
    // Every turn waits `latency` for the model; nothing may give up or fall back before it answers.
    FALLBACK_AFTER_MS: String(latencyMs * 3),
    LLM_FIRST_TOKEN_TIMEOUT_MS: String(latencyMs * 3),
    LLM_ATTEMPT_TIMEOUT_MS: String(latencyMs * 6),
    LLM_TURN_TIMEOUT_MS: String(latencyMs * 6),
    // Enough concurrent turns that none waits in the queue for another's 10 s model call.
    QUEUE_CONCURRENCY: String(Math.min(1000, Math.max(16, rate * Math.ceil(latencyMs / 1000) * 2))),
    FOLLOW_UP_ENABLED: 'false',
  };
  const cpuProfileDir = process.env.BENCH_CPU_PROF || undefined;
  const start = (role: string, extra: Record<string, string>) =>
    ServerProcess.start({
      databaseUrl: database.url,
      redisUrl: REDIS_URL,
      // The database's random name doubles as the Redis key prefix, so runs never share queue, cache or budgets.
      redisPrefix: database.name,
      providerUrl: provider.url,
      extraEnv: { ...env, ...extra },
      ...(cpuProfileDir && { cpuProfileDir: resolve(cpuProfileDir, `${topology}-${role}`) }),
      ...(serverRoot && { root: serverRoot }),
      ...(serverEntry && { entry: serverEntry }),
    });
  if (topology === 'all') {
    const server = await start('all', {});
    return { receiver: server, all: [{ role: 'all', process: server }] };
  }
  // The web process migrates the fresh database (a deploy runs `npm run migrate` instead); the worker starts after it.
  const web = await start('web', { SWITCHBOARD_ROLE: 'web', MIGRATE_ON_START: 'true' });
  if (topology === 'web-alone') {
    const servers: Servers = { receiver: web, all: [{ role: 'web', process: web }] };
    servers.startDeferredWorker = async () => {
      const worker = await start('worker', { SWITCHBOARD_ROLE: 'worker' });
      servers.all.push({ role: 'worker', process: worker });
      return worker;
    };
    return servers;
  }
  const worker = await start('worker', { SWITCHBOARD_ROLE: 'worker' }).catch(async (error: unknown) => {
    await web.stop();
    throw error;
  });
  return { receiver: web, all: [{ role: 'web', process: web }, { role: 'worker', process: worker }] };
}

/** Runs the plan in the sender process; resolves with its report. */
async function runSender(plan: SenderPlan): Promise<{ report: SenderReport; child: ChildProcess }> {
  const child = forkModule(SENDER, [], { env: { PATH: process.env.PATH, NODE_ENV: 'production' } });
  child.stdout?.resume();
  child.stderr?.pipe(process.stderr);
  const report = await new Promise<SenderReport>((resolve, reject) => {
    child.once('message', (message: SenderReport) => resolve(message));
    child.once('exit', (code) => reject(new Error(`sender exited with code ${code} before reporting`)));
    child.send(plan);
  });
  return { report, child };
}

/** CPU time (ms) of everyone taking part, to put the ack figures next to who was busy. */
function cpuSnapshot(servers: Servers, provider: FakeProvider, database: BenchDatabase) {
  const sum = (readings: Map<number, number>) => [...readings.values()].reduce((total, value) => total + value, 0);
  return {
    at: performance.now(),
    servers: new Map(servers.all.map((entry) => [entry.role, readCpuMs(entry.process.pid) ?? 0])),
    provider: readCpuMs(provider.pid) ?? 0,
    benchProcess: readCpuMs(process.pid) ?? 0,
    postgres: sum(readCpuMsByName('postgres', database.name)),
    // The Redis the servers use (its command line names its address); other helpers' private servers come and go.
    redis: sum(readCpuMsByName('redis-server', `:${new URL(REDIS_URL).port || '6379'}`)),
    machine: readMachineCpuMs().busy,
  };
}

async function measure(topology: Topology) {
  const slack = await startFakeSlackApi();
  const database = await createBenchDatabase();
  const provider = await FakeProvider.start({ latencyMs, chunkSize: 16 });
  let servers: Servers | undefined;
  try {
    servers = await startServers(topology, database, provider, slack);
    process.stderr.write(`bench[${topology}]: ${servers.all.map((entry) => `${entry.role} pid ${entry.process.pid}`).join(', ')}; provider pid ${provider.pid}\n`);
    const warmupCount = Math.round(warmupRate * warmupSeconds);
    const measuredCount = Math.round(rate * seconds);
    const plan: SenderPlan = {
      type: 'plan',
      url: new URL('/slack/events', servers.receiver.url).toString(),
      signingSecret: SIGNING_SECRET,
      botUserId: FAKE_SLACK_BOT_USER_ID,
      warmup: { firstIndex: 0, count: warmupCount, rate: warmupRate, retryEvery: 0 },
      pauseMs: 1000,
      measured: { firstIndex: warmupCount, count: measuredCount, rate, retryEvery: retryRatio > 0 ? Math.max(1, Math.round(1 / retryRatio)) : 0 },
    };
    const total = warmupCount + measuredCount;

    // The CPU window spans the whole sender run; the warm-up is short and light next to the measured phase.
    const loadBefore = loadAverage1m();
    const senderRun = runSender(plan);
    const before = cpuSnapshot(servers, provider, database);
    const { report, child } = await senderRun;
    const after = cpuSnapshot(servers, provider, database);
    const wallMs = after.at - before.at;
    await stopChild(child, 1000);
    // web-alone: the worker only now starts draining the queue; its CPU counts from when it is ready.
    const deferredWorker = await servers.startDeferredWorker?.();
    if (deferredWorker) before.servers.set('worker', readCpuMs(deferredWorker.pid) ?? 0);

    // Every turn takes `latency`; wait for all answers (or give up after a generous margin).
    const sentAt = performance.now();
    const deadline = Date.now() + latencyMs + 180_000;
    while (slack.posts.length < total && Date.now() < deadline) await sleep(100);
    const lastAnswerSeconds = (performance.now() - sentAt) / 1000;
    const answered = cpuSnapshot(servers, provider, database);
    await sleep(2000);

    const { timings } = await provider.takeTimings();
    const modelRuns = [...timings.values()].reduce((sum, timing) => sum + timing.requests, 0);
    const duplicateModelRuns = [...timings.values()].filter((timing) => timing.requests > 1).length;
    const postsPerThread = new Map<string, number>();
    for (const post of slack.posts) postsPerThread.set(post.thread_ts ?? '', (postsPerThread.get(post.thread_ts ?? '') ?? 0) + 1);
    const eventsAnsweredOnce = Array.from({ length: total }, (_unused, index) => postsPerThread.get(`${1_800_000_000 + index}.000100`) ?? 0).filter(
      (count) => count === 1,
    ).length;
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const rows = await sql<{ role: string; status: string; n: number }[]>`
      select role, status, count(*)::int as n from messages group by role, status order by role, status`;
    const [dupes] = await sql<{ n: number }[]>`
      select count(*)::int as n from (select external_message_id from messages where role = 'user'
      group by external_message_id having count(*) > 1) as repeated`;
    await sql.end();

    return {
      topology,
      processes: topology === 'web-alone' ? 'web; worker after the last ack' : servers.all.map((entry) => entry.role).join(' + '),
      rate,
      seconds,
      modelLatencyMs: latencyMs,
      warmupEvents: warmupCount,
      events: measuredCount,
      retriesSent: report.retryAckMs.length,
      statuses: report.statuses,
      ackMs: distribution(report.firstAckMs),
      retryAckMs: distribution(report.retryAckMs),
      measuredSeconds: report.measuredSeconds,
      sender: { lateMs: report.sendLateMs, eventLoopDelayMs: report.eventLoopDelayMs, cpuPercent: percentOfOneCore(report.cpuMs, report.measuredSeconds * 1000) },
      cpuPercentOfOneCore: {
        ...Object.fromEntries(
          [...after.servers].map(([role, cpu]) => [role, percentOfOneCore(cpu - (before.servers.get(role) ?? 0), wallMs)]),
        ),
        fakeProvider: percentOfOneCore(after.provider - before.provider, wallMs),
        benchAndFakeSlack: percentOfOneCore(after.benchProcess - before.benchProcess, wallMs),
        postgres: percentOfOneCore(after.postgres - before.postgres, wallMs),
        redis: percentOfOneCore(after.redis - before.redis, wallMs),
        machine: percentOfOneCore(after.machine - before.machine, wallMs),
      },
      // From the first request to the last answer posted: what one event cost each process in all
      // (its ack, and its turn and delivery wherever they ran), per event sent (warm-up and measured;
      // the retries' cost is included, as in production).
      cpuMsPerEvent: Object.fromEntries(
        [...answered.servers].map(([role, cpu]) => [role, Math.round(((cpu - (before.servers.get(role) ?? 0)) / total) * 100) / 100]),
      ),
      loadAverage1m: { before: loadBefore, after: loadAverage1m() },
      lastAnswerAfterSendSeconds: Math.round(lastAnswerSeconds * 10) / 10,
      totalEvents: total,
      messageRows: Object.fromEntries(rows.map((row) => [`${row.role}:${row.status}`, row.n])),
      userMessagesStoredTwice: dupes?.n ?? 0,
      answersPosted: slack.posts.length,
      eventsAnsweredExactlyOnce: eventsAnsweredOnce,
      modelRuns,
      duplicateModelRuns,
    };
  } finally {
    await Promise.allSettled((servers?.all ?? []).map((entry) => entry.process.stop()));
    await provider.stop();
    await database.drop();
    await dropRedisPrefix(database.name);
    await slack.close();
  }
}

async function main(): Promise<void> {
  const results = [];
  for (const topology of topologies) {
    const result = await measure(topology);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    results.push(result);
  }
  for (const result of results) {
    const ok =
      result.eventsAnsweredExactlyOnce === result.totalEvents &&
      result.answersPosted === result.totalEvents &&
      result.modelRuns === result.totalEvents &&
      result.duplicateModelRuns === 0 &&
      result.userMessagesStoredTwice === 0;
    process.stdout.write(
      `${result.topology.padEnd(5)} (${result.processes}): ack p50 ${result.ackMs.p50} ms, p90 ${result.ackMs.p90} ms, p99 ${result.ackMs.p99} ms, max ${result.ackMs.max} ms` +
        ` at ${result.rate}/s for ${result.seconds} s; retries p99 ${result.retryAckMs.p99} ms;` +
        ` ${result.totalEvents} events stored/answered once: ${ok ? 'yes' : 'NO'}; sender late p99 ${result.sender.lateMs.p99} ms\n`,
    );
    if (!ok) process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/channels failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  killAllChildren();
  process.exitCode = 1;
});
