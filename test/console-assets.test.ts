import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * The files around the console against the real server: the site icon for the demo page and the
 * console, `/admin/` as `/admin`, and uPlot served from this origin under the console's CSP.
 */

let server: RunningApp;

beforeAll(async () => {
  server = await startTestApp();
});

afterAll(async () => {
  await server?.stop();
});

const get = (path: string) => fetch(`${server.url}${path}`);

describe('console assets', () => {
  it('serves /favicon.ico as an icon with 16, 32 and 48 px images', async () => {
    const response = await get('/favicon.ico');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/x-icon');
    const body = Buffer.from(await response.arrayBuffer());
    // ICONDIR: reserved 0, type 1 (icon), then the image count; each entry starts with its width.
    expect([body.readUInt16LE(0), body.readUInt16LE(2), body.readUInt16LE(4)]).toEqual([0, 1, 3]);
    expect([body[6], body[22], body[38]]).toEqual([16, 32, 48]);
  });

  it('answers /admin/ with the console page and its policy, as /admin', async () => {
    const [plain, slash] = await Promise.all([get('/admin'), get('/admin/')]);
    expect(slash.status).toBe(200);
    expect(slash.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(slash.headers.get('content-security-policy')).toBe(plain.headers.get('content-security-policy'));
    expect(slash.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await slash.text()).toBe(await plain.text());
  });

  it('serves uPlot from this origin, the installed file byte for byte, under the same policy', async () => {
    for (const [path, file, type] of [
      ['/admin/vendor/uPlot.iife.min.js', 'node_modules/uplot/dist/uPlot.iife.min.js', 'application/javascript; charset=utf-8'],
      ['/admin/vendor/uPlot.min.css', 'node_modules/uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'],
    ] as const) {
      const response = await get(path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toBe(type);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('content-security-policy')).toContain("style-src 'self'");
      expect(Buffer.from(await response.arrayBuffer()).equals(await readFile(file))).toBe(true);
    }
    // The console loads it; no CDN anywhere.
    const page = await (await get('/admin')).text();
    expect(page).toContain('<script src="/admin/vendor/uPlot.iife.min.js" defer></script>');
    expect(page).not.toMatch(/(src|href)="https?:/);
  });
});
