import { mkdir } from 'node:fs/promises';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_HUBSPOT_TOKEN, startFakeHubSpotServer, type FakeHubSpotServer } from './fakes/fake-hubspot-server.js';
import { launchChromium } from './helpers/browser.js';
import { sendThroughUi, waitForOnline } from './helpers/widget-page.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * Confirmations in the chat widget as a visitor lives them, in Debian's headless Chromium
 * against the real server: across reloads, answered with the buttons or in words, the tool
 * chip following the outcome, focus after answering; and the widget's labels and its place on
 * the demo page. The steps of the first block share one visitor and run in order.
 */

const ARTIFACTS = 'test-artifacts';
const TRANSCRIPT_KEY = 'switchboard.transcript';

interface ShownChip {
  name: string;
  status: string;
  text: string;
}

describe('confirmations in the chat widget across reloads', () => {
  let openai: FakeProviderServer;
  let hubspot: FakeHubSpotServer;
  let server: RunningApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    [openai, hubspot] = await Promise.all([startFakeOpenAIServer(), startFakeHubSpotServer()]);
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      HUBSPOT_ACCESS_TOKEN: FAKE_HUBSPOT_TOKEN,
      HUBSPOT_API_URL: hubspot.url,
      SENSITIVE_TOOLS: 'create_crm_lead',
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on('pageerror', (error) => console.error('[browser]', error.message));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await Promise.all([openai?.close(), hubspot?.close()]);
  });

  /** The visitor asks; the model asks to save a lead, which waits for the visitor. */
  const askForLead = async (email: string) => {
    openai.push({ toolCalls: [{ id: `lead_${email}`, name: 'create_crm_lead', arguments: { email } }] }, { text: 'Please confirm saving the lead.' });
    await sendThroughUi(page, `save ${email}`);
    const card = page.getByTestId('switchboard-confirmation').filter({ hasText: email });
    await card.waitFor({ timeout: 10_000 });
    await waitForChip(page, email, 'pending');
    return card;
  };

  it('shows a pending confirmation again after a reload, with working buttons', async () => {
    await page.goto(`${server.url}/`);
    await waitForOnline(page);
    const card = await askForLead('ada@example.test');
    expect(await chipOf(page, 'ada@example.test')).toEqual({ name: 'create_crm_lead', status: 'pending', text: 'create_crm_lead (pending)' });

    await page.reload();
    await waitForOnline(page);
    await card.getByTestId('switchboard-confirm').waitFor({ state: 'visible', timeout: 5_000 });
    expect(await page.getByTestId('switchboard-confirmation').count()).toBe(1);
    expect(await card.getByTestId('switchboard-confirm').isEnabled()).toBe(true);
    expect(await card.getByTestId('switchboard-decline').isEnabled()).toBe(true);
    // The reply that asked keeps its place above the question, and its chip.
    expect(await rowTexts(page)).toEqual(['save ada@example.test', 'Please confirm saving the lead.', 'Save ada@example.test as a lead in the CRM.']);
    expect(await chipOf(page, 'ada@example.test')).toMatchObject({ status: 'pending' });
    await page.screenshot({ path: `${ARTIFACTS}/widget-confirm-pending-after-reload.png` });
  });

  it('Confirm with the keyboard: the chip moves to the outcome and focus lands on it, not on the page', async () => {
    const card = page.getByTestId('switchboard-confirmation').filter({ hasText: 'ada@example.test' });
    await card.getByTestId('switchboard-confirm').focus();
    await page.keyboard.press('Enter');
    await page.getByTestId('switchboard-messages').getByText('Saved ada@example.test in the CRM.').waitFor({ timeout: 10_000 });
    await waitForChip(page, 'ada@example.test', 'ok');
    expect(await chipOf(page, 'ada@example.test')).toEqual({ name: 'create_crm_lead', status: 'ok', text: 'create_crm_lead' });
    expect(await card.getByTestId('switchboard-message-note').textContent()).toBe('Confirmed');

    const focused = await focusedInWidget(page);
    expect(focused.pageFocus).toBe('switchboard-widget');
    expect(focused).toMatchObject({ testid: 'switchboard-message-note', text: 'Confirmed', inCard: true, tabindex: '-1' });
    // Once answered, the buttons are gone from view (and from the tab order).
    expect(await card.getByTestId('switchboard-confirm').isVisible()).toBe(false);
    expect(hubspot.contacts.map((contact) => contact.properties.email)).toEqual(['ada@example.test']);
    await page.screenshot({ path: `${ARTIFACTS}/widget-confirm-confirmed.png` });
  });

  it('keeps the decision in the transcript: after a reload the card shows its outcome, not buttons', async () => {
    await page.reload();
    await waitForOnline(page);
    const card = page.getByTestId('switchboard-confirmation').filter({ hasText: 'ada@example.test' });
    await card.waitFor();
    // Given time for anything the server might re-send.
    await page.waitForTimeout(500);
    expect(await card.getByTestId('switchboard-message-note').textContent()).toBe('Confirmed');
    expect(await card.getByTestId('switchboard-confirm').isVisible()).toBe(false);
    expect(await chipOf(page, 'ada@example.test')).toMatchObject({ status: 'ok' });
    expect(hubspot.contacts).toHaveLength(1);
  });

  it('shows the outcome of a confirmation decided while the visitor was away', async () => {
    const card = await askForLead('bo@example.test');
    const conversationId = await page.evaluate(() => window.Switchboard.conversationId);
    await page.goto('about:blank');
    // Declined elsewhere (another device, or it expired) while the page was closed.
    const confirmationId = await pendingConfirmationId(server, conversationId!);
    await server.app.confirmations.answer(conversationId!, confirmationId, 'decline');

    await page.goto(`${server.url}/`);
    await waitForOnline(page);
    await card.getByTestId('switchboard-message-note').filter({ hasText: 'Declined' }).waitFor({ timeout: 5_000 });
    expect(await card.getByTestId('switchboard-confirm').isVisible()).toBe(false);
    await waitForChip(page, 'bo@example.test', 'declined');
    expect(await chipOf(page, 'bo@example.test')).toEqual({ name: 'create_crm_lead', status: 'declined', text: 'create_crm_lead (declined)' });
    await page.getByTestId('switchboard-messages').getByText(/^Cancelled: Save bo@example.test/).waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/widget-confirm-declined-while-away.png` });
    expect(hubspot.requests.filter((request) => JSON.stringify(request.body).includes('bo@example.test'))).toHaveLength(0);
  });

  it('asks again from the server when the page kept no transcript', async () => {
    await askForLead('cy@example.test');
    await page.evaluate((key) => localStorage.removeItem(key), TRANSCRIPT_KEY);
    await page.reload();
    await waitForOnline(page);
    const card = page.getByTestId('switchboard-confirmation').filter({ hasText: 'cy@example.test' });
    await card.getByTestId('switchboard-confirm').waitFor({ state: 'visible', timeout: 5_000 });
    expect(await page.getByTestId('switchboard-confirmation').count()).toBe(1);
    await card.getByTestId('switchboard-decline').click();
    await card.getByTestId('switchboard-message-note').filter({ hasText: 'Declined' }).waitFor({ timeout: 5_000 });
    expect((await focusedInWidget(page)).testid).toBe('switchboard-message-note');
  });

  it('a typed "yes" answers the question as the model said it would, with no model turn and no reply left waiting', async () => {
    const card = await askForLead('di@example.test');
    const modelCalls = openai.requests.length;
    await sendThroughUi(page, 'yes');
    await card.getByTestId('switchboard-message-note').filter({ hasText: 'Confirmed' }).waitFor({ timeout: 10_000 });
    await page.getByTestId('switchboard-messages').getByText('Saved di@example.test in the CRM.').waitFor({ timeout: 10_000 });
    await waitForChip(page, 'di@example.test', 'ok');
    expect(openai.requests.length).toBe(modelCalls);
    expect(hubspot.contacts.map((contact) => contact.properties.email)).toContain('di@example.test');
    // The typed answer stays as the visitor's message; no typing bubble waits for a reply that never comes.
    const rows = await rowStates(page);
    expect(rows.filter((row) => row.status === 'streaming' || row.status === 'pending')).toEqual([]);
    expect(rows.some((row) => row.role === 'user' && row.text === 'yes' && row.status === 'done')).toBe(true);
    // Typing, the visitor keeps the input's focus.
    expect((await focusedInWidget(page)).testid).toBe('switchboard-input');
    await page.screenshot({ path: `${ARTIFACTS}/widget-confirm-typed-yes.png` });
  });

  it('on a phone, a waiting question and the decided ones fit the screen', async () => {
    await askForLead('eve@example.test');
    const phone = await context.newPage();
    try {
      await phone.setViewportSize({ width: 375, height: 700 });
      await phone.goto(`${server.url}/`);
      await waitForOnline(phone);
      await phone.getByTestId('switchboard-launcher').click();
      const card = phone.getByTestId('switchboard-confirmation').filter({ hasText: 'eve@example.test' });
      await card.getByTestId('switchboard-confirm').waitFor({ state: 'visible' });
      const overflow = await phone.evaluate(() => {
        const root = document.getElementById('switchboard-widget')!.shadowRoot!;
        return [...root.querySelectorAll('.message .bubble, .message .note, .confirm-actions, .tool')]
          .map((element) => element.getBoundingClientRect())
          .filter((rect) => rect.width > 0 && (rect.left < 0 || rect.right > window.innerWidth)).length;
      });
      expect(overflow).toBe(0);
      await phone.screenshot({ path: `${ARTIFACTS}/widget-confirm-phone.png` });
    } finally {
      await phone.close();
    }
  });
});

describe('the widget on the demo page', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    openai = await startFakeOpenAIServer();
    server = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await openai?.close();
  });

  const openDemo = async (width: number, height: number) => {
    const page = await (await browser.newContext({ viewport: { width, height } })).newPage();
    page.on('pageerror', (error) => console.error('[browser]', error.message));
    await page.goto(`${server.url}/`);
    await waitForOnline(page);
    return page;
  };

  it('labels the launcher and the header close button differently', async () => {
    const page = await openDemo(1280, 800);
    const launcher = page.getByTestId('switchboard-launcher');
    const close = page.getByTestId('switchboard-close');
    expect(await page.getByTestId('switchboard-panel').isVisible()).toBe(true);
    const openNames = { launcher: await launcher.getAttribute('aria-label'), close: await close.getAttribute('aria-label') };
    expect(openNames.close).toBe('Close chat');
    expect(openNames.launcher).toBeTruthy();
    expect(openNames.launcher).not.toBe(openNames.close);
    // Each name finds one button: a screen-reader user can tell them apart.
    expect(await page.getByRole('button', { name: 'Close chat', exact: true }).count()).toBe(1);
    expect(await page.getByRole('button', { name: openNames.launcher!, exact: true }).count()).toBe(1);
    await close.click();
    expect(await launcher.getAttribute('aria-label')).toBe('Open chat');
    expect(await page.getByRole('button', { name: 'Open chat', exact: true }).count()).toBe(1);
    await page.context().close();
  });

  for (const [width, height] of [
    [1280, 800],
    [1024, 760],
    [800, 900],
    [375, 700],
  ] as const) {
    it(`does not cover the page's text on load at ${width}×${height}`, async () => {
      const page = await openDemo(width, height);
      const layout = await page.evaluate(() => {
        const root = document.getElementById('switchboard-widget')!.shadowRoot!;
        const box = (element: Element) => {
          const rect = element.getBoundingClientRect();
          return { left: rect.left, top: rect.top, right: rect.right, bottom: rect.bottom };
        };
        const panel = root.querySelector('[data-testid="switchboard-panel"]') as HTMLElement;
        const launcher = root.querySelector('[data-testid="switchboard-launcher"]') as HTMLElement;
        const visible = (element: HTMLElement) => element.getClientRects().length > 0 && getComputedStyle(element).display !== 'none';
        return {
          panel: visible(panel) ? box(panel) : null,
          launcher: visible(launcher) ? box(launcher) : null,
          text: [...document.querySelectorAll('main h1, main p')].map(box),
        };
      });
      const overlaps = (a: { left: number; top: number; right: number; bottom: number }, b: typeof a) =>
        a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      const covering = [layout.panel, layout.launcher].filter((box) => box !== null).flatMap((box) => layout.text.filter((text) => overlaps(box, text)));
      await page.screenshot({ path: `${ARTIFACTS}/widget-demo-${width}x${height}.png` });
      expect(covering).toEqual([]);
      // Wide screens show the chat open beside the page; narrower ones start with the launcher only.
      expect(layout.panel !== null).toBe(width >= 1024);
      expect(layout.launcher).not.toBeNull();
      await page.context().close();
    });
  }
});

async function waitForChip(page: Page, email: string, status: string): Promise<void> {
  await page.waitForFunction(
    ([email, status]) => {
      const root = document.getElementById('switchboard-widget')!.shadowRoot!;
      const rows = [...root.querySelectorAll('[data-testid="switchboard-message"]')];
      const asked = rows.findIndex((row) => row.getAttribute('data-role') === 'user' && row.textContent === `save ${email}`);
      const reply = rows.slice(asked + 1).find((row) => row.getAttribute('data-role') === 'assistant');
      return reply?.querySelector('[data-testid="switchboard-tool"]')?.getAttribute('data-status') === status;
    },
    [email, status] as const,
    { timeout: 10_000 },
  );
}

/** The tool chip on the reply to "save <email>". */
async function chipOf(page: Page, email: string): Promise<ShownChip | null> {
  return page.evaluate((email) => {
    const root = document.getElementById('switchboard-widget')!.shadowRoot!;
    const rows = [...root.querySelectorAll('[data-testid="switchboard-message"]')];
    const asked = rows.findIndex((row) => row.getAttribute('data-role') === 'user' && row.textContent === `save ${email}`);
    const reply = rows.slice(asked + 1).find((row) => row.getAttribute('data-role') === 'assistant');
    const chip = reply?.querySelector('[data-testid="switchboard-tool"]');
    return chip ? { name: chip.getAttribute('data-tool')!, status: chip.getAttribute('data-status')!, text: chip.textContent! } : null;
  }, email);
}

async function rowTexts(page: Page): Promise<string[]> {
  return (await rowStates(page)).map((row) => row.text);
}

async function rowStates(page: Page): Promise<{ role: string; status: string; text: string }[]> {
  return page.evaluate(() =>
    [...document.getElementById('switchboard-widget')!.shadowRoot!.querySelectorAll('.message')].map((row) => ({
      role: row.getAttribute('data-role')!,
      status: row.getAttribute('data-status')!,
      text: row.querySelector('.bubble')!.textContent!,
    })),
  );
}

async function focusedInWidget(page: Page) {
  return page.evaluate(() => {
    const root = document.getElementById('switchboard-widget')!.shadowRoot!;
    const active = root.activeElement;
    return {
      pageFocus: document.activeElement === document.body ? 'body' : (document.activeElement?.id ?? null),
      testid: active?.getAttribute('data-testid') ?? null,
      text: active?.textContent ?? null,
      tabindex: active?.getAttribute('tabindex') ?? null,
      inCard: Boolean(active?.closest('[data-testid="switchboard-confirmation"]')),
    };
  });
}

async function pendingConfirmationId(server: RunningApp, conversationId: string): Promise<string> {
  const { waiting } = await server.app.confirmations.statesFor(conversationId, []);
  expect(waiting).toHaveLength(1);
  return waiting[0]!.confirmationId;
}
