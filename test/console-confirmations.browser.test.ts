import { mkdir } from 'node:fs/promises';
import { sql } from 'drizzle-orm';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { createAdmin } from './helpers/admin-seed.js';
import { launchChromium } from './helpers/browser.js';
import { createRefundTool } from './helpers/refund-tool.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Confirmations in the admin console, in Debian's headless Chromium against the real server: a
 * socket.io visitor is asked to confirm refunds and answers; the console shows each held call's
 * question, decision, time and wait in the drawer, the outcome the person was sent as the reply
 * (the agent's question apart, as the prompt), and its row changing status in place, live. The
 * steps share one logged-in page, so they run in order.
 */

const ARTIFACTS = 'test-artifacts';
const EMAIL = 'confirm@example.com';
const PASSWORD = 'correct horse battery staple';

const refund = createRefundTool();
let openai: FakeProviderServer;
let server: RunningApp;
let browser: Browser;
let page: Page;
let visitor: ClientSocket;
let conversationId: string;
const requests: any[] = [];
const ids = { first: '', second: '', declined: '', expired: '', live: '' };

const rows = (target: Page) =>
  target.$$eval('#tool-call-table tbody tr[data-id]', (nodes) =>
    nodes.map((row) => ({ id: (row as HTMLElement).dataset.id!, cells: [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '') })),
  );
const rowOf = async (id: string) => (await rows(page)).find((row) => row.id === id);
const statusCell = async (id: string) => (await rowOf(id))?.cells[2];
const drawerText = (selector: string) => page.textContent(`#drawer ${selector}`);
/** The drawer's definition list as term → description. */
const drawerFields = (selector: string) =>
  page.$$eval(`#drawer ${selector} dt`, (terms) => Object.fromEntries(terms.map((term) => [term.textContent, term.nextElementSibling?.textContent])));

/** The model asks for a refund and, told it waits for the person, asks them to confirm. */
async function askForRefund(amount: number): Promise<string> {
  openai.push({ toolCalls: [{ name: 'issue_refund', arguments: { amount } }] }, { text: `Please confirm: refund ${amount} USD?` });
  const seen = requests.length;
  await sendAndCollect(visitor, `refund ${amount} please`);
  return (await waitFor(() => requests[seen], 'the confirmation request')).confirmationId;
}

const askedAgo = (id: string, seconds: number) =>
  server.app.database.db.execute(sql`update tool_calls set created_at = created_at - make_interval(secs => ${seconds}) where id = ${id}`);
const statusInDb = async (id: string) =>
  ((await server.app.database.db.execute(sql`select status from tool_calls where id = ${id}`)) as unknown as { status: string }[])[0]?.status;

/** Opens the console again: the list as the API reads it now, and a new live feed. */
async function reloadList() {
  await page.reload();
  await page.locator('#tool-call-table tbody tr[data-id]').first().waitFor();
  await expect.poll(() => page.textContent('#live-status')).toBe('live');
}

/** A full-page shot from the top (the sticky top bar would otherwise land mid-image). */
async function fullPageShot(name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  openai = await startFakeOpenAIServer();
  server = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', SENSITIVE_TOOLS: 'issue_refund' }, { extraTools: [refund.tool] });
  await createAdmin(server.app.database.db, EMAIL, PASSWORD);
  const connected = await connectClient(server.url);
  visitor = connected.socket;
  conversationId = connected.session.conversationId;
  visitor.on('confirmation.request', (payload) => requests.push(payload));

  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('pageerror', (error) => console.error('[browser]', error.message));
});

afterAll(async () => {
  refund.release();
  visitor?.disconnect();
  await browser?.close();
  await server?.stop();
  await openai?.close();
});

describe('confirmations in the admin console', () => {
  it('shows a held call waiting: the question, the wait, no outcome yet, and the agent\'s question as the prompt', async () => {
    ids.first = await askForRefund(25);
    await askedAgo(ids.first, 130);

    await page.goto(`${server.url}/admin#/tool-calls`);
    await page.fill('#login-email', EMAIL);
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.locator('#tool-call-table tbody tr[data-id]').first().waitFor();
    await expect.poll(() => page.textContent('#live-status')).toBe('live');
    expect(await statusCell(ids.first)).toBe('pending awaiting the person');

    await page.click(`#tool-call-table tr[data-id="${ids.first}"] td.tool`);
    await page.locator('#drawer:not([hidden]) .confirmation').waitFor();
    expect(await drawerText('.confirm-summary')).toBe('Refund 25 USD to the customer.');
    const fields = await drawerFields('.confirmation');
    expect(fields).toMatchObject({ decision: 'waiting for the person', decided: '—', wait: 'waiting for 2 min' });
    expect(fields.expires).not.toBe('—');
    expect(await drawerText('.reply-pending')).toBe('Nothing sent yet: the call waits for the person to confirm or decline.');
    expect(await page.locator('#drawer .reply-text').count()).toBe(0);
    expect(await drawerText('.prompt-text')).toBe('Please confirm: refund 25 USD?');
    await page.screenshot({ path: `${ARTIFACTS}/console-confirm-pending.png` });
  });

  it('updates the row and the open drawer in place as the person confirms: running, then ok with the outcome as the reply', async () => {
    const before = await rows(page);
    refund.hold();
    const answered = visitor.emitWithAck('confirmation.answer', { confirmationId: ids.first, decision: 'confirm' });

    await expect.poll(() => statusCell(ids.first)).toBe('running confirmed · 2 min');
    await expect.poll(() => drawerText('h2 .badge')).toBe('running');
    expect(await drawerText('.confirm-decision')).toBe('confirmed');
    expect(await drawerText('.reply-pending')).toBe('Confirmed; the call is running. Its outcome is sent when it ends.');

    refund.release();
    expect(await answered).toMatchObject({ ok: true, status: 'ok' });
    await expect.poll(() => statusCell(ids.first)).toBe('ok confirmed · 2 min');
    await expect.poll(() => drawerText('.reply-text')).toBe('Refunded 25 USD.');
    expect(await drawerText('h2 .badge')).toBe('ok');
    const fields = await drawerFields('.confirmation');
    expect(fields).toMatchObject({ decision: 'confirmed', wait: '2 min' });
    expect(fields.decided).not.toBe('—');
    expect(fields).not.toHaveProperty('expires');
    // The question stays, labelled as such, apart from the outcome.
    expect(await drawerText('.prompt-text')).toBe('Please confirm: refund 25 USD?');
    // The same rows: changed in place, none added.
    expect((await rows(page)).map((row) => row.id)).toEqual(before.map((row) => row.id));
    await page.screenshot({ path: `${ARTIFACTS}/console-confirm-confirmed.png` });
    // The drawer's lower half: the outcome as the reply, the question as the prompt.
    await page.$eval('#drawer', (drawer) => (drawer.scrollTop = drawer.scrollHeight));
    await page.screenshot({ path: `${ARTIFACTS}/console-confirm-outcome.png` });
    await page.click('#drawer-close');
  });

  it('moves a row read while running to ok when the call ends (running → ok)', async () => {
    ids.second = await askForRefund(30);
    refund.hold();
    const answered = visitor.emitWithAck('confirmation.answer', { confirmationId: ids.second, decision: 'confirm' });
    await waitFor(async () => (await statusInDb(ids.second)) === 'running', 'the call running');
    // A console opened now reads the row as running from the list.
    await reloadList();
    expect(await statusCell(ids.second)).toMatch(/^running confirmed · \d+ s$/);

    refund.release();
    await answered;
    await expect.poll(() => statusCell(ids.second)).toMatch(/^ok confirmed · \d+ s$/);
    expect((await rows(page)).filter((row) => row.id === ids.second)).toHaveLength(1);
  });

  it('shows a decline and an expiry live, each on its own row, with the outcome as the reply', async () => {
    ids.declined = await askForRefund(60);
    await expect.poll(() => statusCell(ids.declined)).toBe('pending awaiting the person');
    const count = (await rows(page)).length;
    // Asked a while ago (read again, so the row sits where its time puts it).
    await askedAgo(ids.declined, 20);
    await reloadList();
    expect(await visitor.emitWithAck('confirmation.answer', { confirmationId: ids.declined, decision: 'decline' })).toMatchObject({ ok: true, status: 'declined' });
    await expect.poll(() => statusCell(ids.declined)).toMatch(/^declined by the person · 2\d s$/);

    ids.expired = await askForRefund(75);
    await expect.poll(() => statusCell(ids.expired)).toBe('pending awaiting the person');
    await server.app.database.db.execute(sql`update tool_calls set confirmation_expires_at = now() - interval '1 second' where id = ${ids.expired}`);
    await askedAgo(ids.expired, 900);
    await reloadList();
    expect(await server.app.confirmations.expireOverdue()).toBe(1);
    await expect.poll(() => statusCell(ids.expired)).toBe('expired no answer · 15 min');
    expect((await rows(page)).length).toBe(count + 1);
    await page.screenshot({ path: `${ARTIFACTS}/console-confirm-list.png` });

    await page.click(`#tool-call-table tr[data-id="${ids.declined}"] td.tool`);
    await expect.poll(() => drawerText('.reply-text')).toBe('Cancelled: Refund 60 USD to the customer. Nothing was done.');
    expect(await drawerText('.confirm-decision')).toBe('declined');
    await page.screenshot({ path: `${ARTIFACTS}/console-confirm-declined.png` });
    await page.click(`#tool-call-table tr[data-id="${ids.expired}"] td.tool`);
    await expect.poll(() => drawerText('.reply-text')).toBe('This request expired before it was confirmed, so nothing was done: Refund 75 USD to the customer.');
    expect(await drawerText('.confirm-decision')).toBe('expired (no answer)');
    await page.click('#drawer-close');
  });

  it('shows each call\'s confirmation inline in the transcript and marks the outcome messages', async () => {
    await page.goto(`${server.url}/admin#/conversations/${conversationId}`);
    await page.locator('#transcript .inline-call').first().waitFor();
    const chips = await page.$$eval('#transcript .inline-call', (calls) => calls.map((call) => call.querySelector('.confirm')?.textContent));
    expect(chips).toEqual([expect.stringMatching(/^confirmed · 2 min$/), expect.stringMatching(/^confirmed · \d+ s$/), expect.stringMatching(/^by the person · 2\d s$/), 'no answer · 15 min']);
    const outcomes = await page.$$eval('#transcript .bubble', (bubbles) =>
      bubbles.filter((bubble) => bubble.querySelector('.confirm-outcome')).map((bubble) => bubble.querySelector('.message-text')?.textContent),
    );
    expect(outcomes).toEqual([
      'Refunded 25 USD.',
      'Refunded 30 USD.',
      'Cancelled: Refund 60 USD to the customer. Nothing was done.',
      'This request expired before it was confirmed, so nothing was done: Refund 75 USD to the customer.',
    ]);
    await fullPageShot('console-confirm-transcript');

    // A new confirmation shows in the open transcript live.
    ids.live = await askForRefund(90);
    await expect.poll(() => page.locator(`#transcript .inline-call[data-id="${ids.live}"] .confirm`).textContent()).toBe('awaiting the person');
    expect(await visitor.emitWithAck('confirmation.answer', { confirmationId: ids.live, decision: 'confirm' })).toMatchObject({ ok: true, status: 'ok' });
    await expect.poll(() => page.locator(`#transcript .inline-call[data-id="${ids.live}"] .confirm`).textContent()).toMatch(/^confirmed · \d+ s$/);
  });

  it('fits the drawer with a confirmation on a phone screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${server.url}/admin#/tool-calls`);
    await page.locator(`#tool-call-table tr[data-id="${ids.first}"]`).waitFor();
    await page.click(`#tool-call-table tr[data-id="${ids.first}"] td.tool`);
    await page.locator('#drawer:not([hidden]) .confirmation').waitFor();
    const overflow = await page.$eval('#drawer', (drawer) => drawer.scrollWidth - drawer.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${ARTIFACTS}/console-confirm-phone.png` });
  });
});
