import { mkdir } from 'node:fs/promises';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminStore } from '../src/admin/admin-store.js';
import { hashPassword } from '../src/admin/passwords.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { launchChromium } from './helpers/browser.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';

/**
 * Human handoff from the operator's side, in Debian's headless Chromium against the real
 * server: the model calls request_human for a socket.io visitor, the conversation appears in
 * the Inbox live, an operator takes it over, answers with Enter, sees the visitor's next
 * message arrive (no model call), adds an internal note and releases it; a viewer gets no
 * controls. The steps share one operator page, so they run in order.
 */

const ARTIFACTS = 'test-artifacts';
const PASSWORD = 'correct horse battery staple';
const OPERATOR = { email: 'dana@example.com', name: 'Dana Ops' };
const VIEWER = { email: 'vic@example.com', name: 'Vic Viewer' };
const MAX_CHARS = 300;
const HOSTILE = 'order 1234 <img src=x onerror="window.__xss=1"> thanks';

let provider: FakeProviderServer;
let server: RunningApp;
let browser: Browser;
let operatorContext: BrowserContext;
let page: Page;
let visitor: ClientSocket;
let conversationId: string;
/** Every event the visitor's socket received, in order. */
const visitorEvents: { event: string; payload: any }[] = [];

const eventsNamed = (name: string) => visitorEvents.filter((entry) => entry.event === name).map((entry) => entry.payload);

async function logIn(target: Page, email: string) {
  await target.goto(`${server.url}/admin`);
  await target.locator('#login-form').waitFor();
  await target.fill('#login-email', email);
  await target.fill('#login-password', PASSWORD);
  await target.click('#login-form button[type=submit]');
  await target.locator('#console:not([hidden])').waitFor();
  await expect.poll(() => target.textContent('#live-status')).toBe('live');
}

const inboxRows = (target: Page) =>
  target.$$eval('#inbox-table tbody tr[data-id]', (rows) =>
    rows.map((row) => ({ id: (row as HTMLElement).dataset.id!, cells: [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '') })),
  );

/** A full-page shot from the top (the sticky top bar would otherwise land mid-image). */
async function fullPageShot(target: Page, name: string) {
  await target.evaluate(() => window.scrollTo(0, 0));
  await target.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
}

const bubbles = (target: Page) =>
  target.$$eval('#transcript .bubble', (nodes) =>
    nodes.map((node) => ({
      author: (node as HTMLElement).dataset.author,
      name: node.querySelector('.author-name')?.textContent ?? null,
      held: node.classList.contains('held'),
      text: node.querySelector('.message-text')?.textContent ?? '',
    })),
  );

async function adminApi(path: string) {
  const cookies = await operatorContext.cookies(server.url);
  const response = await fetch(`${server.url}${path}`, { headers: { cookie: cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ') } });
  expect(response.status).toBe(200);
  return (await response.json()) as any;
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  provider = await startFakeOpenAIServer();
  server = await startTestApp({
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: provider.url,
    LLM_PROVIDERS: 'openai',
    MAX_MESSAGE_CHARS: String(MAX_CHARS),
    // No "everyone is busy" notice in the middle of the steps.
    HANDOFF_WAIT_NOTICE_S: '0',
  });
  const store = new AdminStore(server.app.database.db);
  const hash = await hashPassword(PASSWORD);
  await store.createUser(OPERATOR.email, hash, { role: 'operator', name: OPERATOR.name });
  await store.createUser(VIEWER.email, hash, { role: 'viewer', name: VIEWER.name });

  browser = await launchChromium();
  operatorContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await operatorContext.newPage();
  page.on('pageerror', (error) => console.error('[browser]', error.message));
});

afterAll(async () => {
  visitor?.disconnect();
  await browser?.close();
  await server?.stop();
  await provider?.close();
});

describe('handoff console in a real browser', () => {
  it('lands an operator on an empty inbox', async () => {
    await logIn(page, OPERATOR.email);
    await page.locator('#view-inbox:not([hidden])').waitFor();
    await expect.poll(() => page.locator('#inbox-empty').isVisible()).toBe(true);
    expect(await page.textContent('#inbox-empty')).toContain('Nobody is waiting');
    expect(await page.locator('#inbox-count').isHidden()).toBe(true);
  });

  it('shows a visitor who asked for a person in the inbox live, with a count', async () => {
    const connected = await connectClient(server.url);
    visitor = connected.socket;
    conversationId = connected.session.conversationId;
    visitor.onAny((event, payload) => visitorEvents.push({ event, payload }));

    provider.push({ toolCalls: [{ id: 'call_human', name: 'request_human', arguments: { reason: 'wants a refund' } }] });
    const { reply } = await sendAndCollect(visitor, 'I want to talk to a real person');
    expect(reply.done.toolCalls).toEqual([{ name: 'request_human', status: 'ok' }]);
    await expect.poll(() => eventsNamed('handoff')).toEqual([{ status: 'waiting' }]);

    // No reload: the feed's handoff event brings the row in.
    await expect.poll(async () => (await inboxRows(page)).map((row) => row.id)).toEqual([conversationId]);
    const [row] = await inboxRows(page);
    const [person, channel, status, reason, summary, waited, operator] = row!.cells;
    // A web visitor has no phone number or email: named by the start of the id the widget gave them.
    expect(person).toBe(`Web visitor ${conversationId.slice(0, 4)}…`);
    expect([channel, status, reason, summary, operator]).toEqual(['web', 'waiting', 'asked the agent', 'wants a refund', 'nobody yet']);
    expect(waited).toMatch(/^\d+ s$/);
    expect(await page.textContent('#inbox-count')).toBe('1');
    expect(await page.locator('#inbox-empty').isHidden()).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/handoff-inbox.png` });
  });

  it('opens the conversation by keyboard and takes it over', async () => {
    await page.focus(`#inbox-table tbody tr[data-id="${conversationId}"]`);
    await page.keyboard.press('Enter');
    await page.locator('#view-transcript:not([hidden]) #transcript .bubble').first().waitFor();
    expect(await page.textContent('#handoff-state')).toContain('wants a refund');
    expect(await page.locator('#takeover').textContent()).toBe('Take over');
    expect(await page.locator('#reply-text').isDisabled()).toBe(true);
    expect(await page.textContent('#reply-hint')).toBe('Take over to reply.');
    const before = await bubbles(page);
    expect(before.map((bubble) => bubble.author)).toEqual(['user', 'agent']);

    await page.click('#takeover');
    await expect.poll(() => eventsNamed('handoff').at(-1)).toEqual({ status: 'active', operatorName: OPERATOR.name });
    await expect.poll(() => page.locator('#reply-text').isEnabled()).toBe(true);
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('reply-text');
    expect(await page.locator('#takeover').isHidden()).toBe(true);
    expect(await page.textContent('#handoff-state')).toContain(OPERATOR.name);
    await expect.poll(() => page.locator('#inbox-count').isHidden()).toBe(true);
  });

  it('sends a reply with Enter (Shift+Enter is a new line), labelled with the operator name', async () => {
    await page.keyboard.type('Hi, I am Dana from the team.');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('Let me look at your refund.');
    expect(eventsNamed('reply.done').filter((done) => done.author === 'operator')).toEqual([]);
    await page.keyboard.press('Enter');

    const text = 'Hi, I am Dana from the team.\nLet me look at your refund.';
    await expect.poll(() => eventsNamed('reply.done').filter((done) => done.author === 'operator')).toEqual([
      expect.objectContaining({ author: 'operator', operatorName: OPERATOR.name, text }),
    ]);
    await expect.poll(() => page.inputValue('#reply-text')).toBe('');
    await expect.poll(async () => (await bubbles(page)).at(-1)).toEqual({ author: 'operator', name: OPERATOR.name, held: false, text });
  });

  it("shows the visitor's next message live, held for the operator, without a model call", async () => {
    const modelCalls = provider.requests.length;
    const ack = await visitor.timeout(5000).emitWithAck('message', { text: HOSTILE, clientMessageId: 'c-held-1' });
    expect(ack).toMatchObject({ ok: true });

    await expect.poll(async () => (await bubbles(page)).at(-1)).toEqual({ author: 'user', name: null, held: true, text: HOSTILE });
    expect(await page.locator('#transcript img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    // Give a (wrongly) dispatched turn time to reach the model before concluding it never will.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(provider.requests.length).toBe(modelCalls);
  });

  it('shows an API error readably and keeps the draft', async () => {
    const tooLong = 'x'.repeat(MAX_CHARS + 20);
    await page.fill('#reply-text', tooLong);
    await page.focus('#reply-text');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#reply-error')).toBe(`Not sent: reply is ${MAX_CHARS + 20} characters; the limit is ${MAX_CHARS}`);
    expect(await page.getAttribute('#reply-error', 'title')).toBe('413 message_too_long');
    expect(await page.inputValue('#reply-text')).toBe(tooLong);
    await page.fill('#reply-text', '');
  });

  it('adds an internal note that the visitor never receives', async () => {
    const seen = visitorEvents.length;
    await page.fill('#note-text', 'Refund over the limit: ask finance before promising anything.');
    await page.click('#note-form button[type=submit]');
    await expect.poll(() => page.$$eval('#notes-list .note .message-text', (nodes) => nodes.map((node) => node.textContent))).toEqual([
      'Refund over the limit: ask finance before promising anything.',
    ]);
    expect(await page.textContent('#notes-list .note-meta')).toContain(OPERATOR.email);
    expect(await page.textContent('#notes-panel h2')).toContain('internal, never sent');

    const detail = await adminApi(`/api/admin/conversations/${conversationId}`);
    expect(detail.notes).toEqual([expect.objectContaining({ author: OPERATOR.email, text: 'Refund over the limit: ask finance before promising anything.' })]);
    expect(detail.mode).toBe('human');
    expect(detail.handoff).toMatchObject({ status: 'active', operatorName: OPERATOR.name, reason: 'requested' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(visitorEvents.slice(seen)).toEqual([]);
    await fullPageShot(page, 'handoff-conversation');
  });

  it('releases the conversation back to the agent', async () => {
    await page.click('#release');
    await expect.poll(() => eventsNamed('handoff').at(-1)).toEqual({ status: 'released' });
    await expect.poll(() => page.textContent('#handoff-state')).toContain('with the agent');
    expect(await page.locator('#release').isHidden()).toBe(true);
    expect(await page.textContent('#takeover')).toBe('Take over from the agent');
    expect(await page.locator('#reply-text').isDisabled()).toBe(true);
    const detail = await adminApi(`/api/admin/conversations/${conversationId}`);
    expect(detail.mode).toBe('agent');
    expect(detail.handoff).toBeNull();

    await page.goto(`${server.url}/admin#/inbox`);
    await expect.poll(() => page.locator('#inbox-empty').isVisible()).toBe(true);
  });

  it('takes a conversation straight from the agent: the person gets a notice, shown as a notice', async () => {
    await page.goto(`${server.url}/admin#/conversations/${conversationId}`);
    await page.locator('#transcript .bubble').first().waitFor();
    await page.click('#takeover');
    await expect.poll(() => eventsNamed('reply.done').filter((done) => done.author === 'system').length).toBe(1);
    const [notice] = eventsNamed('reply.done').filter((done) => done.author === 'system');
    await expect.poll(async () => (await bubbles(page)).at(-1)).toEqual({ author: 'system', name: null, held: false, text: notice.text });
    expect(await page.textContent('#transcript .bubble.author-system header')).toContain('notice');
    expect(await page.textContent('#handoff-state')).toContain('taken over');
    await page.screenshot({ path: `${ARTIFACTS}/handoff-notice.png` });
    await page.click('#release');
    await expect.poll(() => page.textContent('#handoff-state')).toContain('with the agent');
  });

  it('gives a viewer the inbox and transcripts but no controls', async () => {
    // Another handoff, so the viewer's inbox has a row.
    provider.push({ toolCalls: [{ id: 'call_human_2', name: 'request_human', arguments: { reason: 'still wants a refund' } }] });
    await sendAndCollect(visitor, 'a person again, please');
    const viewerPage = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    viewerPage.on('pageerror', (error) => console.error('[browser viewer]', error.message));
    await logIn(viewerPage, VIEWER.email);
    await viewerPage.goto(`${server.url}/admin#/inbox`);
    await expect.poll(async () => (await inboxRows(viewerPage)).map((row) => row.id)).toEqual([conversationId]);
    expect(await viewerPage.textContent('#inbox-count')).toBe('1');

    await viewerPage.click(`#inbox-table tbody tr[data-id="${conversationId}"]`);
    await viewerPage.locator('#transcript .bubble').first().waitFor();
    expect((await bubbles(viewerPage)).some((bubble) => bubble.author === 'operator' && bubble.name === OPERATOR.name)).toBe(true);
    expect(await viewerPage.locator('#notes-list .note').count()).toBe(1);
    for (const control of ['#takeover', '#release', '#reply-form', '#reply-text', '#note-form']) {
      expect(await viewerPage.locator(control).isVisible(), control).toBe(false);
    }
    expect(await viewerPage.locator('#view-transcript button:visible').count()).toBe(0);
    expect(await viewerPage.textContent('#handoff-hint')).toContain('viewer');
    await fullPageShot(viewerPage, 'handoff-viewer');
  });

  it('fits a phone screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${server.url}/admin#/conversations/${conversationId}`);
    await page.locator('#transcript .bubble').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await fullPageShot(page, 'handoff-conversation-phone');
    await page.goto(`${server.url}/admin#/inbox`);
    await page.locator('#inbox-table tbody tr[data-id]').first().waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${ARTIFACTS}/handoff-inbox-phone.png` });
  });
});
