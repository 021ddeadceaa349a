/**
 * `npm run bench`: the real server as a child process against the local PostgreSQL
 * and Redis, a fake OpenAI-wire provider in another child process, and socket.io
 * clients in this one. See BENCHMARKS.md for what each scenario measures and how.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { runAb } from './ab.js';
import { dropAllBenchDatabases } from './bench-database.js';
import { dropRedisPrefix, killBenchRedis, privateRedis, startBenchRedis } from './bench-redis.js';
import { removeAllEmbeddedDataDirs } from './bench-stack.js';
import { killAllChildren, PROJECT_ROOT } from './child-processes.js';
import type { CpuUsage } from './cpu-meter.js';
import { parseOptions, USAGE, type BenchOptions, type ScenarioName } from './options.js';
import { loadAverage1m } from './proc-stats.js';
import { formatTable, isMet, type ScenarioResult } from './report.js';
import { runHandoff } from './scenarios/handoff.js';
import { runIdle } from './scenarios/idle.js';
import { runLoad } from './scenarios/load.js';
import { runSerial } from './scenarios/serial.js';
import { runWebhook } from './scenarios/webhook.js';
import { runWhatsApp } from './scenarios/whatsapp.js';
import { DEFAULT_SERVER_ENTRY } from './server-process.js';
import { straceAvailable } from './strace-counter.js';
import { sourceHash } from './tree-state.js';
import { runWorkspacesAb } from './workspaces-ab.js';

const SCENARIO_RUNNERS: Record<ScenarioName, (options: BenchOptions, runId: string) => Promise<ScenarioResult>> = {
  serial: runSerial,
  load: runLoad,
  idle: runIdle,
  handoff: runHandoff,
  webhook: runWebhook,
  whatsapp: runWhatsApp,
};

/** Work by others on the machine above this share of a core makes latency figures unreliable. */
const NOISY_MACHINE_PERCENT = 25;

let cleaningUp = false;

/** Kills every child and drops every bench database; bounded, so a stuck drop cannot keep the bench alive. */
async function emergencyCleanup(reason: string, exitCode: number): Promise<never> {
  if (!cleaningUp) {
    cleaningUp = true;
    process.stderr.write(`bench: ${reason}; stopping children and dropping bench databases\n`);
    killAllChildren();
    const cleanup = async () => {
      // Each database name is also its scenario's Redis key prefix (the private Redis goes whole).
      for (const name of await dropAllBenchDatabases()) if (!privateRedis()) await dropRedisPrefix(name);
      await removeAllEmbeddedDataDirs();
    };
    await Promise.race([cleanup().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    killBenchRedis();
  }
  process.exit(exitCode);
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options.strace && !straceAvailable()) {
    console.error('--strace: strace is not installed (apt-get install strace), or cannot run here');
    process.exit(2);
  }
  process.on('SIGINT', () => void emergencyCleanup('interrupted', 130));
  process.on('SIGTERM', () => void emergencyCleanup('terminated', 143));
  process.on('uncaughtException', (error) => void emergencyCleanup(`uncaught ${error.stack ?? error}`, 1));
  process.on('unhandledRejection', (error) => void emergencyCleanup(`unhandled rejection ${String(error)}`, 1));

  const runId = randomBytes(3).toString('hex');
  const serverRoot = resolve(options.serverRoot ?? PROJECT_ROOT);
  const machine = describeMachine();
  process.stderr.write(`bench ${runId}: ${options.scenarios.join(', ')} on ${machine.cpus} × ${machine.cpuModel}, Node ${process.version}, load average ${loadAverage1m()}\n`);

  // The bench's own redis-server (BENCH_REDIS_URL: a given Redis instead, shared: no command counts then).
  const redis = process.env.BENCH_REDIS_URL ? undefined : await startBenchRedis();
  if (redis) process.stderr.write(`bench: private redis-server pid ${redis.pid} at ${redis.url}\n`);

  const results: ScenarioResult[] = [];
  if (options.abBaseline !== undefined) {
    results.push(...(await runAb(options, runId, SCENARIO_RUNNERS)));
  } else if (options.workspacesAb !== undefined) {
    results.push(...(await runWorkspacesAb(options, runId, SCENARIO_RUNNERS)));
  } else {
    for (const name of options.scenarios) {
      process.stderr.write(`bench: running ${name}...\n`);
      const started = performance.now();
      results.push(await SCENARIO_RUNNERS[name](options, runId));
      process.stderr.write(`bench: ${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    }
  }
  await dropAllBenchDatabases();
  await redis?.stop();

  console.log(`\n${formatTable(results)}\n`);
  for (const result of results) for (const note of result.notes ?? []) console.log(note);
  const missed = results.flatMap((result) => result.rows.filter((row) => isMet(row) === false).map((row) => `${result.scenario}: ${row.metric}`));
  const missedChecks = results.flatMap((result) => result.rows.filter((row) => row.check && isMet(row) === false).map((row) => `${result.scenario}: ${row.metric}`));
  console.log(missed.length === 0 ? '\nAll targets met.' : `\nTargets missed: ${missed.join('; ')}`);
  if (options.check) console.log(missedChecks.length === 0 ? 'Count targets (--check): all met.' : `Count targets missed (--check): ${missedChecks.join('; ')}`);
  for (const result of results) {
    const others = (result.details.cpu as CpuUsage | undefined)?.percentOfOneCore.others;
    if (others !== undefined && others > NOISY_MACHINE_PERCENT) {
      console.log(`Warning: other processes used ${others} % of a core during ${result.scenario}: its latency and throughput figures are contended.`);
    }
  }
  console.log(
    JSON.stringify({
      bench: 'switchboard',
      runId,
      at: new Date().toISOString(),
      machine,
      server: { root: serverRoot, entry: options.serverEntry ?? DEFAULT_SERVER_ENTRY, sourceHash: sourceHash(serverRoot) },
      options,
      results: results.map((result) => ({
        scenario: result.scenario,
        rows: result.rows.map((row) => ({ ...row, met: isMet(row) })),
        notes: result.notes,
        details: result.details,
      })),
    }),
  );
  return options.check && missedChecks.length > 0 ? 1 : 0;
}

function describeMachine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    cpus: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    node: process.version,
    loadAverage1m: loadAverage1m(),
  };
}

await main().then(
  (exitCode) => process.exit(exitCode),
  (error: unknown) => emergencyCleanup(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, 1),
);
