import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { launchChromium } from './helpers/browser.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * Which transport the widget connects with, in Debian's headless Chromium against the real server:
 * WebSocket first (one request per reconnect), and HTTP long-polling when WebSocket is refused on
 * the way — here by a proxy at the network edge that forwards plain HTTP and answers every
 * upgrade with 403, as proxies that block WebSocket do.
 */
describe('widget transports', () => {
  let provider: FakeProviderServer;
  let server: RunningApp;
  let proxy: Server;
  let proxyUrl: string;
  let browser: Browser;
  /** The transport each engine.io connection was opened with, in order. */
  const openedWith: string[] = [];

  beforeAll(async () => {
    provider = await startFakeOpenAIServer();
    server = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: provider.url, LLM_PROVIDERS: 'openai' });
    server.app.io.engine.on('connection', (connection: { transport: { name: string } }) => openedWith.push(connection.transport.name));
    const target = new URL(server.url);
    proxy = createServer((incoming, outgoing) => {
      const forwarded = request(
        { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      forwarded.on('error', () => outgoing.destroy());
      incoming.pipe(forwarded);
    });
    proxy.on('upgrade', (_request, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    proxy?.closeAllConnections();
    await new Promise((resolve) => proxy?.close(resolve));
    await server?.stop();
    await provider?.close();
  });

  it('connects over WebSocket directly, with no long-polling handshake before it', async () => {
    openedWith.length = 0;
    const page = await browser.newPage();
    try {
      const polls: string[] = [];
      page.on('request', (sent) => {
        if (sent.url().includes('transport=polling')) polls.push(sent.url());
      });
      await page.goto(`${server.url}/`);
      await waitForOnline(page);
      expect(openedWith).toEqual(['websocket']);
      expect(polls).toEqual([]);
      expect(await askThroughUi(page, 'over a websocket')).toBe('echo: over a websocket');
    } finally {
      await page.close();
    }
  });

  it('falls back to long-polling in the same attempt when a proxy refuses WebSocket', async () => {
    openedWith.length = 0;
    const page = await browser.newPage();
    try {
      await page.goto(`${proxyUrl}/`);
      await waitForOnline(page);
      expect(openedWith).toEqual(['polling']);
      expect(await askThroughUi(page, 'over long-polling')).toBe('echo: over long-polling');
    } finally {
      await page.close();
    }
  });
});

async function waitForOnline(page: Page): Promise<void> {
  await page.locator('[data-testid="switchboard-panel"][data-connection="online"]').waitFor({ state: 'attached', timeout: 10_000 });
}

/** Sends `text` through the page API and waits for the assistant's finished bubble. */
async function askThroughUi(page: Page, text: string): Promise<string> {
  const ack = await page.evaluate((message) => (window as unknown as { Switchboard: { send(text: string): Promise<unknown> } }).Switchboard.send(message), text);
  expect(ack).toEqual({ ok: true, messageId: expect.any(String) });
  const done = page.locator('[data-testid="switchboard-message"][data-role="assistant"][data-status="done"]').last();
  await done.waitFor({ timeout: 10_000 });
  return (await done.innerText()).trim();
}
