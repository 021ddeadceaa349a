import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastUserText, startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { launchChromium } from './helpers/browser.js';
import { expectAnnounced, sendThroughUi, waitForOnline } from './helpers/widget-page.js';
import { listMessages } from './helpers/store-queries.js';

/**
 * The embeddable widget in Debian's headless Chromium against the real server
 * (real PostgreSQL, the OpenAI wire format served by a local fake). The steps
 * share one visitor, so they run in order: later steps rely on the conversation
 * the first one started.
 */

const ARTIFACTS = 'test-artifacts';
const MAX_MESSAGE_CHARS = 50;
const STREAMED_REPLY = 'Hello from the fake model, streamed to you in small pieces.';
const XSS_REPLY = 'Try <img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script> or read https://example.com/docs?a=1&b=2. Never javascript:alert(1)';

interface ShownMessage {
  role: string;
  status: string;
  text: string;
  note: string | null;
}

describe('chat widget in a real browser', () => {
  let provider: FakeProviderServer;
  let server: RunningApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Test-side observer of the server's sockets: records client message ids and can cut a connection before the ack. */
  const receivedClientMessageIds: string[] = [];
  let cutConnectionAfterNextMessage = false;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    provider = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: provider.url,
      LLM_PROVIDERS: 'openai',
      MAX_MESSAGE_CHARS: String(MAX_MESSAGE_CHARS),
      // One page's conversation runs through every case: a fallback reply must not hand it to a
      // person (test/widget-handoff.browser.test.ts shows the widget in a handoff).
      HANDOFF_ON_FALLBACK: 'false',
    });
    server.app.io.on('connection', (socket) => {
      socket.use(([event, payload], next) => {
        if (event !== 'message') return next();
        receivedClientMessageIds.push((payload as { clientMessageId: string }).clientMessageId);
        next();
        if (cutConnectionAfterNextMessage) {
          cutConnectionAfterNextMessage = false;
          // The handler is already running (it awaits the database); its ack goes to a closed socket.
          setImmediate(() => socket.disconnect(true));
        }
      });
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on('pageerror', (error) => console.error('[browser]', error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await provider?.close();
  });

  it('loads from one script tag and streams a typed message\'s reply into a bubble', async () => {
    await page.goto(`${server.url}/`);
    await page.getByTestId('switchboard-launcher').waitFor();
    await waitForOnline(page);
    // data-open="true" opens the panel without a click.
    expect(await page.getByTestId('switchboard-panel').isVisible()).toBe(true);
    expect(await page.getByTestId('switchboard-send').isDisabled()).toBe(true);
    const token = await page.evaluate(() => localStorage.getItem('switchboard.token'));
    expect(token).toMatch(/^[A-Za-z0-9_-]{20,}$/);

    // Shift+Enter is a newline, not a send.
    const input = page.getByTestId('switchboard-input');
    await input.click();
    await input.pressSequentially('first line');
    await input.press('Shift+Enter');
    await input.pressSequentially('second');
    expect(await input.inputValue()).toBe('first line\nsecond');
    expect(await shownMessages(page)).toEqual([]);
    await input.fill('');

    provider.push({ text: STREAMED_REPLY, chunkSize: 4, interChunkDelayMs: 25 });
    await recordAssistantSnapshots(page);
    await input.fill('Hi there, I am Ada');
    expect(await page.getByTestId('switchboard-send').isEnabled()).toBe(true);
    await input.press('Enter');

    await waitForAssistant(page, 1, 'done');
    expect(await shownMessages(page)).toEqual([
      { role: 'user', status: 'done', text: 'Hi there, I am Ada', note: null },
      { role: 'assistant', status: 'done', text: STREAMED_REPLY, note: null },
    ]);
    expect(await input.inputValue()).toBe('');
    expect(await isFocused(page, 'switchboard-input')).toBe(true);

    // The text grew through several deltas while the bubble said "streaming".
    const partials = (await snapshots(page)).filter((s) => s.status === 'streaming' && s.text !== '');
    expect(partials.length).toBeGreaterThanOrEqual(5);
    for (const partial of partials) expect(STREAMED_REPLY.startsWith(partial.text)).toBe(true);
    expect(partials[0]!.text.length).toBeLessThan(STREAMED_REPLY.length);

    await expectAnnounced(page, `Assistant: ${STREAMED_REPLY}`);
    expect(provider.requests).toHaveLength(1);
    expect(lastUserText(provider.requests[0]!.body)).toBe('Hi there, I am Ada');
    await page.screenshot({ path: `${ARTIFACTS}/widget-desktop.png` });
  });

  it('manages focus: Escape closes the panel back to the launcher, the launcher reopens it on the input', async () => {
    await page.getByTestId('switchboard-input').press('Escape');
    expect(await page.getByTestId('switchboard-panel').isHidden()).toBe(true);
    expect(await page.getByTestId('switchboard-launcher').getAttribute('aria-expanded')).toBe('false');
    expect(await isFocused(page, 'switchboard-launcher')).toBe(true);

    await page.getByTestId('switchboard-launcher').click();
    expect(await page.getByTestId('switchboard-panel').isVisible()).toBe(true);
    expect(await page.getByTestId('switchboard-launcher').getAttribute('aria-expanded')).toBe('true');
    expect(await isFocused(page, 'switchboard-input')).toBe(true);
  });

  it('resumes the conversation after a reload, and the server sends the history to the model', async () => {
    const before = await page.evaluate(() => ({
      token: localStorage.getItem('switchboard.token'),
      conversationId: window.Switchboard.conversationId,
    }));
    expect(before.conversationId).toMatch(/^[0-9a-f-]{36}$/);

    await page.reload();
    await waitForOnline(page);
    const after = await page.evaluate(() => ({
      token: localStorage.getItem('switchboard.token'),
      conversationId: window.Switchboard.conversationId,
    }));
    expect(after).toEqual(before);
    // The visitor sees the conversation the server resumed.
    expect((await shownMessages(page)).map((m) => m.text)).toEqual(['Hi there, I am Ada', STREAMED_REPLY]);

    await sendThroughUi(page, 'What is my name?');
    await waitForAssistant(page, 2, 'done');
    expect(provider.requests).toHaveLength(2);
    const sent = provider.requests[1]!.body.messages.map((m: { role: string; content: unknown }) => [m.role, m.content]);
    expect(sent).toContainEqual(['user', 'Hi there, I am Ada']);
    expect(sent).toContainEqual(['assistant', STREAMED_REPLY]);
    expect(sent.at(-1)).toEqual(['user', 'What is my name?']);
    expect(await listMessages(server.app.database.db, before.conversationId!)).toHaveLength(4);
  });

  it('renders model and visitor text as text only, and links bare http(s) URLs safely', async () => {
    provider.push({ text: XSS_REPLY, chunkSize: 7 });
    await sendThroughUi(page, '<img src=x onerror="window.__xss=3"><b>bold?</b>');
    await waitForAssistant(page, 3, 'done');

    const shown = await shownMessages(page);
    expect(shown.at(-2)!.text).toBe('<img src=x onerror="window.__xss=3"><b>bold?</b>');
    expect(shown.at(-1)!.text).toBe(XSS_REPLY);
    const dom = await page.evaluate(() => {
      const root = document.getElementById('switchboard-widget')!.shadowRoot!;
      const replies = root.querySelectorAll('[data-role="assistant"]');
      const links = [...replies[replies.length - 1]!.querySelectorAll('a')];
      return {
        xss: (window as { __xss?: unknown }).__xss,
        dangerous: root.querySelectorAll('img, script, b, iframe').length + document.querySelectorAll('img').length,
        links: links.map((a) => ({ href: a.getAttribute('href'), text: a.textContent, rel: a.rel, target: a.target })),
      };
    });
    expect(dom.xss).toBeUndefined();
    expect(dom.dangerous).toBe(0);
    expect(dom.links).toEqual([
      { href: 'https://example.com/docs?a=1&b=2', text: 'https://example.com/docs?a=1&b=2', rel: 'noopener noreferrer', target: '_blank' },
    ]);
  });

  it('shows an over-long message\'s rejection inline and keeps the input usable', async () => {
    const requestsBefore = provider.requests.length;
    const tooLong = 'x'.repeat(MAX_MESSAGE_CHARS + 10);
    await sendThroughUi(page, tooLong);
    await page.locator('[data-testid="switchboard-message"][data-role="user"][data-status="error"]').waitFor();

    // The note is scrolled into view even though the restored text grew the input and shrank the log.
    const noteInView = await page.evaluate(() => {
      const root = document.getElementById('switchboard-widget')!.shadowRoot!;
      const log = root.querySelector('[data-testid="switchboard-messages"]')!.getBoundingClientRect();
      const notes = root.querySelectorAll('[data-testid="switchboard-message-note"]');
      const note = notes[notes.length - 1]!.getBoundingClientRect();
      return note.top >= log.top && note.bottom <= log.bottom + 1;
    });
    expect(noteInView).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/widget-rejected-message.png` });
    const rejected = (await shownMessages(page)).at(-1)!;
    expect(rejected).toMatchObject({ role: 'user', status: 'error', text: tooLong });
    expect(rejected.note).toContain('Message too long');
    expect(rejected.note).toContain(`the limit is ${MAX_MESSAGE_CHARS}`);
    // The text comes back to the input so it can be shortened, and sending works again.
    const input = page.getByTestId('switchboard-input');
    expect(await input.inputValue()).toBe(tooLong);
    expect(await input.isEditable()).toBe(true);
    expect(await page.getByTestId('switchboard-send').isEnabled()).toBe(true);
    expect(provider.requests.length).toBe(requestsBefore);

    await input.fill('short one');
    await input.press('Enter');
    await waitForAssistant(page, 4, 'done');
    expect((await shownMessages(page)).at(-1)!.text).toBe('echo: short one');
  });

  it('clears discarded text and marks a fallback reply when the provider fails mid-stream', async () => {
    provider.setResponder(() => ({
      text: 'This partial answer will be thrown away',
      chunkSize: 4,
      interChunkDelayMs: 20,
      streamError: { kind: 'server', afterChunks: 4 },
    }));
    try {
      await recordAssistantSnapshots(page);
      await sendThroughUi(page, 'Are you there?');
      await waitForAssistant(page, 5, 'fallback');
    } finally {
      provider.setResponder(undefined);
    }
    const reply = (await shownMessages(page)).at(-1)!;
    expect(reply).toEqual({ role: 'assistant', status: 'fallback', text: server.config.FALLBACK_REPLY, note: expect.stringContaining('Automatic reply') });
    const streamed = (await snapshots(page)).filter((s) => s.status === 'streaming');
    const firstPartial = streamed.findIndex((s) => s.text.startsWith('This'));
    expect(firstPartial).toBeGreaterThanOrEqual(0);
    // After the discard the bubble went back to empty (the typing dots) before the fallback arrived.
    expect(streamed.slice(firstPartial + 1).some((s) => s.text === '')).toBe(true);
  });

  it('re-sends an unacknowledged message with the same clientMessageId after a reconnect', async () => {
    receivedClientMessageIds.length = 0;
    cutConnectionAfterNextMessage = true;
    const { disabledWhilePending } = await page.evaluate(() => {
      const root = document.getElementById('switchboard-widget')!.shadowRoot!;
      const input = root.querySelector('[data-testid="switchboard-input"]') as HTMLTextAreaElement;
      (window as { __ack?: Promise<unknown> }).__ack = window.Switchboard.send('Did this arrive once?');
      input.value = 'typed while waiting';
      input.dispatchEvent(new Event('input'));
      return { disabledWhilePending: (root.querySelector('[data-testid="switchboard-send"]') as HTMLButtonElement).disabled };
    });
    expect(disabledWhilePending).toBe(true);

    const ack = await page.evaluate(() => (window as { __ack?: Promise<unknown> }).__ack);
    expect(ack).toEqual({ ok: true, messageId: expect.any(String) });
    await waitForAssistant(page, 6, 'done');
    expect(receivedClientMessageIds).toHaveLength(2);
    expect(receivedClientMessageIds[1]).toBe(receivedClientMessageIds[0]);

    const shown = await shownMessages(page);
    expect(shown.slice(-2)).toEqual([
      { role: 'user', status: 'done', text: 'Did this arrive once?', note: null },
      { role: 'assistant', status: 'done', text: 'echo: Did this arrive once?', note: null },
    ]);
    const conversationId = await page.evaluate(() => window.Switchboard.conversationId);
    const stored = await listMessages(server.app.database.db, conversationId!);
    expect(stored.filter((row) => row.text === 'Did this arrive once?')).toHaveLength(1);
    expect(await page.getByTestId('switchboard-send').isEnabled()).toBe(true);
  });

  it('works embedded in another origin\'s page, with its own title and a token namespaced by server origin', async () => {
    // A second origin on loopback (another port): a public page would be refused loopback by Private Network Access.
    const shopPage = `<!doctype html><title>Shop</title><h1>Shop</h1><script src="${server.url}/widget.js" data-title="Shop help" defer></script>`;
    const shopServer = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end(shopPage));
    await new Promise<void>((resolve) => shopServer.listen(0, '127.0.0.1', resolve));
    const shopUrl = `http://127.0.0.1:${(shopServer.address() as AddressInfo).port}/`;
    const shop = await context.newPage();
    try {
      await shop.goto(shopUrl);
      await waitForOnline(shop);
      expect(await shop.getByTestId('switchboard-panel').isHidden()).toBe(true);
      await shop.getByTestId('switchboard-launcher').click();
      expect(await shop.getByRole('dialog', { name: 'Shop help' }).isVisible()).toBe(true);

      await sendThroughUi(shop, 'hello from the shop');
      await waitForAssistant(shop, 1, 'done');
      expect((await shownMessages(shop)).at(-1)!.text).toBe('echo: hello from the shop');
      const storage = await shop.evaluate(() => ({ ...localStorage }));
      expect(Object.keys(storage).sort()).toEqual([
        `switchboard.token:${new URL(server.url).origin}`,
        `switchboard.transcript:${new URL(server.url).origin}`,
      ]);
    } finally {
      await shop.close();
      await new Promise((resolve) => shopServer.close(resolve));
    }
  });

  it('fills a phone-width screen', async () => {
    const phone = await context.newPage();
    try {
      await phone.setViewportSize({ width: 375, height: 700 });
      await phone.goto(`${server.url}/`);
      await waitForOnline(phone);
      // data-open="true" does not open it on a phone: the panel would cover the whole page on load.
      expect(await phone.getByTestId('switchboard-panel').isHidden()).toBe(true);
      await phone.getByTestId('switchboard-launcher').click();
      const box = await phone.getByTestId('switchboard-panel').boundingBox();
      expect(box).toEqual({ x: 0, y: 0, width: 375, height: 700 });
      expect(await phone.getByTestId('switchboard-launcher').isHidden()).toBe(true);
      expect((await shownMessages(phone)).length).toBeGreaterThanOrEqual(10);
      await phone.screenshot({ path: `${ARTIFACTS}/widget-phone-375x700.png` });
    } finally {
      await phone.close();
    }
  });
});

/** Waits until the `ordinal`-th assistant bubble (1-based) has the status. */
async function waitForAssistant(page: Page, ordinal: number, status: string): Promise<void> {
  await page
    .locator('[data-testid="switchboard-message"][data-role="assistant"]')
    .nth(ordinal - 1)
    .and(page.locator(`[data-status="${status}"]`))
    .waitFor({ timeout: 10_000 });
}

async function shownMessages(page: Page): Promise<ShownMessage[]> {
  return page.evaluate(() => {
    const root = document.getElementById('switchboard-widget')!.shadowRoot!;
    return [...root.querySelectorAll('[data-testid="switchboard-message"]')].map((row) => ({
      role: row.getAttribute('data-role')!,
      status: row.getAttribute('data-status')!,
      text: row.querySelector('.bubble')!.textContent!,
      note: row.querySelector('[data-testid="switchboard-message-note"]')?.textContent ?? null,
    }));
  });
}

async function isFocused(page: Page, testId: string): Promise<boolean> {
  return page.evaluate(
    (id) => document.getElementById('switchboard-widget')!.shadowRoot!.activeElement?.getAttribute('data-testid') === id,
    testId,
  );
}

/** Records every state of the newest assistant bubble (status and text) from now on, in the page. */
async function recordAssistantSnapshots(page: Page): Promise<void> {
  await page.evaluate(() => {
    const root = document.getElementById('switchboard-widget')!.shadowRoot!;
    const seen: { status: string; text: string }[] = [];
    const initial = root.querySelectorAll('[data-role="assistant"]').length;
    (window as { __snapshots?: typeof seen }).__snapshots = seen;
    new MutationObserver(() => {
      const rows = root.querySelectorAll('[data-role="assistant"]');
      if (rows.length <= initial) return;
      const row = rows[rows.length - 1]!;
      const state = { status: row.getAttribute('data-status')!, text: row.querySelector('.bubble')!.textContent! };
      const last = seen.at(-1);
      if (!last || last.status !== state.status || last.text !== state.text) seen.push(state);
    }).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

async function snapshots(page: Page): Promise<{ status: string; text: string }[]> {
  return page.evaluate(() => (window as { __snapshots?: { status: string; text: string }[] }).__snapshots ?? []);
}
