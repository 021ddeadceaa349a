import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/database.js';
import { handoffs } from '../src/store/schema.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { createAdmin, seedConversation, seedToolCall, seedTurn, type SeedConversation } from './helpers/admin-seed.js';
import { launchChromium } from './helpers/browser.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { orderStatusTool as statusTool } from './helpers/order-status-tool.js';

/**
 * The console's lists and overview in Debian's headless Chromium against the real server: empty
 * states on a fresh install, people named by channel and opened in a person view (their
 * conversations across channels, nobody else's), readable charts first on the overview, a phone
 * layout that keeps each row's status, `/admin/` and the site icon, and not one CSP violation or
 * 404 on the way. The steps share one logged-in page, so they run in order.
 */

const ARTIFACTS = 'test-artifacts';
const EMAIL = 'lists@example.com';
const PASSWORD = 'correct horse battery staple';
const VISITOR = '3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718';


let provider: FakeProviderServer;
let server: RunningApp;
let visitor: ClientSocket | undefined;
let db: Db;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const people: Record<string, SeedConversation> = {};
const ids: Record<string, string> = {};
/** Every 404 and server error, and every console message about the Content-Security-Policy. */
const failures: string[] = [];
const policyViolations: string[] = [];

const rowsOf = (table: string) =>
  page.$$eval(`${table} tbody tr[data-id]`, (rows) =>
    rows.map((row) => ({ id: (row as HTMLElement).dataset.id!, cells: [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '') })),
  );

async function seed() {
  const now = Date.now();
  const ago = (minutes: number) => new Date(now - minutes * 60_000);
  people.carolSms = await seedConversation(db, 'sms', '+14155550167', ago(4));
  people.carolWhatsApp = await seedConversation(db, 'whatsapp-cloud', '14155550167', ago(20));
  people.dave = await seedConversation(db, 'sms', '+14155559967', ago(8));
  people.visitor = await seedConversation(db, 'web', `visitor:${VISITOR}`, ago(2));
  // Turns spread over the last hour, so the hour chart has bars in several minutes.
  const carolTurn = await seedTurn(db, people.carolSms, { text: 'where is my order?', at: ago(5), latencyMs: 420 });
  ids.carolCall = await seedToolCall(db, people.carolSms, carolTurn.userMessageId, { toolName: 'get_order_status', status: 'ok', at: ago(5), arguments: { orderId: 'ord_1' } });
  await seedTurn(db, people.carolWhatsApp, { text: 'hola', at: ago(21), latencyMs: 900 });
  const daveTurn = await seedTurn(db, people.dave, { text: 'refund please', at: ago(9), latencyMs: 1300 });
  ids.daveCall = await seedToolCall(db, people.dave, daveTurn.userMessageId, { toolName: 'create_checkout_link', status: 'error', at: ago(9), error: 'declined' });
  await seedTurn(db, people.visitor, { text: 'can I talk to someone?', at: ago(3), latencyMs: 250 });
  for (const minutes of [35, 47, 52]) await seedTurn(db, people.visitor, { text: 'and now?', at: ago(minutes), latencyMs: 300 + minutes });
  await db.insert(handoffs).values({ id: randomUUID(), conversationId: people.visitor.id, status: 'waiting', reason: 'requested', summary: 'wants a person', requestedAt: ago(2) });
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  provider = await startFakeOpenAIServer();
  server = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: provider.url, LLM_PROVIDERS: 'openai' }, { extraTools: [statusTool] });
  db = server.app.database!.db;
  await createAdmin(db, EMAIL, PASSWORD);
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on('pageerror', (error) => console.error('[browser]', error.message));
  page.on('response', (response) => {
    if (response.status() === 404 || response.status() >= 500) failures.push(`${response.status()} ${response.url()}`);
  });
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) policyViolations.push(message.text());
  });
});

afterAll(async () => {
  visitor?.disconnect();
  await browser?.close();
  await server?.stop();
  await provider?.close();
});

describe('console lists and overview in a real browser', () => {
  it('says what an empty list means on a fresh install', async () => {
    await page.goto(`${server.url}/admin/`);
    await page.locator('#login-form').waitFor();
    await page.fill('#login-email', EMAIL);
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-form button[type=submit]');

    await page.locator('#tool-call-empty:not([hidden])').waitFor();
    expect(await page.textContent('#tool-call-empty')).toMatch(/^No tool calls yet\. When the agent uses a tool/);
    expect(await page.locator('#tool-call-table').isHidden()).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/console-empty-tool-calls.png` });

    await page.click('nav a[data-view=conversations]');
    await page.locator('#conversation-empty:not([hidden])').waitFor();
    expect(await page.textContent('#conversation-empty')).toMatch(/^No conversations yet\. They appear here when someone writes/);
    expect(await page.locator('#conversation-table').isHidden()).toBe(true);

    await page.click('nav a[data-view=stats]');
    await page.locator('#stats figure.chart').first().waitFor();
    expect(await page.$$eval('#stats .chart-empty', (nodes) => nodes.map((node) => node.textContent))).toEqual([
      'No messages in this window.',
      'No tool calls in this window.',
      'No tool errors in this window.',
      'No answered turns in this window.',
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/console-empty-overview.png`, fullPage: true });
  });

  it('names people by channel in the tool calls, and says when filters match nothing', async () => {
    await seed();
    await page.click('nav a[data-view=tool-calls]');
    await page.locator('#tool-call-table tbody tr[data-id]').first().waitFor();
    expect(await page.locator('#tool-call-empty').isHidden()).toBe(true);
    const rows = await rowsOf('#tool-call-table');
    expect(rows.map((row) => [row.id, row.cells[6]])).toEqual([
      [ids.carolCall, 'SMS ***67'],
      [ids.daveCall, 'SMS ***67'],
    ]);
    // The cell is a link with the channel's icon, to the person of that row's conversation.
    const link = page.locator(`#tool-call-table tr[data-id="${ids.carolCall}"] a.person`);
    expect(await link.getAttribute('href')).toBe(`#/people/${people.carolSms!.id}`);
    expect(await link.locator('svg.channel-icon.ch-sms').count()).toBe(1);
    await page.screenshot({ path: `${ARTIFACTS}/console-tool-calls.png` });

    await page.selectOption('#tool-call-filters select[name=status]', 'refused');
    await page.click('#tool-call-filters button[type=submit]');
    await page.locator('#tool-call-empty:not([hidden])').waitFor();
    expect(await page.textContent('#tool-call-empty')).toMatch(/^No tool calls match these filters\./);
    await page.screenshot({ path: `${ARTIFACTS}/console-tool-calls-no-match.png` });
    await page.click('#tool-call-filters button[type=reset]');
    await expect.poll(async () => (await rowsOf('#tool-call-table')).length).toBe(2);
  });

  it('opens a person from a row: their conversations on SMS and WhatsApp, nobody else', async () => {
    await page.click(`#tool-call-table tr[data-id="${ids.carolCall}"] a.person`);
    await page.locator('#view-person:not([hidden]) #person-table tbody tr[data-id]').first().waitFor();
    // The link opened the person, not the row's drawer.
    expect(await page.locator('#drawer').isHidden()).toBe(true);
    expect(page.url()).toContain(`#/people/${people.carolSms!.id}`);
    expect(await page.textContent('#person-head .person-name')).toBe('Phone ***67');
    expect(await page.$$eval('#person-head .person-channels li', (items) => items.map((item) => item.getAttribute('data-channel')))).toEqual(['sms', 'whatsapp-cloud']);
    const rows = await rowsOf('#person-table');
    // Dave's number ends alike, and is not Carol.
    expect(rows.map((row) => [row.id, row.cells[1], row.cells[2], row.cells[5]])).toEqual([
      [people.carolSms!.id, 'sms', 'SMS ***67', 'ok'],
      [people.carolWhatsApp!.id, 'whatsapp-cloud', 'WhatsApp ***67', 'ok'],
    ]);
    expect(await page.locator('nav a[data-view=conversations]').getAttribute('aria-current')).toBe('page');
    expect(await page.textContent('#view-person')).not.toContain('4155550167');
    await page.screenshot({ path: `${ARTIFACTS}/console-person.png` });

    // A row opens that conversation, whose transcript links back to the person.
    await page.click(`#person-table tr[data-id="${people.carolWhatsApp!.id}"] td:first-child`);
    await page.locator('#view-transcript:not([hidden]) #transcript .bubble').first().waitFor();
    expect(await page.getAttribute('#transcript .person-line a.person', 'href')).toBe(`#/people/${people.carolWhatsApp!.id}`);
    expect(await page.textContent('#transcript .person-line')).toBe('WhatsApp ***67 · all conversations of this person');
    await page.screenshot({ path: `${ARTIFACTS}/console-transcript-person.png` });
  });

  it('opens a web visitor from the conversations and the inbox', async () => {
    await page.goto(`${server.url}/admin#/conversations`);
    await page.locator('#conversation-table tbody tr[data-id]').first().waitFor();
    const rows = await rowsOf('#conversation-table');
    expect(rows.map((row) => [row.id, row.cells[2], row.cells[5]])).toEqual([
      [people.visitor!.id, 'Web visitor 3f2a…', 'ok'],
      [people.carolSms!.id, 'SMS ***67', 'ok'],
      [people.dave!.id, 'SMS ***67', 'error'],
      [people.carolWhatsApp!.id, 'WhatsApp ***67', 'ok'],
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/console-conversations.png` });

    await page.goto(`${server.url}/admin#/inbox`);
    await page.locator('#inbox-table tbody tr[data-id]').first().waitFor();
    expect((await rowsOf('#inbox-table'))[0]!.cells[0]).toBe('Web visitor 3f2a…');
    await page.focus(`#inbox-table tr[data-id="${people.visitor!.id}"] a.person`);
    await page.keyboard.press('Enter');
    await page.locator('#view-person:not([hidden]) #person-table tbody tr[data-id]').first().waitFor();
    expect(await page.textContent('#person-head .person-name')).toBe('Web visitor 3f2a…');
    expect((await rowsOf('#person-table')).map((row) => row.id)).toEqual([people.visitor!.id]);
    // Enter on the link opened the person only, not the inbox row's conversation.
    expect(page.url()).toContain(`#/people/${people.visitor!.id}`);
  });

  it('puts readable charts first on the overview, with one point per minute of the last hour', async () => {
    await page.goto(`${server.url}/admin#/stats`);
    await page.locator('#stats figure.chart canvas').first().waitFor();
    // Charts above the figures and tables.
    const order = await page.evaluate(() => {
      const top = (selector: string) => document.querySelector(selector)!.getBoundingClientRect().top;
      return { charts: top('#stats .charts'), cards: top('#stats .cards') };
    });
    expect(order.charts).toBeLessThan(order.cards);

    await page.selectOption('#stats-filters select[name=window]', '1');
    await expect.poll(() => page.textContent('#stats-bucket')).toBe('one point per 1 min');
    await page.locator('#stats figure.chart canvas').first().waitFor();
    const charts = await readCharts();
    expect(charts.map((chart) => chart.key)).toEqual(['messages', 'toolCalls', 'toolErrors', 'p95LatencyMs']);
    for (const chart of charts) {
      // Sixty minutes, and the one the window's start falls in when it is not on a whole minute.
      expect(chart.points, chart.key).toBeGreaterThanOrEqual(60);
      expect(chart.points, chart.key).toBeLessThanOrEqual(61);
      // Axis text at 11 px or more, drawn at the page's own scale (the canvas is not shrunk to fit).
      expect(Math.min(...chart.fonts!), chart.key).toBeGreaterThanOrEqual(11);
      expect(Math.abs(chart.cssWidth! - chart.plotWidth!), chart.key).toBeLessThanOrEqual(1);
      expect(chart.plotWidth, chart.key).toBeGreaterThan(400);
    }
    // Seven turns in the last hour, in seven different minutes.
    expect(charts[0]!.busy).toBe(7);
    await page.screenshot({ path: `${ARTIFACTS}/console-overview.png`, fullPage: true });
    await page.hover('#stats figure.chart[data-key="messages"] .u-over', { position: { x: 200, y: 100 } });
    await page.screenshot({ path: `${ARTIFACTS}/console-overview-hover.png`, clip: { x: 0, y: 0, width: 1280, height: 400 } });
  });

  it('keeps the status of every row in view on a phone (390×844)', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const check = async (hash: string, table: string, statusCell: number, shot: string) => {
      // A fresh page each time: rows read are the rows of this view, drawn once.
      await page.goto('about:blank');
      await page.goto(`${server.url}/admin${hash}`);
      await page.locator(`${table} tbody tr[data-id]`).first().waitFor();
      const layout = await page.$$eval(
        `${table} tbody tr[data-id]`,
        (rows, index) =>
          rows.map((row) => {
            const cell = row.querySelectorAll('td')[index]!.getBoundingClientRect();
            return { left: cell.left, right: cell.right, width: cell.width, height: cell.height };
          }),
        statusCell,
      );
      for (const cell of layout) {
        expect(cell.width, `${table} status`).toBeGreaterThan(0);
        expect(cell.height, `${table} status`).toBeGreaterThan(0);
        expect(cell.left, `${table} status`).toBeGreaterThanOrEqual(0);
        expect(cell.right, `${table} status`).toBeLessThanOrEqual(390);
      }
      const overflow = await page.evaluate((selector) => {
        const wrap = document.querySelector(selector)!.closest('.table-wrap')!;
        return { page: document.documentElement.scrollWidth - window.innerWidth, table: wrap.scrollWidth - wrap.clientWidth };
      }, table);
      expect(overflow, table).toEqual({ page: 0, table: 0 });
      await page.screenshot({ path: `${ARTIFACTS}/${shot}`, fullPage: true });
    };
    await check('#/tool-calls', '#tool-call-table', 2, 'console-tool-calls-mobile.png');
    await check('#/conversations', '#conversation-table', 5, 'console-conversations-mobile.png');
    await check(`#/people/${people.carolSms!.id}`, '#person-table', 5, 'console-person-mobile.png');
    await check('#/inbox', '#inbox-table', 2, 'console-inbox-mobile.png');

    await page.goto(`${server.url}/admin#/stats`);
    await page.locator('#stats figure.chart canvas').first().waitFor();
    const charts = await readCharts();
    for (const chart of charts) {
      expect(chart.plotWidth, chart.key).toBeLessThanOrEqual(390);
      expect(Math.min(...chart.fonts!), chart.key).toBeGreaterThanOrEqual(11);
    }
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBe(0);
    await page.screenshot({ path: `${ARTIFACTS}/console-overview-mobile.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('brings the table back when a live call arrives in a list that was empty', async () => {
    await page.goto(`${server.url}/admin#/tool-calls`);
    await page.locator('#tool-call-table tbody tr[data-id]').first().waitFor();
    await expect.poll(() => page.textContent('#live-status')).toBe('live');
    // No web call yet: the filtered list is empty, and says so.
    await page.fill('#tool-call-filters input[name=channel]', 'web');
    await page.click('#tool-call-filters button[type=submit]');
    await page.locator('#tool-call-empty:not([hidden])').waitFor();
    expect(await page.locator('#tool-call-table').isHidden()).toBe(true);

    const connected = await connectClient(server.url);
    visitor = connected.socket;
    provider.push({ toolCalls: [{ id: 'call_live', name: 'get_order_status', arguments: { orderId: 'ord_9' } }] }, { text: 'Shipped.' });
    await sendAndCollect(visitor, 'where is my order?');
    await page.locator('#tool-call-table tbody tr[data-id]').first().waitFor();
    expect(await page.locator('#tool-call-empty').isHidden()).toBe(true);
    const [row] = await rowsOf('#tool-call-table');
    expect([row!.cells[1], row!.cells[5], row!.cells[6]]).toEqual(['get_order_status', 'web', `Web visitor ${connected.session.conversationId.slice(0, 4)}…`]);
    await page.screenshot({ path: `${ARTIFACTS}/console-tool-calls-live.png` });
  });

  it('serves the site icon to the console and the demo page, with no 404 and no CSP violation anywhere', async () => {
    const icon = await page.request.get(`${server.url}/favicon.ico`);
    expect(icon.status()).toBe(200);
    expect(icon.headers()['content-type']).toBe('image/x-icon');
    await page.goto(`${server.url}/`);
    await page.waitForLoadState('networkidle');
    expect(failures).toEqual([]);
    expect(policyViolations).toEqual([]);
  });
});

interface ChartReading {
  key: string;
  points?: number;
  busy?: number;
  fonts?: number[];
  cssWidth?: number;
  plotWidth?: number;
  empty?: string;
}

/** What each chart on the overview holds, read from its uPlot instance (charts.js keeps them). */
function readCharts(): Promise<ChartReading[]> {
  // A string, not a function: the test runner would rewrite a function's import().
  return page.evaluate(`(async () => {
    const { chartOf } = await import('/admin/charts.js');
    return [...document.querySelectorAll('#stats figure.chart')].map((figure) => {
      const plot = chartOf(figure);
      if (!plot) return { key: figure.dataset.key, empty: figure.querySelector('.chart-empty')?.textContent };
      const canvas = figure.querySelector('canvas');
      return {
        key: figure.dataset.key,
        points: plot.data[0].length,
        busy: plot.data[1].filter((value) => value !== null && value > 0).length,
        fonts: plot.axes.map((axis) => axis.font[2]),
        cssWidth: canvas.getBoundingClientRect().width,
        plotWidth: plot.width,
      };
    });
  })()`);
}
