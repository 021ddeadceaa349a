import { resolve } from 'node:path';
import { PROJECT_ROOT } from './child-processes.js';
import type { BenchOptions, ScenarioName } from './options.js';
import { loadAverage1m } from './proc-stats.js';
import type { ResultRow, ScenarioResult } from './report.js';
import { formatTree, type TreeState } from './tree-state.js';

/** Write syscalls per web turn: at most this share of the baseline's, measured A/B in one sitting (issue 21). */
export const WRITE_SYSCALLS_RATIO_TARGET = 0.5;
/** Server CPU per message, serial and load, against the baseline in the same sitting (issue 21; not a --check target). */
export const CPU_RATIO_TARGET = 0.5;
/** Load throughput against the baseline in the same sitting (issue 21; not a --check target). */
export const THROUGHPUT_RATIO_TARGET = 1.6;

/** One figure compared per pair: the row of each side's result with this metric name. */
export interface ComparedFigure {
  metric: string;
  label: string;
  target?: ResultRow['target'];
  check?: boolean;
}

export type ScenarioRunners = Record<ScenarioName, (options: BenchOptions, runId: string) => Promise<ScenarioResult>>;

/** What `--ab` compares between two checkouts (issue 21's figures). */
const COMPARED: Record<'serial' | 'load', ComparedFigure[]> = {
  serial: [
    { metric: 'Redis commands per turn', label: 'Redis commands per turn' },
    { metric: 'PostgreSQL statements per turn', label: 'PostgreSQL statements per turn' },
    { metric: 'PostgreSQL round trips per turn', label: 'PostgreSQL round trips per turn' },
    { metric: 'PostgreSQL commits per turn (wire)', label: 'PostgreSQL commits per turn' },
    { metric: 'server write syscalls per turn (syscw)', label: 'write syscalls per turn', target: { op: '<=', value: WRITE_SYSCALLS_RATIO_TARGET }, check: true },
    { metric: 'socket.io frames to the client per turn', label: 'frames to the client per turn' },
    { metric: 'server CPU per message', label: 'server CPU per message', target: { op: '<=', value: CPU_RATIO_TARGET } },
    { metric: 'server-added p50', label: 'server-added p50' },
    { metric: 'cache hit: Redis commands', label: 'cache hit: Redis commands' },
    { metric: 'cache hit: PostgreSQL statements', label: 'cache hit: PostgreSQL statements' },
  ],
  load: [
    { metric: 'throughput', label: 'throughput', target: { op: '>=', value: THROUGHPUT_RATIO_TARGET } },
    { metric: 'Redis commands per turn', label: 'Redis commands per turn' },
    { metric: 'PostgreSQL statements per turn', label: 'PostgreSQL statements per turn' },
    { metric: 'PostgreSQL commits per turn (wire)', label: 'PostgreSQL commits per turn' },
    { metric: 'server write syscalls per turn (syscw)', label: 'write syscalls per turn', target: { op: '<=', value: WRITE_SYSCALLS_RATIO_TARGET }, check: true },
    { metric: 'socket.io frames to the client per turn', label: 'frames to the client per turn' },
    { metric: 'server CPU per message', label: 'server CPU per message', target: { op: '<=', value: CPU_RATIO_TARGET } },
    { metric: 'server-added p50', label: 'server-added p50' },
  ],
};

/** One side of an interleaved comparison: the options its runs take, and how it is named. */
export interface ComparedSide {
  name: 'A' | 'B';
  /** What the side is, for the progress lines and notes (a checkout's root, "100 workspaces"). */
  describe: string;
  options: BenchOptions;
  /** Whether its rows keep their `check` flags (a baseline is not held to the targets). */
  heldToTargets: boolean;
}

export interface Comparison {
  /** The summary's scenario name, e.g. "A/B (mean of pairs)". */
  title: string;
  sides: [ComparedSide, ComparedSide];
  compared: Record<'serial' | 'load', ComparedFigure[]>;
  /** Extra summary rows and notes from the figures of each run: `value(pair, scenario, side, metric)`. */
  summarize?: (value: (pair: number, scenario: ScenarioName, side: 'A' | 'B', metric: string) => number) => { rows: ResultRow[]; notes: string[] };
  details: Record<string, unknown>;
}

/**
 * `--ab=DIR`: the baseline checkout DIR (A) against `--server-root` or this tree (B), in one sitting
 * (see runInterleaved). A's rows lose their `check` flags: the baseline is not held to the targets.
 */
export function runAb(options: BenchOptions, runId: string, runners: ScenarioRunners): Promise<ScenarioResult[]> {
  const side = (name: 'A' | 'B', root: string): ComparedSide => ({
    name,
    describe: root,
    options: { ...options, serverRoot: root, serverEntry: options.serverEntry ?? 'dist/main.js' },
    heldToTargets: name === 'B',
  });
  const baseline = resolve(options.abBaseline!);
  const candidate = resolve(options.serverRoot ?? PROJECT_ROOT);
  return runInterleaved(options, runId, runners, {
    title: 'A/B (mean of pairs)',
    sides: [side('A', baseline), side('B', candidate)],
    compared: COMPARED,
    details: { baseline, candidate },
  });
}

/**
 * Two sides in one sitting: for each pair, each scenario runs A then B (A B A B …), with the same
 * harness (this one), the same private Redis and the same machine state, so drift in the host shows
 * in both sides alike. Returns every run's result and a summary of B/A per compared figure: per
 * pair, and the mean of the pairs' ratios.
 */
export async function runInterleaved(options: BenchOptions, runId: string, runners: ScenarioRunners, comparison: Comparison): Promise<ScenarioResult[]> {
  const { sides } = comparison;
  const runs: { pair: number; scenario: ScenarioName; side: ComparedSide; result: ScenarioResult; startedAt: string; loadAverage: number }[] = [];
  for (let pair = 1; pair <= options.pairs; pair++) {
    for (const scenario of options.scenarios) {
      for (const side of sides) {
        const startedAt = new Date().toISOString();
        const loadAverage = loadAverage1m();
        process.stderr.write(`bench: A/B pair ${pair}/${options.pairs}, ${scenario}, ${side.name} (${side.describe}), load average ${loadAverage}...\n`);
        const result = await runners[scenario](side.options, `${runId}${side.name.toLowerCase()}${pair}`);
        runs.push({ pair, scenario, side, result, startedAt, loadAverage });
      }
    }
  }

  const results: ScenarioResult[] = runs.map(({ pair, scenario, side, result }) => ({
    ...result,
    scenario: `${scenario} ${side.name}${pair}`,
    rows: side.heldToTargets ? result.rows : result.rows.map(({ check: _check, ...row }) => row),
  }));

  const value = (pair: number, scenario: ScenarioName, side: 'A' | 'B', metric: string) =>
    runs.find((run) => run.pair === pair && run.scenario === scenario && run.side.name === side)?.result.rows.find((row) => row.metric === metric)?.value ?? NaN;
  const summaryRows: ResultRow[] = [];
  const notes: string[] = [];
  const trees = new Map<string, TreeState>();
  for (const run of runs) {
    const tree = run.result.details.tree as TreeState | undefined;
    if (tree && !trees.has(run.side.name)) trees.set(run.side.name, tree);
  }
  for (const [name, tree] of trees) notes.push(`A/B ${name}: ${formatTree(tree)}`);
  const pairs: Record<string, unknown>[] = [];
  for (const scenario of options.scenarios) {
    for (const figure of comparison.compared[scenario as 'serial' | 'load']) {
      const ratios: number[] = [];
      const perPair: string[] = [];
      for (let pair = 1; pair <= options.pairs; pair++) {
        const a = value(pair, scenario, 'A', figure.metric);
        const b = value(pair, scenario, 'B', figure.metric);
        const ratio = a > 0 ? b / a : NaN;
        if (Number.isFinite(ratio)) ratios.push(ratio);
        perPair.push(`${format(a)} → ${format(b)} (${Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'})`);
        pairs.push({ scenario, figure: figure.label, pair, a, b, ratio });
      }
      const mean = ratios.length > 0 ? ratios.reduce((sum, ratio) => sum + ratio, 0) / ratios.length : NaN;
      summaryRows.push({
        metric: `${scenario}: ${figure.label} B/A`,
        value: Math.round(mean * 1000) / 1000,
        unit: '×',
        ...(figure.target && { target: figure.target }),
        ...(figure.check && { check: true }),
      });
      notes.push(`A/B ${scenario}: ${figure.label}, A → B per pair: ${perPair.join('; ')}`);
    }
  }
  const extra = comparison.summarize?.(value);
  if (extra) {
    summaryRows.push(...extra.rows);
    notes.push(...extra.notes);
  }
  for (const run of runs) notes.push(`A/B run ${run.scenario} ${run.side.name}${run.pair}: started ${run.startedAt}, load average ${run.loadAverage}`);
  return [
    ...results,
    {
      scenario: comparison.title,
      rows: summaryRows,
      notes,
      details: {
        ...comparison.details,
        sides: Object.fromEntries(sides.map((side) => [side.name, side.describe])),
        pairs: options.pairs,
        trees: Object.fromEntries(trees),
        perPair: pairs,
        runs: runs.map((run) => ({ pair: run.pair, scenario: run.scenario, side: run.side.name, startedAt: run.startedAt, loadAverage1m: run.loadAverage })),
      },
    },
  ];
}

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) < 10 ? 2 : 1);
}
