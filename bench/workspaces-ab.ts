import { runInterleaved, type ComparedFigure, type ComparedSide, type ScenarioRunners } from './ab.js';
import type { BenchOptions } from './options.js';
import type { ResultRow, ScenarioResult } from './report.js';
import { FIRST_TURN_CPU, SECOND_TURN_CPU, workspaceClients } from './workspaces.js';

/** Server CPU per message with many workspaces against one, serial and load, in the same sitting (issue 19). */
export const WORKSPACES_CPU_RATIO_TARGET = 1.1;

const CPU: ComparedFigure = { metric: 'server CPU per message', label: 'server CPU per message', target: { op: '<=', value: WORKSPACES_CPU_RATIO_TARGET } };
const COUNTS: ComparedFigure[] = [
  { metric: 'Redis commands per turn', label: 'Redis commands per turn' },
  { metric: 'PostgreSQL statements per turn', label: 'PostgreSQL statements per turn' },
  { metric: 'PostgreSQL round trips per turn', label: 'PostgreSQL round trips per turn' },
  { metric: 'PostgreSQL commits per turn (wire)', label: 'PostgreSQL commits per turn' },
  { metric: 'Redis CPU per message', label: 'Redis CPU per message' },
  { metric: 'PostgreSQL CPU per message', label: 'PostgreSQL CPU per message' },
  { metric: 'server-added p50', label: 'server-added p50' },
];
const COMPARED: Record<'serial' | 'load', ComparedFigure[]> = {
  serial: [CPU, ...COUNTS],
  load: [CPU, { metric: 'throughput', label: 'throughput' }, ...COUNTS, { metric: 'peak server RSS', label: 'peak server RSS' }],
};

/**
 * `--workspaces-ab=A,B`: this tree with A workspaces against B workspaces (bench/workspaces.ts),
 * interleaved in pairs (bench/ab.ts). Both sides use the same number of clients (one per workspace
 * of the larger side, at least), so only the workspaces differ; both are held to the targets.
 * Besides B/A, the one-time cost of a workspace's first turn: (first − second turn) on B minus the
 * same on A, whose first turns open conversations but build nothing.
 */
export function runWorkspacesAb(options: BenchOptions, runId: string, runners: ScenarioRunners): Promise<ScenarioResult[]> {
  const [a, b] = options.workspacesAb!;
  const side = (name: 'A' | 'B', workspaces: number): ComparedSide => ({
    name,
    describe: `${workspaces} workspace${workspaces === 1 ? '' : 's'}`,
    options: { ...options, workspaces },
    heldToTargets: true,
  });
  return runInterleaved(options, runId, runners, {
    title: `workspaces ${a} → ${b} (mean of pairs)`,
    sides: [side('A', a), side('B', b)],
    compared: COMPARED,
    summarize: (value) => {
      const rows: ResultRow[] = [];
      const notes: string[] = [];
      if (workspaceClients(options) <= 1) return { rows, notes };
      for (const scenario of options.scenarios) {
        const perPair: number[] = [];
        for (let pair = 1; pair <= options.pairs; pair++) {
          const extra = (side: 'A' | 'B') => value(pair, scenario, side, FIRST_TURN_CPU) - value(pair, scenario, side, SECOND_TURN_CPU);
          perPair.push(extra('B') - extra('A'));
        }
        const finite = perPair.filter(Number.isFinite);
        const mean = finite.length > 0 ? finite.reduce((sum, cost) => sum + cost, 0) / finite.length : NaN;
        rows.push({ metric: `${scenario}: one-time first-turn cost per workspace (server CPU)`, value: Math.round(mean * 100) / 100, unit: 'ms' });
        notes.push(`workspaces ${scenario}: one-time first-turn cost per workspace, server CPU, (B first − second) − (A first − second) per pair: ${perPair.map((cost) => cost.toFixed(2)).join('; ')} ms`);
      }
      return { rows, notes };
    },
    details: { workspaces: { A: a, B: b }, clients: workspaceClients(options) },
  });
}
