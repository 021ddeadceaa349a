import { mkdir } from 'node:fs/promises';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastUserText, startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { launchChromium } from './helpers/browser.js';
import { expectAnnounced, sendThroughUi, waitForOnline } from './helpers/widget-page.js';
import { listMessages } from './helpers/store-queries.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * Human handoff as the web visitor sees it, in Debian's headless Chromium against the real
 * server: the model hands the conversation over (request_human), an operator takes it, answers
 * and releases it through the admin API (ADMIN_TOKEN, whose operator is "Support"). The steps
 * share one visitor and run in order.
 */

const ARTIFACTS = 'test-artifacts';
const ADMIN_TOKEN = 'admin-token-for-widget-handoff';
const OPERATOR_TEXT = "Hi, I'm from support";

interface ShownMessage {
  author: string;
  status: string;
  name: string | null;
  text: string;
}

describe('chat widget during a human handoff', () => {
  let provider: FakeProviderServer;
  let server: RunningApp;
  let browser: Browser;
  let page: Page;
  let conversationId: string;
  let requestsWhileWithPerson: number;

  const admin = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const response = await fetch(`${server.url}/api/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const json = (await response.json()) as any;
    expect(response.status, JSON.stringify(json)).toBe(200);
    return json;
  };

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    provider = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: provider.url,
      LLM_PROVIDERS: 'openai',
      ADMIN_TOKEN,
      HANDOFF_WAIT_NOTICE_S: '0',
    });
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on('pageerror', (error) => console.error('[browser]', error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await provider?.close();
  });

  it('shows "waiting for a person" and the handoff notice when the model hands the conversation over', async () => {
    await page.goto(`${server.url}/`);
    await waitForOnline(page);
    expect(await page.getByTestId('handoff-status').isHidden()).toBe(true);
    expect(await page.getByTestId('handoff-status').getAttribute('role')).toBe('status');

    provider.push({ toolCalls: [{ name: 'request_human', arguments: { reason: 'wants a person' } }] });
    await sendThroughUi(page, 'I want to talk to a human');

    await waitForHandoff(page, 'waiting');
    expect(await page.getByTestId('handoff-status').textContent()).toContain('waiting for a person');
    await waitForBubble(page, server.config.HANDOFF_NOTICE);
    const shown = await shownMessages(page);
    expect(shown.map(({ author, text }) => ({ author, text }))).toEqual([
      { author: 'user', text: 'I want to talk to a human' },
      // request_human ends the turn with the notice as the turn's own reply.
      { author: expect.stringMatching(/^(agent|system)$/), text: server.config.HANDOFF_NOTICE },
    ]);
    expect(await typingIndicators(page)).toBe(0);
    expect(provider.requests).toHaveLength(1);

    conversationId = (await page.evaluate(() => window.Switchboard.conversationId))!;
    const inbox = await admin('GET', '/handoffs');
    expect(inbox.items[0]).toMatchObject({ conversationId, channel: 'web', status: 'waiting', reason: 'requested' });
    await page.screenshot({ path: `${ARTIFACTS}/widget-handoff-waiting.png` });
  });

  it('shows the operator joining and their message, by name, apart from the assistant\'s', async () => {
    const inbox = await admin('GET', '/handoffs');
    expect(await admin('POST', `/conversations/${inbox.items[0].conversationId}/takeover`)).toMatchObject({ status: 'active', operator: 'Support' });
    await waitForHandoff(page, 'active');
    expect(await page.getByTestId('handoff-status').textContent()).toContain('Support from our team has joined');

    await admin('POST', `/conversations/${conversationId}/messages`, { text: OPERATOR_TEXT });
    await waitForBubble(page, OPERATOR_TEXT);
    expect((await shownMessages(page)).at(-1)).toEqual({ author: 'operator', status: 'done', name: 'Support', text: OPERATOR_TEXT });
    await expectAnnounced(page, `Support: ${OPERATOR_TEXT}`);

    // An operator's bubble does not look like the assistant's.
    const backgrounds = await page.evaluate(() => {
      const root = document.getElementById('switchboard-widget')!.shadowRoot!;
      return [...root.querySelectorAll('[data-testid="switchboard-message"] .bubble')].map((bubble) => getComputedStyle(bubble).backgroundColor);
    });
    const [, notice, operator] = backgrounds;
    expect(operator).not.toBe(notice);
    await page.screenshot({ path: `${ARTIFACTS}/widget-handoff-active.png` });
  });

  it('acks the visitor\'s messages while the person answers, without a typing indicator or a model call', async () => {
    requestsWhileWithPerson = provider.requests.length;
    const ack = await page.evaluate(() => window.Switchboard.send('My order #1234 is late'));
    expect(ack).toEqual({ ok: true, messageId: expect.any(String) });
    // Long enough for a turn to have started, had the server queued one.
    await page.waitForTimeout(500);
    const shown = await shownMessages(page);
    expect(shown.at(-1)).toEqual({ author: 'user', status: 'done', name: null, text: 'My order #1234 is late' });
    expect(shown.filter((m) => m.status === 'streaming')).toEqual([]);
    expect(await typingIndicators(page)).toBe(0);
    expect(provider.requests).toHaveLength(requestsWhileWithPerson);
    expect(await page.getByTestId('switchboard-send').isDisabled()).toBe(true); // only because the input is empty
    await page.getByTestId('switchboard-input').fill('one more');
    expect(await page.getByTestId('switchboard-send').isEnabled()).toBe(true);
    await page.getByTestId('switchboard-input').fill('');

    const stored = await listMessages(server.app.database!.db, conversationId);
    expect(stored.find((row) => row.text === 'My order #1234 is late')?.status).toBe('human');
  });

  it('restores where the handoff stands after a reload (the server re-sends it)', async () => {
    await page.reload();
    await waitForOnline(page);
    await waitForHandoff(page, 'active');
    expect(await page.getByTestId('handoff-status').textContent()).toContain('Support from our team has joined');
    const shown = await shownMessages(page);
    expect(shown.find((m) => m.author === 'operator')).toEqual({ author: 'operator', status: 'done', name: 'Support', text: OPERATOR_TEXT });
    expect(await typingIndicators(page)).toBe(0);
  });

  it('shows, once, what the operator wrote while the visitor was on another page', async () => {
    await page.goto('about:blank');
    const away = 'Your refund is on its way.';
    await admin('POST', `/conversations/${conversationId}/messages`, { text: away });
    await page.goto(`${server.url}/`);
    await waitForOnline(page);
    await waitForBubble(page, away, 'operator');
    await page.waitForTimeout(300);
    const shown = await shownMessages(page);
    expect(shown.filter((m) => m.text === away)).toEqual([{ author: 'operator', status: 'done', name: 'Support', text: away }]);
    expect(shown.filter((m) => m.text === OPERATOR_TEXT)).toHaveLength(1);
    // Back again: nothing is shown twice.
    await page.reload();
    await waitForOnline(page);
    await page.waitForTimeout(500);
    expect((await shownMessages(page)).filter((m) => m.text === away)).toHaveLength(1);
  });

  it('goes back to the assistant on release: the next message gets an agent reply that knows the operator\'s words', async () => {
    expect(await admin('POST', `/conversations/${conversationId}/release`)).toMatchObject({ status: 'released' });
    await waitForHandoff(page, 'released');
    expect(await page.getByTestId('handoff-status').textContent()).toContain("You're back with the assistant");

    await sendThroughUi(page, 'Is there anything else?');
    await waitForBubble(page, 'echo: Is there anything else?');
    expect((await shownMessages(page)).at(-1)).toEqual({ author: 'agent', status: 'done', name: null, text: 'echo: Is there anything else?' });
    expect(provider.requests).toHaveLength(requestsWhileWithPerson + 1);
    const sent = provider.requests.at(-1)!.body.messages.map((m: { role: string; content: unknown }) => [m.role, m.content]);
    expect(sent).toContainEqual(['assistant', OPERATOR_TEXT]);
    expect(lastUserText(provider.requests.at(-1)!.body)).toBe('Is there anything else?');

    // The "back with the assistant" line goes away after a few seconds.
    await waitForHandoff(page, 'none', 10_000);
    expect(await page.getByTestId('handoff-status').isHidden()).toBe(true);
  });

  it('shows the joined notice as a notice when an operator takes the conversation straight from the assistant', async () => {
    await admin('POST', `/conversations/${conversationId}/takeover`);
    await waitForHandoff(page, 'active');
    const joined = 'Support from our team has joined the conversation.';
    await waitForBubble(page, joined, 'system');
    expect((await shownMessages(page)).at(-1)).toEqual({ author: 'system', status: 'done', name: null, text: joined });
    expect(await typingIndicators(page)).toBe(0);
    await page.screenshot({ path: `${ARTIFACTS}/widget-handoff-notice.png` });
  });
});

async function waitForHandoff(page: Page, state: string, timeout = 10_000): Promise<void> {
  await page.locator(`[data-testid="handoff-status"][data-state="${state}"]`).waitFor({ state: 'attached', timeout });
}

async function waitForBubble(page: Page, text: string, author?: string): Promise<void> {
  await page
    .locator(`[data-testid="switchboard-message"][data-status="done"]${author ? `[data-author="${author}"]` : ''} .bubble`)
    .filter({ hasText: text })
    .first()
    .waitFor({ timeout: 10_000 });
}

async function shownMessages(page: Page): Promise<ShownMessage[]> {
  return page.evaluate(() => {
    const root = document.getElementById('switchboard-widget')!.shadowRoot!;
    return [...root.querySelectorAll('[data-testid="switchboard-message"]')].map((row) => ({
      author: row.getAttribute('data-author')!,
      status: row.getAttribute('data-status')!,
      name: row.querySelector('[data-role="author-name"]')?.textContent ?? null,
      text: row.querySelector('.bubble')!.textContent!,
    }));
  });
}

async function typingIndicators(page: Page): Promise<number> {
  return page.evaluate(() => document.getElementById('switchboard-widget')!.shadowRoot!.querySelectorAll('.typing').length);
}

