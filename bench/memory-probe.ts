/**
 * Resident memory a module costs once imported: imports each given module in turn and
 * prints RSS and heap after a full GC. Shows what the server's idle RSS is made of.
 *
 *   npx tsx bench/memory-probe.ts openai stripe ./dist/db/database.js ./dist/server/app.js
 *
 * The imports run in a child `node --expose-gc` without the tsx loader, as production runs
 * the server (compiled, `npm run build` first): under tsx every module also pays for its
 * on-the-fly compilation, which inflated earlier figures (database.ts looked like +49 MB).
 * `--tsx` measures under the loader instead, for `./src/...ts` specifiers.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Runs in the child: ESM source given to `node --input-type=module -e`, specifiers as its arguments. */
const PROBE = `
const MB = 1024 * 1024;
function report(label) {
  globalThis.gc();
  const usage = process.memoryUsage();
  const figures = [usage.rss, usage.heapUsed, usage.external].map((bytes) => (bytes / MB).toFixed(1).padStart(6));
  console.log(label.padEnd(44) + ' rss ' + figures[0] + ' MB  heapUsed ' + figures[1] + ' MB  external ' + figures[2] + ' MB');
}
report(process.env.PROBE_START_LABEL);
for (const [label, specifier] of JSON.parse(process.env.PROBE_SPECIFIERS)) {
  await import(specifier);
  report('+ ' + label);
}
`;

const args = process.argv.slice(2);
const underTsx = args.includes('--tsx');
const modules = args.filter((arg) => arg !== '--tsx');
// Relative paths are files of this checkout; anything else is a package name, resolved from here.
const specifiers = modules.map((module) => [module, module.startsWith('.') ? pathToFileURL(resolve(module)).href : module]);

const result = spawnSync(
  process.execPath,
  ['--expose-gc', ...(underTsx ? ['--import', 'tsx'] : []), '--input-type=module', '-e', PROBE],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      PROBE_START_LABEL: underTsx ? 'start (node + tsx loader)' : 'start (node)',
      PROBE_SPECIFIERS: JSON.stringify(specifiers),
    },
  },
);
process.exit(result.status ?? 1);
