import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface StaticAsset {
  body: Buffer;
  contentType: string;
}

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** The demo page, widget and site icon (the console's too) are small and fixed: read once at start, served from memory. */
export async function loadStaticAssets(): Promise<Record<string, StaticAsset>> {
  const [indexHtml, widgetJs, favicon] = await Promise.all([
    readFile(`${PUBLIC_DIR}index.html`),
    readFile(`${PUBLIC_DIR}widget.js`),
    readFile(`${PUBLIC_DIR}favicon.ico`),
  ]);
  return {
    '/': { body: indexHtml, contentType: 'text/html; charset=utf-8' },
    '/widget.js': { body: widgetJs, contentType: 'application/javascript; charset=utf-8' },
    // Browsers ask for it on every page (the demo and the console) whether or not a page links it.
    '/favicon.ico': { body: favicon, contentType: 'image/x-icon' },
  };
}
