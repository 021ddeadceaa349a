/**
 * `npx tsx bench/reconnect-storm.ts`: the reconnect storm of issue 7. BENCH_STORM_CLIENTS (5000)
 * socket.io clients hold a conversation on one web process (`SWITCHBOARD_ROLE=web`, PostgreSQL + a
 * private redis-server); the web process is killed (SIGKILL) and started again on the same port;
 * every client reconnects on its own (socket.io-client reconnection and backoff) presenting its token,
 * as the widget does, and must get its `session` — with its own conversation — again.
 *
 * Reported: how many came back and resumed their conversation; time from the new process listening
 * (the time of its "Switchboard listening" log line) to each client's `session`, split into the wait
 * for the client's next reconnect attempt (its backoff) and the service time of the attempt that
 * succeeded; handshakes per second; CPU of the web process, the client processes, Redis and
 * PostgreSQL over the storm; PostgreSQL transactions per handshake (pg_stat_database).
 *
 * The clients run in BENCH_STORM_CLIENT_PROCESSES (1) child processes, never in this one, so their
 * CPU is measured apart from the server's. Other options (env):
 * - BENCH_STORM_DELAY_MAX_MS: the clients' reconnectionDelayMax (2000, the widget's; socket.io's default is 5000)
 * - BENCH_STORM_PERSISTED: share of clients whose conversation is stored, as after a first message (1);
 *   the others hold a token that was never stored and must get a new conversation
 * - BENCH_STORM_TRANSPORTS: `websocket` (default: the widget connects WebSocket first, and falls back to
 *   long-polling only where WebSocket is refused) or `polling,websocket` (socket.io-client's default)
 * - BENCH_STORM_RESTART_DELAY_MS: pause between the kill and the new process's start (500)
 * - BENCH_STORM_NODE_FLAGS: extra node flags for both web processes, e.g. `--max-semi-space-size=32` (none)
 * - BENCH_STORM_CPU_PROF=DIR: V8 CPU profile of the restarted web process (written on its SIGTERM)
 * - BENCH_STORM_DUMP=FILE: every client's outcome (attempt and session times, failed attempts) as JSON
 * - BENCH_STORM_SERVER: `both` (default): the storm against a bare socket.io server
 *   (bench/bare-socket-server.ts, the floor: what socket.io itself costs per handshake) and then
 *   against Switchboard, in the same run, and the web process's CPU per handshake as a ratio over the
 *   bare server's (issue 21: ≤ 1.3×) with the share reconnected (100 %); `bare` or `web`: one of them
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { buildDist } from '../test/helpers/build-dist.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { freePort, startPrivateRedis } from '../test/helpers/private-redis.js';
import { createTestDatabase, POSTGRES_ADMIN_URL } from '../test/helpers/test-database.js';
import { readCpuMs, readCpuMsByName } from './proc-stats.js';
import type { ClientOutcome, FirstSession, FromClients, ToClients } from './reconnect-storm-protocol.js';

const CLIENTS = Number(process.env.BENCH_STORM_CLIENTS ?? 5000);
const CLIENT_PROCESSES = Number(process.env.BENCH_STORM_CLIENT_PROCESSES ?? 1);
const DELAY_MAX_MS = Number(process.env.BENCH_STORM_DELAY_MAX_MS ?? 2000);
const PERSISTED = Number(process.env.BENCH_STORM_PERSISTED ?? 1);
const TRANSPORTS = (process.env.BENCH_STORM_TRANSPORTS ?? 'websocket').split(',');
const RESTART_DELAY_MS = Number(process.env.BENCH_STORM_RESTART_DELAY_MS ?? 500);
const CPU_PROF_DIR = process.env.BENCH_STORM_CPU_PROF;
const NODE_FLAGS = (process.env.BENCH_STORM_NODE_FLAGS ?? '').split(' ').filter(Boolean);
type ServerKind = 'bare' | 'web';
const SERVER_KINDS: ServerKind[] = (() => {
  const value = process.env.BENCH_STORM_SERVER ?? 'both';
  if (value === 'both') return ['bare', 'web'];
  if (value === 'bare' || value === 'web') return [value];
  throw new Error(`BENCH_STORM_SERVER: expected both, bare or web, got ${value}`);
})();
/** Web CPU per handshake over the bare socket.io server's, in the same run (issue 21). */
const CPU_RATIO_TARGET = 1.3;
const STORM_TIMEOUT_MS = 60_000;
const ROOT = new URL('..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** `npm run build` once (incremental), so the storm runs the compiled server. */
const builtOnce = buildDist();

interface WebProcess {
  child: ChildProcess;
  url: string;
  /** The `time` of its "Switchboard listening" log line (epoch ms). */
  listeningAt: number;
  spawnedAt: number;
  exit: Promise<void>;
}

/**
 * The real server as production runs it (`node dist/main.js`, built once before the storm), with
 * the moment it started listening taken from its own log.
 */
async function startWeb(kind: ServerKind, env: Record<string, string>, nodeFlags: string[] = []): Promise<WebProcess> {
  await builtOnce;
  const spawnedAt = Date.now();
  const entry = kind === 'bare' ? ['--import', 'tsx', 'bench/bare-socket-server.ts'] : ['dist/main.js'];
  const child = spawn(process.execPath, [...nodeFlags, ...entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const listening = await new Promise<{ url: string; listeningAt: number }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (!line.includes('Switchboard listening')) continue;
        const entry = JSON.parse(line) as { time: number; address: string };
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve({ url: entry.address, listeningAt: entry.time });
        return;
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exit.then(() => reject(new Error(`web process exited early:\n${output.slice(-2000)}`)));
  });
  return { child, spawnedAt, exit, ...listening };
}

async function migrate(databaseUrl: string): Promise<void> {
  await builtOnce;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/migrate.js'], { cwd: ROOT, env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl }, stdio: 'ignore' });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited ${code}`))));
  });
}

interface ClientProcess {
  child: ChildProcess;
  reconnected: number;
  request(message: ToClients): void;
  next<T extends FromClients['type']>(type: T): Promise<Extract<FromClients, { type: T }>>;
}

function startClientProcess(): ClientProcess {
  const child = fork(new URL('./reconnect-storm-clients.ts', import.meta.url).pathname, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const waiting = new Map<string, (message: FromClients) => void>();
  const handle: ClientProcess = {
    child,
    reconnected: 0,
    request: (message) => child.send(message),
    next: (type) => new Promise((resolve) => waiting.set(type, resolve as (message: FromClients) => void)),
  };
  child.on('message', (message: FromClients) => {
    if (message.type === 'progress') handle.reconnected = message.reconnected;
    const resolve = waiting.get(message.type);
    waiting.delete(message.type);
    resolve?.(message);
  });
  return handle;
}

/** Stores the conversations as the web channel would on a visitor's first message (id, token hash). */
async function persistConversations(databaseUrl: string, sessions: FirstSession[]): Promise<void> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    for (let i = 0; i < sessions.length; i += 1000) {
      const slice = sessions.slice(i, i + 1000);
      await sql`
        insert into conversations (id, channel, external_user_id, token_hash)
        select id::uuid, 'web', 'visitor:' || id, token_hash
        from unnest(${slice.map((s) => s.conversationId)}::text[], ${slice.map((s) => s.tokenHash)}::text[]) as t(id, token_hash)`;
    }
  } finally {
    await sql.end();
  }
}

async function transactions(databaseName: string): Promise<number> {
  const sql = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ n: string }[]>`select xact_commit + xact_rollback as n from pg_stat_database where datname = ${databaseName}`;
    return Number(row?.n ?? 0);
  } finally {
    await sql.end();
  }
}

function cpuReading(pids: { web: number; clients: number[]; redisPort: number; database: string }) {
  const sum = (values: (number | undefined)[]) => values.reduce<number>((total, value) => total + (value ?? 0), 0);
  return {
    web: readCpuMs(pids.web) ?? 0,
    clients: sum(pids.clients.map(readCpuMs)),
    redis: sum([...readCpuMsByName('redis-server', `:${pids.redisPort}`).values()]),
    // PostgreSQL backends show their database in the command line.
    postgres: sum([...readCpuMsByName('postgres', pids.database).values()]),
  };
}

/** Calls per Redis command so far (INFO commandstats), e.g. { xadd: 12, getdel: 3 }. */
async function redisCommandCalls(url: string): Promise<Record<string, number>> {
  const client = new Redis(url);
  try {
    const info = await client.info('commandstats');
    return Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((match) => [match[1]!, Number(match[2])]));
  } finally {
    client.disconnect();
  }
}

async function markStreamUsed(url: string): Promise<void> {
  const client = new Redis(url);
  try {
    await client.xadd('switchboard:socket.io', '*', 'bench', 'an earlier entry');
  } finally {
    client.disconnect();
  }
}

/** TcpExt ListenOverflows of the whole machine: connections dropped because a listen queue was full. */
function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const header = lines.find((line) => line.startsWith('TcpExt:'))!.split(' ');
  const values = lines.filter((line) => line.startsWith('TcpExt:'))[1]!.split(' ');
  return Number(values[header.indexOf('ListenOverflows')] ?? 0);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const spread = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted.at(-1) ?? NaN };
};

type Storm = Awaited<ReturnType<typeof storm>>;

/** One storm against one server kind: connect every client, kill the server, start it again, wait for the clients. */
async function storm(kind: ServerKind, redis: { url: string; port: number }, database: { url: string; name: string }) {
  const port = await freePort();
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    SWITCHBOARD_ROLE: 'web',
    PORT: String(port),
    RATE_LIMIT_IP_PER_MINUTE: '0',
  };
  let web: WebProcess | undefined;
  const clientProcesses: ClientProcess[] = [];
  try {
    web = await startWeb(kind, env, NODE_FLAGS);
    for (let i = 0; i < CLIENT_PROCESSES; i++) clientProcesses.push(startClientProcess());
    const sessions = (
      await Promise.all(
        clientProcesses.map((clients, i) => {
          const count = Math.floor(CLIENTS / CLIENT_PROCESSES) + (i < CLIENTS % CLIENT_PROCESSES ? 1 : 0);
          const connected = clients.next('connected');
          clients.request({ type: 'connect', url: web!.url, count, delayMaxMs: DELAY_MAX_MS, transports: TRANSPORTS });
          return connected;
        }),
      )
    ).flatMap((answer) => answer.sessions);
    const persistedCount = Math.round(sessions.length * PERSISTED);
    await persistConversations(database.url, sessions.slice(0, persistedCount));
    console.log(`${sessions.length} clients connected in ${CLIENT_PROCESSES} process(es), ${persistedCount} with a stored conversation`);

    for (const clients of clientProcesses) clients.request({ type: 'mark' });
    const killedAt = Date.now();
    web.child.kill('SIGKILL');
    await web.exit;
    await sleep(RESTART_DELAY_MS);
    const transactionsBefore = await transactions(database.name);
    const overflowsBefore = listenOverflows();
    const redisBefore = await redisCommandCalls(redis.url);
    web = await startWeb(kind, env, [...NODE_FLAGS, ...(CPU_PROF_DIR && kind === 'web' ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [])]);
    const pids = { web: web.child.pid!, clients: clientProcesses.map((c) => c.child.pid!), redisPort: redis.port, database: database.name };
    const cpuAtListening = cpuReading(pids);
    const deadline = Date.now() + STORM_TIMEOUT_MS;
    const reconnected = () => clientProcesses.reduce((sum, clients) => sum + clients.reconnected, 0);
    while (reconnected() < sessions.length && Date.now() < deadline) await sleep(20);
    const cpuAtEnd = cpuReading(pids);
    const overflows = listenOverflows() - overflowsBefore;
    const redisAfter = await redisCommandCalls(redis.url);
    const cpuWindowEnd = Date.now();

    const reports = await Promise.all(
      clientProcesses.map((clients) => {
        const report = clients.next('report');
        clients.request({ type: 'report' });
        return report;
      }),
    );
    const outcomes: ClientOutcome[] = reports.flatMap((answer) => answer.outcomes);
    const clientLagMs = { p99: Math.max(...reports.map((r) => r.eventLoopDelayMs.p99)), max: Math.max(...reports.map((r) => r.eventLoopDelayMs.max)) };
    // Let the restarted process close its pool, so its PostgreSQL backends flush their statistics.
    web.child.kill('SIGTERM');
    await web.exit;
    await sleep(1000);
    const transactionsAfter = await transactions(database.name);

    const listeningAt = web.listeningAt;
    const back = outcomes.filter((o) => o.sessionAt !== undefined);
    const total = spread(back.map((o) => o.sessionAt! - listeningAt));
    const wait = spread(back.filter((o) => o.attemptAt !== undefined).map((o) => o.attemptAt! - listeningAt));
    const service = spread(back.filter((o) => o.attemptAt !== undefined).map((o) => o.sessionAt! - o.attemptAt!));
    const resumed = outcomes.slice(0, persistedCount).filter((o) => o.resumed).length;
    const wronglyResumed = outcomes.slice(persistedCount).filter((o) => o.resumed).length;
    const sessionTimes = back.map((o) => o.sessionAt!).sort((a, b) => a - b);
    const stormMs = (sessionTimes.at(-1) ?? listeningAt) - listeningAt;
    const windowMs = cpuWindowEnd - listeningAt;
    const cpuPercent = (key: keyof typeof cpuAtEnd) => Math.round((100 * (cpuAtEnd[key] - cpuAtListening[key])) / windowMs);
    // The stream reader's blocking XREAD polls on its own clock, not per handshake; `info` is this bench's.
    const redisPerHandshake = Object.fromEntries(
      Object.entries(redisAfter)
        .filter(([command]) => command !== 'xread' && command !== 'info')
        .map(([command, calls]) => [command, +((calls - (redisBefore[command] ?? 0)) / Math.max(1, back.length)).toFixed(3)])
        .filter(([, perHandshake]) => (perHandshake as number) > 0),
    );
    const handshakes = (transactionsAfter - transactionsBefore) / Math.max(1, back.length);
    const result = {
      clients: sessions.length,
      reconnected: back.length,
      resumedOwnConversation: `${resumed}/${persistedCount}`,
      newConversationForUnstoredToken: `${outcomes.length - persistedCount - wronglyResumed}/${outcomes.length - persistedCount}`,
      restartMs: listeningAt - killedAt,
      startupMs: listeningAt - web.spawnedAt,
      sessionMs: total,
      waitForAttemptMs: wait,
      serviceMs: service,
      attemptsAfterKill: spread(back.map((o) => o.attempts)),
      handshakesPerSecond: Math.round((1000 * back.length) / Math.max(1, stormMs)),
      cpuPercent: { web: cpuPercent('web'), clients: cpuPercent('clients'), redis: cpuPercent('redis'), postgres: cpuPercent('postgres') },
      cpuMsPerHandshake: { web: +((cpuAtEnd.web - cpuAtListening.web) / Math.max(1, back.length)).toFixed(3), clients: +((cpuAtEnd.clients - cpuAtListening.clients) / Math.max(1, back.length)).toFixed(3) },
      postgresTransactionsPerHandshake: +handshakes.toFixed(3),
      redisCommandsPerHandshake: redisPerHandshake,
      listenOverflowsMachineWide: overflows,
      clientEventLoopDelayMs: clientLagMs,
      delayMaxMs: DELAY_MAX_MS,
      transports: TRANSPORTS.join(','),
      clientProcesses: CLIENT_PROCESSES,
      nodeFlags: NODE_FLAGS.join(' '),
    };
    console.log(
      `${kind === 'bare' ? 'bare socket.io' : 'Switchboard web'}: reconnected ${back.length}/${sessions.length} (${((100 * back.length) / sessions.length).toFixed(1)} %), resumed their own conversation ${result.resumedOwnConversation}, ` +
        `unstored tokens given a new one ${result.newConversationForUnstoredToken}\n` +
        `listening → session: p50 ${total.p50} ms, p95 ${total.p95} ms, max ${total.max} ms ` +
        `(wait for the client's attempt p50 ${wait.p50} / p95 ${wait.p95} ms; attempt → session p50 ${service.p50} / p95 ${service.p95} ms)\n` +
        `kill → listening ${result.restartMs} ms (process start ${result.startupMs} ms); ${result.handshakesPerSecond} handshakes/s; ` +
        `CPU over the storm: web ${result.cpuPercent.web} %, clients ${result.cpuPercent.clients} %, redis ${result.cpuPercent.redis} %, postgres ${result.cpuPercent.postgres} % of one core; ` +
        `web ${result.cpuMsPerHandshake.web} ms CPU per handshake; ${result.postgresTransactionsPerHandshake} PostgreSQL transactions and ${JSON.stringify(redisPerHandshake)} Redis commands per handshake; ` +
        `${overflows} connections dropped by full listen queues (machine-wide); ` +
        `client processes' event loop late by p99 ${clientLagMs.p99} ms, max ${clientLagMs.max} ms`,
    );
    if (process.env.BENCH_STORM_DUMP) writeFileSync(`${process.env.BENCH_STORM_DUMP}${SERVER_KINDS.length > 1 ? `.${kind}` : ''}`, JSON.stringify({ killedAt, listeningAt, spawnedAt: web.spawnedAt, outcomes }));
    return { server: kind, ...result };
  } finally {
    for (const clients of clientProcesses) if (clients.child.connected) clients.request({ type: 'close' });
    if (web && web.child.exitCode === null) {
      web.child.kill('SIGKILL');
      await web.exit;
    }
    // The client processes exit on close; give them a moment before the next storm's start.
    await sleep(500);
  }
}

const [redis, database] = await Promise.all([startPrivateRedis(), createTestDatabase()]);
const storms: Storm[] = [];
try {
  await migrate(database.url);
  // A deployment's stream already holds entries (replies), so its clients hold a recovery offset and,
  // after a crash, each first tries to recover (a failing Redis lookup) before the session middleware.
  // One entry before the server starts gives the clients that offset here too; no reader ever decodes it.
  await markStreamUsed(redis.url);
  for (const kind of SERVER_KINDS) storms.push(await storm(kind, redis, database));
} finally {
  await redis.kill();
  await database.drop();
}
const bare = storms.find((result) => result.server === 'bare');
const web = storms.find((result) => result.server === 'web');
const comparison =
  bare && web
    ? {
        webCpuPerHandshakeOverBare: Math.round((web.cpuMsPerHandshake.web / bare.cpuMsPerHandshake.web) * 100) / 100,
        target: CPU_RATIO_TARGET,
        reconnectedPercent: { bare: Math.round((1000 * bare.reconnected) / bare.clients) / 10, web: Math.round((1000 * web.reconnected) / web.clients) / 10 },
      }
    : undefined;
if (comparison && bare && web) {
  const met = comparison.webCpuPerHandshakeOverBare <= CPU_RATIO_TARGET;
  console.log(
    `web CPU per handshake ${web.cpuMsPerHandshake.web} ms over the bare socket.io server's ${bare.cpuMsPerHandshake.web} ms in the same run: ` +
      `${comparison.webCpuPerHandshakeOverBare}× (target ≤ ${CPU_RATIO_TARGET}×: ${met ? 'met' : 'MISSED'}); ` +
      `reconnected ${comparison.reconnectedPercent.web} % (web), ${comparison.reconnectedPercent.bare} % (bare) (target 100 %: ${comparison.reconnectedPercent.web === 100 ? 'met' : 'MISSED'})`,
  );
}
console.log(JSON.stringify({ storms, comparison }));
