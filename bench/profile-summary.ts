/**
 * Where the CPU went in a V8 `.cpuprofile` (from `npm run bench -- --cpu-prof=DIR`):
 * self time by package / source area and by function, and total (inclusive) time of
 * the functions that matter most.
 *
 *   npx tsx bench/profile-summary.ts DIR/CPU.*.cpuprofile [--top=25] [--skip-seconds=5] [--only=src/]
 *
 * `--skip-seconds` leaves out the first seconds of the profile (start-up: module loading, migrations);
 * `--only` keeps the inclusive list to functions whose label contains the text (e.g. our own code).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, 'skip-seconds': { type: 'string', default: '0' }, only: { type: 'string', default: '' } },
});
const top = Number(values.top);
const skipUs = Number(values['skip-seconds']) * 1e6;
const only = values.only;

for (const file of positionals) summarize(file, JSON.parse(readFileSync(file, 'utf8')) as Profile);

function summarize(file: string, profile: Profile): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // Self time per node, from the sample timeline (each sample's delta belongs to the sampled node).
  const selfUs = new Map<number, number>();
  let elapsedUs = 0;
  profile.samples.forEach((id, index) => {
    elapsedUs += profile.timeDeltas[index] ?? 0;
    if (elapsedUs < skipUs) return;
    const delta = profile.timeDeltas[index + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const totalUs = [...selfUs.values()].reduce((sum, value) => sum + value, 0);
  const idleUs = sumWhere(selfUs, byId, (node) => node.callFrame.functionName === '(idle)');
  const busyUs = totalUs - idleUs;

  const selfByArea = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  const inclusiveByFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') continue;
    add(selfByArea, area(node), us);
    add(selfByFunction, label(node), us);
    // Inclusive: count each function once per sample even under recursion.
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const name = label(byId.get(current)!);
      if (seen.has(name)) continue;
      seen.add(name);
      add(inclusiveByFunction, name, us);
    }
  }

  const percent = (us: number) => `${((us / busyUs) * 100).toFixed(1).padStart(5)} %`;
  const print = (title: string, map: Map<string, number>) => {
    console.log(`\n${title}`);
    for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${percent(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
  };
  const wallS = (profile.endTime - profile.startTime - skipUs) / 1e6;
  console.log(`${file}\n  wall ${wallS.toFixed(1)} s (after skipping ${skipUs / 1e6} s), busy ${(busyUs / 1e6).toFixed(1)} s (percentages are of busy time)`);
  print('self time by area', selfByArea);
  print('self time by function', selfByFunction);
  const inclusive = only ? new Map([...inclusiveByFunction].filter(([name]) => name.includes(only))) : inclusiveByFunction;
  print(`inclusive time by function${only ? ` (only "${only}")` : ''}`, inclusive);
}

/** node_modules package, `src/<dir>`, `node:` internals or a V8 pseudo-frame such as (garbage collector). */
function area(node: ProfileNode): string {
  const url = node.callFrame.url;
  if (url === '') return node.callFrame.functionName.startsWith('(') ? node.callFrame.functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  const source = /\/(src|test|bench)\/(.+?)\/[^/]+$/.exec(url) ?? /\/(src|test|bench)\/([^/]+)$/.exec(url);
  if (source) return `${source[1]}/${source[2]}`;
  if (url.startsWith('node:')) return url;
  return url;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*node_modules\//, '').replace(/^.*\/(src|test|bench)\//, '$1/');
  return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
}

function add(map: Map<string, number>, key: string, value: number): void {
  map.set(key, (map.get(key) ?? 0) + value);
}

function sumWhere(selfUs: Map<number, number>, byId: Map<number, ProfileNode>, predicate: (node: ProfileNode) => boolean): number {
  let sum = 0;
  for (const [id, us] of selfUs) if (predicate(byId.get(id)!)) sum += us;
  return sum;
}
