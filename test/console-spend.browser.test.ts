import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/database.js';
import { messages } from '../src/store/schema.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { createAdmin, seedConversation, type SeedConversation } from './helpers/admin-seed.js';
import { launchChromium } from './helpers/browser.js';
import { connectClient, sendAndCollect, startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * The Spend view of the admin console, in Debian's headless Chromium against the real server, and
 * the admin route behind it (GET /api/admin/spend): an empty state first, then spend per day,
 * provider, model, channel and conversation from a live turn (priced at MODEL_PRICES) and turns
 * stored earlier; a conversation's own spend in its transcript. The steps share one page, in order.
 */

const ARTIFACTS = 'test-artifacts';
const EMAIL = 'spend@example.com';
const PASSWORD = 'correct horse battery staple';
const ADMIN_TOKEN = 'spend-test-admin-token-0123456789';
const DAY = 86_400_000;

let openai: FakeProviderServer;
let server: RunningApp;
let browser: Browser;
let page: Page;
let liveConversationId: string;
let slackConversation: SeedConversation;
let whatsappConversation: SeedConversation;

/** A turn as the pipeline stores it, with its reply's cost (null: an unpriced model). */
async function seedPricedTurn(
  db: Db,
  conversation: SeedConversation,
  turn: { at: Date; provider: string | null; model: string | null; costUsd: number | null; inputTokens: number | null; outputTokens: number | null; fallbackReason?: string },
) {
  const userMessageId = randomUUID();
  await db.insert(messages).values([
    {
      id: userMessageId,
      conversationId: conversation.id,
      role: 'user',
      text: 'a question',
      status: 'answered',
      provider: turn.provider,
      model: turn.model,
      fallbackReason: turn.fallbackReason ?? null,
      createdAt: turn.at,
      updatedAt: turn.at,
    },
    {
      id: randomUUID(),
      conversationId: conversation.id,
      role: 'assistant',
      text: 'an answer',
      status: 'answered',
      replyToId: userMessageId,
      provider: turn.provider,
      model: turn.model,
      inputTokens: turn.inputTokens,
      outputTokens: turn.outputTokens,
      costUsd: turn.costUsd,
      createdAt: new Date(turn.at.getTime() + 1),
      updatedAt: turn.at,
    },
  ]);
}

const api = async (path: string) => {
  const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: response.status, body: (await response.json()) as any };
};

const tableOf = (target: Page, caption: string) =>
  target.$$eval(
    '.spend-card',
    (cards, wanted) => {
      const card = cards.find((node) => node.querySelector('h3')?.textContent === wanted);
      return [...(card?.querySelectorAll('tbody tr') ?? [])].map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? ''));
    },
    caption,
  );

async function fullPageShot(name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  openai = await startFakeOpenAIServer();
  server = await startTestApp({
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: openai.url,
    LLM_PROVIDERS: 'openai',
    // A price that makes the live turn's cost easy to read: 1200 in, 300 out → $0.36.
    MODEL_PRICES: JSON.stringify({ 'openai/gpt-4o-mini': { input: 150, output: 600 } }),
    BUDGET_USER_DAILY_USD: '5',
    BUDGET_CONVERSATION_USD: '20',
    ADMIN_TOKEN,
  });
  await createAdmin(server.app.database.db, EMAIL, PASSWORD);
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on('pageerror', (error) => console.error('[browser]', error.message));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await openai?.close();
});

describe('the spend API', () => {
  it('validates its range and answers 401 without credentials', async () => {
    expect((await fetch(`${server.url}/api/admin/spend`)).status).toBe(401);
    const reversed = await api('/api/admin/spend?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z');
    expect(reversed).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload', message: expect.stringContaining('from') } } });
    expect((await api('/api/admin/spend?from=yesterday')).body.error.message).toContain('from');
    expect((await api('/api/admin/spend?from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z')).body.error.message).toContain('366 days');
    expect((await api('/api/admin/spend?limit=0')).status).toBe(400);
    expect((await api('/api/admin/spend?provider=openai')).status).toBe(400);
  });

  it('answers an empty window with zeros, the prices in effect and the budgets', async () => {
    const { status, body } = await api('/api/admin/spend');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      total: { costUsd: 0, turns: 0, inputTokens: 0, outputTokens: 0 },
      byModel: [],
      byProvider: [],
      byChannel: [],
      byDay: [],
      topConversations: [],
      unpriced: [],
      budgetRefusals: [],
      prices: [{ provider: 'openai', model: 'gpt-4o-mini', inputPerMillionUsd: 150, outputPerMillionUsd: 600 }],
      budgets: { conversationUsd: 20, userDailyUsd: 5, globalDailyUsd: null },
    });
  });
});

describe('the Spend view', () => {
  it('shows an empty state before any priced model call', async () => {
    await page.goto(`${server.url}/admin`);
    await page.fill('#login-email', EMAIL);
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.locator('#console').waitFor();
    await page.click('nav a[data-view="spend"]');
    await page.locator('#spend-empty').waitFor();
    expect(await page.textContent('#spend-empty')).toContain('No priced model calls in this window');
    expect(await tableOf(page, 'Prices in effect (USD per million tokens)')).toEqual([['openai', 'gpt-4o-mini', '$150.00', '$600.00']]);
    expect(await page.getAttribute('nav a[data-view="spend"]', 'aria-current')).toBe('page');
    await fullPageShot('console-spend-empty');
  });

  it('shows spend per day, provider, model, channel and conversation', async () => {
    // A live turn, priced as it happens.
    openai.push({ text: 'Here you go.', usage: { inputTokens: 1200, outputTokens: 300 } });
    const { socket, session } = await connectClient(server.url);
    liveConversationId = session.conversationId;
    expect((await sendAndCollect(socket, 'hello')).reply.done.text).toBe('Here you go.');
    socket.disconnect();

    // Turns stored earlier in the window, on other channels and providers.
    const db = server.app.database.db;
    const now = Date.now();
    const sms = await seedConversation(db, 'sms', '+14155550167', new Date(now - 3 * DAY));
    slackConversation = await seedConversation(db, 'slack', 'T024BE7LD:U024BE7LH', new Date(now - 2 * DAY));
    const whatsapp = await seedConversation(db, 'whatsapp-cloud', '14155550199', new Date(now - DAY));
    whatsappConversation = whatsapp;
    for (let day = 1; day <= 12; day++) {
      await seedPricedTurn(db, sms, { at: new Date(now - day * DAY), provider: 'openai', model: 'gpt-4o-mini', costUsd: 0.1 * day, inputTokens: 1000 * day, outputTokens: 200 * day });
    }
    await seedPricedTurn(db, slackConversation, { at: new Date(now - 2 * DAY), provider: 'anthropic', model: 'claude-sonnet-5-5', costUsd: 2.5, inputTokens: 900_000, outputTokens: 70_000 });
    await seedPricedTurn(db, slackConversation, { at: new Date(now - 5 * DAY), provider: 'anthropic', model: 'claude-sonnet-5-5', costUsd: 1.25, inputTokens: 450_000, outputTokens: 35_000 });
    await seedPricedTurn(db, whatsapp, { at: new Date(now - DAY / 2), provider: 'groq', model: 'llama-3.3-70b-versatile', costUsd: 0.05, inputTokens: 60_000, outputTokens: 8_000 });
    // An unpriced model, and a turn a budget refused (no model call, no cost).
    await seedPricedTurn(db, whatsapp, { at: new Date(now - DAY), provider: 'openai', model: 'gpt-legacy', costUsd: null, inputTokens: 5_000, outputTokens: 400 });
    await seedPricedTurn(db, whatsapp, { at: new Date(now - DAY / 4), provider: null, model: null, costUsd: null, inputTokens: null, outputTokens: null, fallbackReason: 'budget:user_daily' });

    const smsTotal = Array.from({ length: 12 }, (_, index) => 0.1 * (index + 1)).reduce((sum, value) => sum + value, 0);
    const total = 0.36 + smsTotal + 2.5 + 1.25 + 0.05;
    const { body } = await api('/api/admin/spend');
    expect(body.total.costUsd).toBeCloseTo(total, 10);
    expect(body.total.turns).toBe(1 + 12 + 2 + 1);
    expect(body.byProvider.map((row: any) => [row.provider, Number(row.costUsd.toFixed(6)), row.turns])).toEqual([
      ['openai', Number((0.36 + smsTotal).toFixed(6)), 13],
      ['anthropic', 3.75, 2],
      ['groq', 0.05, 1],
    ]);
    expect(body.byChannel.map((row: any) => row.channel)).toEqual(['sms', 'slack', 'web', 'whatsapp-cloud']);
    expect(body.topConversations[0]).toMatchObject({ id: sms.id, channel: 'sms', user: 'SMS ***67', turns: 12 });
    expect(body.topConversations.map((row: any) => row.id)).toContain(liveConversationId);
    expect(body.unpriced).toEqual([{ provider: 'openai', model: 'gpt-legacy', turns: 1, inputTokens: 5000, outputTokens: 400 }]);
    expect(body.budgetRefusals).toEqual([{ scope: 'user_daily', count: 1 }]);
    expect(body.byDay.at(-1).day).toBe(new Date().toISOString().slice(0, 10));

    await page.click('#spend-filters button[type=submit]');
    await page.locator('#spend-total').waitFor();
    expect(await page.textContent('#spend-total')).toBe(`$${total.toFixed(2)}`);
    expect(await tableOf(page, 'Per provider')).toEqual([
      ['openai', `$${(0.36 + smsTotal).toFixed(2)}`, '', '13', '79,200 / 15,900'],
      ['anthropic', '$3.75', '', '2', '1,350,000 / 105,000'],
      ['groq', '$0.0500', '', '1', '60,000 / 8,000'],
    ]);
    const models = await tableOf(page, 'Per model');
    expect(models.map((row) => row.slice(0, 2))).toEqual([
      ['openai', 'gpt-4o-mini'],
      ['anthropic', 'claude-sonnet-5-5'],
      ['groq', 'llama-3.3-70b-versatile'],
    ]);
    expect((await tableOf(page, 'Per channel')).map((row) => row[0])).toEqual(['sms', 'slack', 'web', 'whatsapp-cloud']);
    const people = await tableOf(page, 'Costliest conversations');
    expect(people[0]!.slice(0, 3)).toEqual(['SMS ***67', 'sms', `$${smsTotal.toFixed(2)}`]);
    // A column for every UTC day the last 30 × 24 hours touch (31), today's last; the budgets and
    // what they refused; the unpriced model named.
    expect(await page.$$eval('.spend-column', (columns) => columns.length)).toBe(31);
    expect(await page.$eval('.spend-column:last-child', (column) => (column as HTMLElement).dataset.day)).toBe(new Date().toISOString().slice(0, 10));
    expect(await tableOf(page, 'Budgets')).toEqual([
      ['per conversation', '$20.00', '0'],
      ['per person per day (UTC)', '$5.00', '1'],
      ['everyone per day (UTC)', 'no limit', '0'],
    ]);
    expect(await page.textContent('.unpriced')).toBe('Not priced in this window: openai/gpt-legacy (1 turn, 5,400 tokens)');
    // Numbers are right-aligned and the bars have their widths (set through the CSSOM, which the CSP allows).
    const widths = await page.$$eval('.spend-card:first-of-type .spend-bar-fill', (bars) => bars.map((bar) => (bar as HTMLElement).style.width));
    expect(widths[0]).toBe('100%');
    await fullPageShot('console-spend');
  });

  it('shows a window’s spend only, and opens a conversation with its own spend', async () => {
    await page.selectOption('#spend-filters select[name=window]', '1');
    await page.click('#spend-filters button[type=submit]');
    // The last 24 hours: the live turn and the groq turn.
    await expect.poll(() => page.textContent('#spend-total')).toBe('$0.4100');

    await page.selectOption('#spend-filters select[name=window]', '30');
    await page.click('#spend-filters button[type=submit]');
    await expect.poll(() => page.textContent('#spend-total')).not.toBe('$0.4100');
    const row = page.locator('.spend-card', { hasText: 'Costliest conversations' }).locator('tbody tr', { hasText: 'Slack' });
    await row.click();
    await expect.poll(() => page.evaluate(() => location.hash)).toBe(`#/conversations/${slackConversation.id}`);
    await page.locator('.conversation-cost').waitFor();
    expect(await page.textContent('.conversation-cost')).toBe('spent $3.75');
    const replyMeta = await page.$$eval('#transcript .bubble.assistant header', (headers) => headers.map((header) => header.textContent ?? ''));
    expect(replyMeta.some((text) => text.includes('$2.50'))).toBe(true);

    // A message a budget kept from the model says which budget, in its transcript.
    await page.goto(`${server.url}/admin#/conversations/${whatsappConversation.id}`);
    await page.locator('.budget-reason').first().waitFor();
    expect(await page.textContent('.budget-reason')).toBe('budget spent: user daily');
    await fullPageShot('console-spend-transcript');
  });
});
