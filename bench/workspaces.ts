import postgres from 'postgres';
import { CpuMeter } from './cpu-meter.js';
import type { BenchOptions } from './options.js';
import { distribution, type Distribution } from './percentiles.js';
import type { ResultRow } from './report.js';
import { Visitor } from './visitor.js';

/**
 * `--workspaces=N` (N > 1): N workspaces `ws_bench_<i>` (slug `bench-<i>`, widget key
 * `wk_bench_<i>`, i from 1), each with a SYSTEM_PROMPT of its own, so each builds its own models,
 * tools and settings on its first turn (a workspace with nothing set would run on the deployment's).
 * The prompt is as long as the deployment's default, so the model requests stay the same size.
 * N = 1 is the default workspace and no key: the deployment as it runs without workspaces.
 */
const PROMPT = (index: number) =>
  `You are the assistant of Bench business ${String(index).padStart(3, '0')}. Answer concisely. Use the tools you are given when they help the person; never invent links or prices.`;

/** Turns on a default-workspace visitor before the first turns, so those are not also the server's first (JIT, pools). */
const SERVER_WARMUP_TURNS = 20;

/** The widget key of client `index` when the clients are spread round-robin over `workspaces`; none with one workspace. */
export function benchWidgetKey(index: number, workspaces: number): string | undefined {
  return workspaces > 1 ? `wk_bench_${(index % workspaces) + 1}` : undefined;
}

/**
 * Clients that the first turns run on, and that serial spreads its messages over: one per workspace
 * of the larger side of a comparison, on both sides, so only the number of workspaces differs
 * (the same number of conversations, each as long).
 */
export function workspaceClients(options: BenchOptions): number {
  return Math.max(options.workspaces, ...(options.workspacesAb ?? []));
}

/** Writes the bench's workspaces into a migrated database (one statement), before the server starts and reads them. */
export async function insertBenchWorkspaces(databaseUrl: string, count: number): Promise<void> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const prompts = Array.from({ length: count }, (_, index) => PROMPT(index + 1));
    await sql`
      insert into workspaces (id, slug, name, widget_key, settings)
      select 'ws_bench_' || i, 'bench-' || i, 'Bench business ' || i, 'wk_bench_' || i, jsonb_build_object('SYSTEM_PROMPT', prompt)
      from unnest(${prompts}::text[]) with ordinality as p(prompt, i)`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** One round of first (or second) turns: one message per workspace, all at once. */
export interface TurnRound {
  turns: number;
  failures: number;
  serverCpuMsPerTurn: number;
  wallMs: number;
  roundTripMs: Distribution;
}

export interface FirstTurns {
  first: TurnRound;
  second: TurnRound;
  failureSamples: string[];
}

/**
 * Each workspace's first turn (where it builds its turn machinery), then its second, measured
 * apart from the scenario's window: after a few turns on the default workspace (the server's own
 * warm-up), the first `count` clients (one per workspace) each send a message at once, twice. The
 * first round also opens each client's conversation; with one workspace it is only that, so the
 * one-time build per workspace is (first − second) with N workspaces minus the same with one.
 */
export async function runFirstTurns(
  serverUrl: string,
  label: string,
  visitors: readonly Visitor[],
  count: number,
  meterPids: ConstructorParameters<typeof CpuMeter>[0],
): Promise<FirstTurns> {
  const failures: string[] = [];
  const warmup = new Visitor(serverUrl, `${label}-server-warmup`, 0);
  try {
    for (let i = 0; i < SERVER_WARMUP_TURNS; i++) await warmup.sendNext().catch((error: unknown) => void failures.push(String(error)));
  } finally {
    warmup.close();
  }
  const round = async (): Promise<TurnRound> => {
    const meter = new CpuMeter(meterPids);
    const started = performance.now();
    const settled = await Promise.allSettled(visitors.slice(0, count).map((visitor) => visitor.sendNext()));
    const wallMs = performance.now() - started;
    const cpu = meter.stop();
    const done = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    for (const outcome of settled) if (outcome.status === 'rejected') failures.push(String(outcome.reason));
    return {
      turns: settled.length,
      failures: settled.length - done.length,
      serverCpuMsPerTurn: Math.round((cpu.ms.server / Math.max(1, settled.length)) * 100) / 100,
      wallMs: Math.round(wallMs),
      roundTripMs: distribution(done.map((exchange) => exchange.rttMs)),
    };
  };
  const first = await round();
  const second = await round();
  return { first, second, failureSamples: [...new Set(failures)].slice(0, 3) };
}

export const FIRST_TURN_CPU = 'first turn per workspace: server CPU per turn';
export const SECOND_TURN_CPU = 'second turn per workspace: server CPU per turn';

export function firstTurnRows(turns: FirstTurns): ResultRow[] {
  return [
    { metric: FIRST_TURN_CPU, value: turns.first.serverCpuMsPerTurn, unit: 'ms' },
    { metric: SECOND_TURN_CPU, value: turns.second.serverCpuMsPerTurn, unit: 'ms' },
    { metric: 'first turn per workspace: client round trip p50', value: turns.first.roundTripMs.p50, unit: 'ms' },
    { metric: 'second turn per workspace: client round trip p50', value: turns.second.roundTripMs.p50, unit: 'ms' },
    { metric: 'first and second turns failed', value: turns.first.failures + turns.second.failures, unit: '', target: { op: '<=', value: 0 } },
  ];
}

export function firstTurnNote(label: string, workspaces: number, turns: FirstTurns): string {
  const round = (name: string, figures: TurnRound) =>
    `${name}: ${figures.turns} at once in ${figures.wallMs} ms, ${figures.serverCpuMsPerTurn} ms server CPU per turn, round trip p50 ${figures.roundTripMs.p50} ms`;
  return (
    `${label}: ${workspaces} workspace(s), before the warm-up: ${round('first turns', turns.first)}; ${round('second turns', turns.second)}` +
    (turns.failureSamples.length > 0 ? `; failures: ${turns.failureSamples.join(' | ')}` : '')
  );
}
