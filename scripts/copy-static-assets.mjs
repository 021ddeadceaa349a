// `npm run build` step 2: tsc emits JavaScript only, and the server reads these files next to
// its own modules at run time (src/server/static-assets.ts, src/admin/ui-routes.ts), so
// dist/ gets a copy of each directory. Plain JavaScript: it runs before anything is compiled.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
for (const directory of ['server/public', 'admin/ui']) {
  // Replaced, not merged: a file deleted from src/ must not keep being served from dist/.
  rmSync(`${root}dist/${directory}`, { recursive: true, force: true });
  cpSync(`${root}src/${directory}`, `${root}dist/${directory}`, { recursive: true });
}
