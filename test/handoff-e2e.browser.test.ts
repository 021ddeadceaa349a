import { mkdir } from 'node:fs/promises';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminStore } from '../src/admin/admin-store.js';
import { hashPassword } from '../src/admin/passwords.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { launchChromium } from './helpers/browser.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * Human handoff end to end, both people in Debian's headless Chromium against the real
 * server: a visitor in the real widget (the demo page at /) asks for a person, an operator
 * in the admin console takes the conversation over and answers; each sees the other live.
 * Only the widget's documented hooks are used: `data-author` on each message, the
 * `[data-role="author-name"]` of an operator's message and `[data-testid="handoff-status"]`.
 */

const ARTIFACTS = 'test-artifacts';
const PASSWORD = 'correct horse battery staple';
const OPERATOR = { email: 'olga@example.com', name: 'Olga Ops' };
const REPLY = 'Hi, Olga here. I can help with the refund.';

let provider: FakeProviderServer;
let server: RunningApp;
let browser: Browser;
let visitor: Page;
let operator: Page;
let conversationId: string;

interface WidgetMessage {
  author: string | null;
  name: string | null;
  text: string;
}

/** The widget's messages (in its shadow root when it has one). */
const widgetMessages = (page: Page): Promise<WidgetMessage[]> =>
  page.evaluate(() => {
    const host = document.getElementById('switchboard-widget');
    const root: ParentNode = host?.shadowRoot ?? document;
    return [...root.querySelectorAll('[data-author]')].map((row) => ({
      author: row.getAttribute('data-author'),
      name: row.querySelector('[data-role="author-name"]')?.textContent ?? null,
      text: row.textContent ?? '',
    }));
  });

const handoffStatus = (page: Page) => page.getByTestId('handoff-status');

const consoleBubbles = (page: Page) =>
  page.$$eval('#transcript .bubble', (nodes) =>
    nodes.map((node) => ({ author: (node as HTMLElement).dataset.author, held: node.classList.contains('held'), text: node.querySelector('.message-text')?.textContent ?? '' })),
  );

async function sendFromWidget(page: Page, text: string) {
  await page.getByTestId('switchboard-input').fill(text);
  await page.getByTestId('switchboard-input').press('Enter');
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  provider = await startFakeOpenAIServer();
  server = await startTestApp({
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: provider.url,
    LLM_PROVIDERS: 'openai',
    HANDOFF_WAIT_NOTICE_S: '0',
  });
  await new AdminStore(server.app.database!.db).createUser(OPERATOR.email, await hashPassword(PASSWORD), { role: 'operator', name: OPERATOR.name });
  browser = await launchChromium();
  visitor = await (await browser.newContext({ viewport: { width: 1024, height: 760 } })).newPage();
  operator = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  visitor.on('pageerror', (error) => console.error('[widget]', error.message));
  operator.on('pageerror', (error) => console.error('[console]', error.message));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await provider?.close();
});

describe('human handoff between the widget and the console', () => {
  it('puts a widget visitor who asks for a person in the operator\'s inbox, live', async () => {
    await operator.goto(`${server.url}/admin`);
    await operator.fill('#login-email', OPERATOR.email);
    await operator.fill('#login-password', PASSWORD);
    await operator.click('#login-form button[type=submit]');
    await operator.locator('#inbox-empty:not([hidden])').waitFor();
    await expect.poll(() => operator.textContent('#live-status')).toBe('live');

    await visitor.goto(`${server.url}/`);
    await visitor.locator('[data-testid="switchboard-panel"][data-connection="online"]').waitFor({ state: 'attached', timeout: 10_000 });
    provider.push({ toolCalls: [{ name: 'request_human', arguments: { reason: 'wants a refund' } }] });
    await sendFromWidget(visitor, 'I want a refund, can I talk to a person?');

    await expect.poll(async () => (await handoffStatus(visitor).textContent()) ?? '').toContain('waiting');
    await operator.locator('#inbox-table tbody tr[data-id]').waitFor();
    conversationId = (await operator.getAttribute('#inbox-table tbody tr[data-id]', 'data-id'))!;
    expect(await operator.textContent('#inbox-table tbody tr td:nth-child(5)')).toBe('wants a refund');
  });

  it('lets the operator take over and answer; the widget shows who joined and their message by name', async () => {
    await operator.click(`#inbox-table tbody tr[data-id="${conversationId}"]`);
    await operator.click('#takeover');
    await expect.poll(async () => (await handoffStatus(visitor).textContent()) ?? '').toContain(OPERATOR.name);

    await operator.locator('#reply-text:enabled').waitFor();
    await operator.fill('#reply-text', REPLY);
    await operator.press('#reply-text', 'Enter');
    await expect.poll(async () => (await widgetMessages(visitor)).find((message) => message.author === 'operator')).toMatchObject({
      author: 'operator',
      name: OPERATOR.name,
      text: expect.stringContaining(REPLY),
    });
    await visitor.screenshot({ path: `${ARTIFACTS}/handoff-e2e-widget.png` });
  });

  it("shows the visitor's next message in the console live, with no model call", async () => {
    const modelCalls = provider.requests.length;
    await sendFromWidget(visitor, 'Order 1234, paid twice');
    await expect.poll(async () => (await consoleBubbles(operator)).at(-1)).toEqual({ author: 'user', held: true, text: 'Order 1234, paid twice' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(provider.requests.length).toBe(modelCalls);
    await operator.screenshot({ path: `${ARTIFACTS}/handoff-e2e-console.png` });
  });

  it('releases the conversation: the widget leaves the person mode and the agent answers again', async () => {
    await operator.click('#release');
    await expect.poll(() => operator.textContent('#handoff-state')).toContain('with the agent');
    await expect.poll(async () => (await handoffStatus(visitor).textContent()) ?? '').not.toContain(OPERATOR.name);

    const modelCalls = provider.requests.length;
    await sendFromWidget(visitor, 'thanks, one more question');
    await expect.poll(() => provider.requests.length).toBe(modelCalls + 1);
    await expect.poll(async () => (await consoleBubbles(operator)).at(-1)?.author).toBe('agent');
  });
});
