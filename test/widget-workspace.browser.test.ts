import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversations, type Workspace } from '../src/store/schema.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { launchChromium } from './helpers/browser.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { sendThroughUi, waitForOnline } from './helpers/widget-page.js';

/**
 * The widget embedded on a customer's site (another origin than the server) with
 * `data-workspace-key`: its conversation is that workspace's; a key the server does not know, or a
 * page outside the workspace's allowed origins, shows "Chat unavailable" and does not retry.
 */

const ARTIFACTS = 'test-artifacts';

describe('widget with data-workspace-key in a real browser', () => {
  let provider: FakeProviderServer;
  let server: RunningApp;
  let site: Server;
  let siteUrl: string;
  let browser: Browser;
  let acme: Workspace;
  let strict: Workspace;

  const page = async (path: string): Promise<Page> => {
    const opened = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    opened.on('pageerror', (error) => console.error('[browser]', error.message));
    await opened.goto(`${siteUrl}${path}`);
    return opened;
  };

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    provider = await startFakeOpenAIServer();
    server = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: provider.url, LLM_PROVIDERS: 'openai' });
    // A customer's site on its own origin, embedding the server's widget with a workspace key.
    const keys: Record<string, string> = {};
    site = createServer((request, response) => {
      const key = keys[request.url ?? ''] ?? '';
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(
        `<!doctype html><html><head><title>Shop</title></head><body><h1>A shop</h1>` +
          `<script src="${server.url}/widget.js" data-workspace-key="${key}" data-title="Acme support" data-open="true" defer></script></body></html>`,
      );
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    acme = await server.app.workspaceRecords.create({ slug: 'acme', name: 'Acme', allowedOrigins: [siteUrl] });
    strict = await server.app.workspaceRecords.create({ slug: 'strict', name: 'Strict', allowedOrigins: ['https://only.strict.example'] });
    await server.app.workspaces.changed();
    Object.assign(keys, { '/acme': acme.widgetKey, '/unknown': 'wk_not_a_key_of_ours', '/strict': strict.widgetKey });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => site?.close(resolve));
    await server?.stop();
    await provider?.close();
  });

  it("talks to the key's workspace from the customer's site", async () => {
    const shop = await page('/acme');
    await waitForOnline(shop);
    await sendThroughUi(shop, 'hello from the shop');
    await shop.locator('[data-testid="switchboard-message"][data-role="assistant"][data-status="done"]').waitFor({ timeout: 10_000 });
    const conversationId = await shop.evaluate(() => window.Switchboard.conversationId);
    const [row] = await server.app.database.db.select().from(conversations).where(eq(conversations.id, conversationId!));
    expect(row).toMatchObject({ workspaceId: acme.id, channel: 'web' });
  });

  it('an unknown key, or a page outside the allowed origins: "Chat unavailable", a send fails at once, no retry', async () => {
    for (const path of ['/unknown', '/strict']) {
      const shop = await page(path);
      const handshakes: string[] = [];
      shop.on('websocket', (socket) => handshakes.push(socket.url()));
      await shop.locator('[data-testid="switchboard-panel"][data-connection="offline"]').waitFor({ state: 'attached', timeout: 10_000 });
      await expect.poll(() => shop.getByTestId('switchboard-status').textContent()).toBe('Chat unavailable');
      handshakes.length = 0; // the one refused
      await sendThroughUi(shop, 'is anyone there?');
      const failed = shop.locator('[data-testid="switchboard-message"][data-role="user"][data-status="error"]');
      await failed.waitFor({ timeout: 5_000 });
      expect(await failed.textContent()).toContain('Chat unavailable');
      if (path === '/unknown') await shop.screenshot({ path: `${ARTIFACTS}/widget-unknown-workspace.png` });
      // The widget's backoff would have tried again within a second or two.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(handshakes).toEqual([]);
    }
  });
});
