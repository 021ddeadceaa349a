/** One line of the results table; a row with a target says whether it was met. */
export interface ResultRow {
  metric: string;
  value: number;
  unit: string;
  target?: { op: '<=' | '>='; value: number };
  /** A count target: `--check` exits 1 when it is missed. */
  check?: boolean;
}

export interface ScenarioResult {
  scenario: string;
  rows: ResultRow[];
  /** Everything else worth keeping in the JSON line: parameters, CPU shares, counts. */
  details: Record<string, unknown>;
  /** Lines printed under the table (breakdowns that are not one number). */
  notes?: string[];
}

export function isMet(row: ResultRow): boolean | undefined {
  if (!row.target) return undefined;
  if (!Number.isFinite(row.value)) return false;
  return row.target.op === '<=' ? row.value <= row.target.value : row.value >= row.target.value;
}

export function formatTable(results: readonly ScenarioResult[]): string {
  const header = ['scenario', 'metric', 'measured', 'target', 'result'];
  const lines = results.flatMap((result) =>
    result.rows.map((row) => {
      const met = isMet(row);
      return [
        result.scenario,
        row.metric,
        `${formatNumber(row.value)} ${row.unit}`.trim(),
        row.target ? `${row.target.op === '<=' ? '≤' : '≥'} ${formatNumber(row.target.value)} ${row.unit}`.trim() : '',
        met === undefined ? '' : met ? (row.check ? 'met (check)' : 'met') : row.check ? 'MISSED (check)' : 'MISSED',
      ];
    }),
  );
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const render = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [render(header), render(widths.map((width) => '-'.repeat(width))), ...lines.map(render)].join('\n');
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(Math.abs(value) < 10 ? 2 : 1);
}

export const MB = 1024 * 1024;
export const toMB = (bytes: number) => Math.round((bytes / MB) * 10) / 10;
