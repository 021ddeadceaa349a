import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const UI_DIR = fileURLToPath(new URL('./ui/', import.meta.url));

const FILES: Record<string, { file: string; contentType: string }> = {
  '/admin': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  // The same page with a trailing slash: its links are absolute, so both work alike.
  '/admin/': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/admin/app.js': { file: 'app.js', contentType: 'application/javascript; charset=utf-8' },
  '/admin/views.js': { file: 'views.js', contentType: 'application/javascript; charset=utf-8' },
  '/admin/charts.js': { file: 'charts.js', contentType: 'application/javascript; charset=utf-8' },
  '/admin/api.js': { file: 'api.js', contentType: 'application/javascript; charset=utf-8' },
  '/admin/spend.js': { file: 'spend.js', contentType: 'application/javascript; charset=utf-8' },
  '/admin/workspaces.js': { file: 'workspaces.js', contentType: 'application/javascript; charset=utf-8' },
  '/admin/admin.css': { file: 'admin.css', contentType: 'text/css; charset=utf-8' },
};

/**
 * uPlot (the overview's charts), served from this origin like the console's own files. Read from
 * the installed package (a production dependency) rather than copied: the server runs from src/ in
 * tests and from dist/ in production, and both resolve the same file. uPlot styles its elements
 * through the CSSOM (`element.style`), which the policy below allows; it writes no inline markup.
 */
const require = createRequire(import.meta.url);
const VENDOR_FILES: Record<string, { file: string; contentType: string }> = {
  '/admin/vendor/uPlot.iife.min.js': { file: require.resolve('uplot/dist/uPlot.iife.min.js'), contentType: 'application/javascript; charset=utf-8' },
  '/admin/vendor/uPlot.min.css': { file: require.resolve('uplot/dist/uPlot.min.css'), contentType: 'text/css; charset=utf-8' },
};

/**
 * Scripts only from this origin, no inline script or style, no framing: model and
 * user text is rendered with textContent, and this policy is the second wall.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The admin console: plain ES modules and CSS, no build step, read once at start. */
export async function registerAdminUi(http: FastifyInstance): Promise<void> {
  const loaded = await Promise.all([
    ...Object.entries(FILES).map(async ([path, entry]) => [path, { body: await readFile(`${UI_DIR}${entry.file}`), contentType: entry.contentType }] as const),
    ...Object.entries(VENDOR_FILES).map(async ([path, entry]) => [path, { body: await readFile(entry.file), contentType: entry.contentType }] as const),
  ]);
  for (const [path, asset] of loaded) {
    http.get(path, (_request, reply) =>
      reply
        .type(asset.contentType)
        .header('cache-control', 'no-cache')
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .send(asset.body),
    );
  }
}
