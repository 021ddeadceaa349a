import { mkdir } from 'node:fs/promises';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { createAdmin, seedConversation, seedToolCall, seedTurn } from './helpers/admin-seed.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { launchChromium } from './helpers/browser.js';
import { orderStatusTool as statusTool } from './helpers/order-status-tool.js';

/**
 * The admin console in Debian's headless Chromium against the real server:
 * log in, filter the tool-call table, open a detail, read a transcript, see a new
 * tool call arrive live, and check that hostile text stays inert text. The steps
 * share one logged-in page, so they run in order.
 */

const ARTIFACTS = 'test-artifacts';
const EMAIL = 'ops@example.com';
const PASSWORD = 'correct horse battery staple';
const XSS_USER_TEXT = 'hi <img src=x onerror="window.__xss=1"> <script>window.__xss=2</script>';
const XSS_ARGUMENT = '<img src=x onerror="window.__xss=3"><b>bold</b>';


let provider: FakeProviderServer;
let server: RunningApp;
let browser: Browser;
let page: Page;
let visitor: ClientSocket | undefined;
const ids: Record<string, string> = {};

const tableRows = (currentPage: Page) =>
  currentPage.$$eval('#tool-call-table tbody tr[data-id]', (rows) =>
    rows.map((row) => ({ id: (row as HTMLElement).dataset.id!, cells: [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '') })),
  );

async function noScriptRan(currentPage: Page) {
  expect(await currentPage.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  provider = await startFakeOpenAIServer();
  server = await startTestApp(
    { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: provider.url, LLM_PROVIDERS: 'openai' },
    { extraTools: [statusTool] },
  );
  const db = server.app.database.db;
  await createAdmin(db, EMAIL, PASSWORD);
  const now = Date.now();
  const conversation = await seedConversation(db, 'sms', '+14155550167', new Date(now - 60_000));
  const turn = await seedTurn(db, conversation, { text: XSS_USER_TEXT, reply: 'I cannot do <b>that</b>', at: new Date(now - 120_000) });
  ids.conversation = conversation.id;
  ids.ok = await seedToolCall(db, conversation, turn.userMessageId, {
    toolName: 'get_order_status',
    status: 'ok',
    at: new Date(now - 110_000),
    arguments: { orderId: 'ord_1', contact: 'carol@example.com' },
    result: { status: 'shipped' },
  });
  ids.error = await seedToolCall(db, conversation, turn.userMessageId, {
    toolName: 'create_checkout_link',
    status: 'error',
    at: new Date(now - 100_000),
    arguments: { description: XSS_ARGUMENT, amount: 10 },
    error: 'Stripe said <script>window.__xss=4</script>',
  });

  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('pageerror', (error) => console.error('[browser]', error.message));
  page.on('dialog', (dialog) => void dialog.dismiss());
});

afterAll(async () => {
  visitor?.disconnect();
  await browser?.close();
  await server?.stop();
  await provider?.close();
});

describe('admin console in a real browser', () => {
  it('asks for a login, refuses a wrong password, and opens the tool-call table', async () => {
    await page.goto(`${server.url}/admin`);
    await page.locator('#login-form').waitFor();
    await page.fill('#login-email', EMAIL);
    await page.fill('#login-password', 'wrong password here');
    await page.click('#login-form button[type=submit]');
    await expect.poll(() => page.textContent('#login-error')).toBe('unauthorized: wrong email or password');
    await page.screenshot({ path: `${ARTIFACTS}/admin-login.png` });

    await page.fill('#login-password', PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.locator('#tool-call-table tbody tr[data-id]').first().waitFor();
    expect(await page.textContent('#whoami')).toBe(EMAIL);
    const rows = await tableRows(page);
    expect(rows.map((row) => row.id)).toEqual([ids.error, ids.ok]);
    // List view: phone number and email masked; the person named by channel.
    expect(rows[1]!.cells[6]).toBe('SMS ***67');
    expect(rows[1]!.cells[7]).toContain('c***@example.com');
    await expect.poll(() => page.textContent('#live-status')).toBe('live');
    await noScriptRan(page);
  });

  it('filters the table by status and tool', async () => {
    await page.selectOption('#tool-call-filters select[name=status]', 'error');
    await page.click('#tool-call-filters button[type=submit]');
    await expect.poll(async () => (await tableRows(page)).map((row) => row.id)).toEqual([ids.error]);
    expect(await page.getAttribute('#export-csv', 'href')).toBe('/api/admin/tool-calls/export?status=error&format=csv');

    await page.selectOption('#tool-call-filters select[name=status]', '');
    await page.fill('#tool-call-filters input[name=tool]', 'get_order_status');
    await page.click('#tool-call-filters button[type=submit]');
    await expect.poll(async () => (await tableRows(page)).map((row) => row.id)).toEqual([ids.ok]);
    await page.screenshot({ path: `${ARTIFACTS}/admin-filtered.png` });
    await page.click('#tool-call-filters button[type=reset]');
    await expect.poll(async () => (await tableRows(page)).length).toBe(2);
  });

  it('opens a detail drawer where hostile arguments and errors are inert text', async () => {
    await page.click(`#tool-call-table tbody tr[data-id="${ids.error}"]`);
    await page.locator('#drawer:not([hidden]) .detail').waitFor();
    expect(await page.textContent('#drawer .arguments')).toContain(`"description": ${JSON.stringify(XSS_ARGUMENT)}`);
    expect(await page.textContent('#drawer .error-text')).toBe('Stripe said <script>window.__xss=4</script>');
    expect(await page.textContent('#drawer .user-text')).toBe(XSS_USER_TEXT);
    expect(await page.textContent('#drawer .reply-text')).toBe('I cannot do <b>that</b>');
    expect(await page.locator('#drawer img, #drawer script, #drawer b').count()).toBe(0);
    await noScriptRan(page);
    await page.screenshot({ path: `${ARTIFACTS}/admin-detail.png` });
    await page.click('#drawer-close');
    expect(await page.locator('#drawer').isHidden()).toBe(true);
  });

  it('shows the transcript with tool calls inline, text as text, full number in the detail view', async () => {
    await page.goto(`${server.url}/admin#/conversations/${ids.conversation}`);
    await page.locator('#transcript .bubble').first().waitFor();
    const texts = await page.$$eval('#transcript .bubble .message-text', (nodes) => nodes.map((node) => node.textContent));
    expect(texts).toEqual([XSS_USER_TEXT, 'I cannot do <b>that</b>']);
    expect(await page.textContent('#transcript h2')).toBe('sms · +14155550167');
    expect(await page.locator('#transcript .inline-call').count()).toBe(2);
    expect(await page.locator('#transcript img, #transcript script, #transcript b').count()).toBe(0);
    await noScriptRan(page);
    await page.screenshot({ path: `${ARTIFACTS}/admin-transcript.png` });
  });

  it('adds a new tool call to the table live as it happens', async () => {
    await page.goto(`${server.url}/admin#/tool-calls`);
    await page.locator('#tool-call-table tbody tr[data-id]').first().waitFor();
    await expect.poll(() => page.textContent('#live-status')).toBe('live');
    const before = await tableRows(page);

    const connected = await connectClient(server.url);
    visitor = connected.socket;
    provider.push({ toolCalls: [{ id: 'call_live', name: 'get_order_status', arguments: { orderId: 'ord_<i>77</i>' } }] }, { text: 'Shipped.' });
    const { reply } = await sendAndCollect(visitor, 'where is my order?');
    expect(reply.done.toolCalls).toEqual([{ name: 'get_order_status', status: 'ok' }]);

    await expect.poll(async () => (await tableRows(page)).length).toBe(before.length + 1);
    const [fresh] = await tableRows(page);
    expect(fresh!.cells[1]).toBe('get_order_status');
    expect(fresh!.cells[2]).toBe('ok');
    expect(fresh!.cells[5]).toBe('web');
    expect(fresh!.cells[7]).toBe('{"orderId":"ord_<i>77</i>"}');
    expect(await page.locator('#tool-call-table i').count()).toBe(0);
    await page.screenshot({ path: `${ARTIFACTS}/admin-live.png` });
  });

  it('draws charts and the health view, and fits a phone screen', async () => {
    await page.goto(`${server.url}/admin#/stats`);
    await page.locator('#stats figure.chart').first().waitFor();
    expect(await page.locator('#stats figure.chart').count()).toBe(4);
    // The seeded calls are minutes old: the messages chart draws them (uPlot, on a canvas).
    await page.locator('#stats figure.chart[data-key="toolCalls"] canvas').waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/admin-charts.png`, fullPage: true });

    await page.goto(`${server.url}/admin#/health`);
    await page.locator('#health table').first().waitFor();
    const providerRows = await page.$$eval('#health .card:first-child tbody tr', (rows) => rows.map((row) => [...row.querySelectorAll('td')].slice(0, 2).map((cell) => cell.textContent)));
    expect(providerRows).toEqual([
      ['anthropic', 'not configured'],
      ['openai', 'configured'],
      ['groq', 'not configured'],
    ]);

    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${server.url}/admin#/tool-calls`);
    await page.locator('#tool-call-table tbody tr[data-id]').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.click('#tool-call-table tbody tr[data-id]');
    await page.locator('#drawer:not([hidden]) .detail').waitFor();
    const drawer = await page.locator('#drawer').boundingBox();
    expect(drawer!.width).toBeLessThanOrEqual(375);
    await page.screenshot({ path: `${ARTIFACTS}/admin-phone-375x740.png` });
  });
});
