/**
 * Resident memory a module costs once imported: imports each given module in turn
 * and prints RSS and heap after a full GC. Shows what the server's idle RSS is made of.
 *
 *   node --expose-gc --import tsx bench/memory-probe.ts openai stripe ./src/server/app.ts
 */
import { pathToFileURL } from 'node:url';

const MB = 1024 * 1024;

function report(label: string): void {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  const figures = [usage.rss, usage.heapUsed, usage.external].map((bytes) => (bytes / MB).toFixed(1).padStart(6));
  console.log(`${label.padEnd(40)} rss ${figures[0]} MB  heapUsed ${figures[1]} MB  external ${figures[2]} MB`);
}

report('start (node + tsx loader)');
for (const specifier of process.argv.slice(2)) {
  await import(specifier.startsWith('.') ? pathToFileURL(specifier).href : specifier);
  report(`+ ${specifier}`);
}
