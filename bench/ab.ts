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

/** The figures compared per pair: the row of each side's result with this metric name. */
const COMPARED: Record<'serial' | 'load', { metric: string; label: string; target?: ResultRow['target']; check?: boolean }[]> = {
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

interface Side {
  name: 'A' | 'B';
  root: string;
}

/**
 * `--ab=DIR`: the baseline checkout DIR (A) against `--server-root` or this tree (B), in one sitting:
 * for each pair, each scenario runs A then B (A B A B …), with the same harness (this one), the same
 * private Redis and the same machine state, so drift in the host shows in both sides alike. Returns
 * every run's result (A's rows lose their `check` flags: the baseline is not held to the targets)
 * and a summary of B/A per compared figure: per pair, and the mean of the pairs' ratios.
 */
export async function runAb(
  options: BenchOptions,
  runId: string,
  runners: Record<ScenarioName, (options: BenchOptions, runId: string) => Promise<ScenarioResult>>,
): Promise<ScenarioResult[]> {
  const sides: Side[] = [
    { name: 'A', root: resolve(options.abBaseline!) },
    { name: 'B', root: resolve(options.serverRoot ?? PROJECT_ROOT) },
  ];
  const runs: { pair: number; scenario: ScenarioName; side: Side; result: ScenarioResult; startedAt: string; loadAverage: number }[] = [];
  for (let pair = 1; pair <= options.pairs; pair++) {
    for (const scenario of options.scenarios) {
      for (const side of sides) {
        const startedAt = new Date().toISOString();
        const loadAverage = loadAverage1m();
        process.stderr.write(`bench: A/B pair ${pair}/${options.pairs}, ${scenario}, ${side.name} (${side.root}), load average ${loadAverage}...\n`);
        const sideOptions: BenchOptions = { ...options, serverRoot: side.root, serverEntry: options.serverEntry ?? 'dist/main.js' };
        const result = await runners[scenario](sideOptions, `${runId}${side.name.toLowerCase()}${pair}`);
        runs.push({ pair, scenario, side, result, startedAt, loadAverage });
      }
    }
  }

  const results: ScenarioResult[] = runs.map(({ pair, scenario, side, result }) => ({
    ...result,
    scenario: `${scenario} ${side.name}${pair}`,
    rows: side.name === 'A' ? result.rows.map(({ check: _check, ...row }) => row) : result.rows,
  }));

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
    const compared = COMPARED[scenario as 'serial' | 'load'];
    for (const figure of compared) {
      const ratios: number[] = [];
      const perPair: string[] = [];
      for (let pair = 1; pair <= options.pairs; pair++) {
        const value = (side: 'A' | 'B') =>
          runs.find((run) => run.pair === pair && run.scenario === scenario && run.side.name === side)?.result.rows.find((row) => row.metric === figure.metric)?.value ?? NaN;
        const a = value('A');
        const b = value('B');
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
  for (const run of runs) notes.push(`A/B run ${run.scenario} ${run.side.name}${run.pair}: started ${run.startedAt}, load average ${run.loadAverage}`);
  return [
    ...results,
    {
      scenario: 'A/B (mean of pairs)',
      rows: summaryRows,
      notes,
      details: {
        baseline: sides[0]!.root,
        candidate: sides[1]!.root,
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
