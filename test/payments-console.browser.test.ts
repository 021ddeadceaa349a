import { mkdir } from 'node:fs/promises';
import { type Browser, type Page } from 'playwright-core';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_STRIPE_SECRET_KEY, startFakeStripeServer, type FakeCheckoutSession, type FakeStripeServer } from './fakes/fake-stripe-server.js';
import { createAdmin } from './helpers/admin-seed.js';
import { launchChromium } from './helpers/browser.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';

/**
 * Payments in the admin console, in Debian's headless Chromium against the real server: the model
 * creates a checkout link for a socket.io visitor (real Stripe SDK → fake Stripe), a signed
 * `checkout.session.completed` webhook marks it paid, and the console shows it: a payment chip on
 * the tool-call row (updated live), in the drawer and in the transcript next to the notice the
 * person got; the Payments view lists the event, links to the conversation, filters, and takes a
 * second event in live. The steps share one logged-in page, so they run in order.
 */

const ARTIFACTS = 'test-artifacts';
const EMAIL = 'payments@example.com';
const PASSWORD = 'correct horse battery staple';
const WEBHOOK_SECRET = 'whsec_test_console';
const PAID_NOTICE = 'Payment received: Pro plan, 49.99 USD. Thank you!';

let openai: FakeProviderServer;
let stripe: FakeStripeServer;
let server: RunningApp;
let browser: Browser;
let page: Page;
let visitor: ClientSocket;
let conversationId: string;
let checkoutCallId: string;
/** Every event the visitor's socket received, in order. */
const visitorEvents: { event: string; payload: any }[] = [];

/** A Stripe event for one of the fake's sessions, signed as Stripe signs it, posted to the webhook. */
async function deliverWebhook(id: string, type: string, session: FakeCheckoutSession, changes: Record<string, unknown>) {
  const event = { id, object: 'event', type, created: Math.floor(Date.now() / 1000), livemode: false, data: { object: { ...session, ...changes } } };
  const payload = JSON.stringify(event);
  const response = await fetch(`${server.url}/stripe/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }) },
    body: payload,
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ received: true });
}

const chipOf = (target: Page, selector: string) =>
  target.$eval(selector, (node) => ({ text: node.textContent, title: (node as HTMLElement).title, classes: [...node.classList] }));

const paymentRows = (target: Page) =>
  target.$$eval('#payment-table tbody tr[data-id]', (rows) =>
    rows.map((row) => ({ id: (row as HTMLElement).dataset.id!, cells: [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '') })),
  );

/** A full-page shot from the top (the sticky top bar would otherwise land mid-image). */
async function fullPageShot(name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  [openai, stripe] = await Promise.all([startFakeOpenAIServer(), startFakeStripeServer()]);
  server = await startTestApp({
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: openai.url,
    LLM_PROVIDERS: 'openai',
    STRIPE_SECRET_KEY: FAKE_STRIPE_SECRET_KEY,
    STRIPE_API_URL: stripe.url,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    // The second link is in yen: no confirmation step below this.
    CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'jpy:100000',
  });
  await createAdmin(server.app.database.db, EMAIL, PASSWORD);

  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('pageerror', (error) => console.error('[browser]', error.message));
});

afterAll(async () => {
  visitor?.disconnect();
  await browser?.close();
  await server?.stop();
  await Promise.all([openai?.close(), stripe?.close()]);
});

describe('payments in the admin console', () => {
  it('shows a new checkout link as open in the tool-call table', async () => {
    const connected = await connectClient(server.url);
    visitor = connected.socket;
    conversationId = connected.session.conversationId;
    visitor.onAny((event, payload) => visitorEvents.push({ event, payload }));
    openai.push(
      { toolCalls: [{ id: 'call_pay', name: 'create_checkout_link', arguments: { amount: 49.99, currency: 'usd', description: 'Pro plan' } }] },
      { text: 'Here is your payment link.' },
    );
    const { reply } = await sendAndCollect(visitor, 'I want to pay for the Pro plan');
    expect(reply.done.toolCalls).toEqual([{ name: 'create_checkout_link', status: 'ok' }]);
    expect(stripe.sessions).toHaveLength(1);

    await page.goto(`${server.url}/admin`);
    await page.fill('#login-email', EMAIL);
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.locator('#tool-call-table tbody tr[data-id]').first().waitFor();
    await expect.poll(() => page.textContent('#live-status')).toBe('live');
    checkoutCallId = (await page.getAttribute('#tool-call-table tbody tr[data-id]', 'data-id'))!;
    const chip = await chipOf(page, `#tool-call-table tr[data-id="${checkoutCallId}"] .pay`);
    expect(chip).toMatchObject({ text: 'open', classes: expect.arrayContaining(['pay-open']) });
    expect(chip.title).toContain('not reported a payment yet');
  });

  it('turns the chip to paid live when the signed webhook arrives, and tells the person', async () => {
    await deliverWebhook('evt_console_paid', 'checkout.session.completed', stripe.sessions[0]!, { payment_status: 'paid', amount_total: 4999, currency: 'usd' });

    const selector = `#tool-call-table tr[data-id="${checkoutCallId}"] .pay`;
    await expect.poll(() => page.textContent(selector)).toBe('paid · 49.99 USD');
    const chip = await chipOf(page, selector);
    expect(chip.classes).toContain('pay-paid');
    // When it was paid, in the browser's own format.
    expect(chip.title).toMatch(/^paid · \S/);
    const row = await page.$$eval(`#tool-call-table tr[data-id="${checkoutCallId}"] td`, (cells) => cells.map((cell) => cell.textContent));
    expect(row.slice(1, 3)).toEqual(['create_checkout_link', 'ok paid · 49.99 USD']);

    await expect
      .poll(() => visitorEvents.filter((entry) => entry.event === 'reply.done' && entry.payload.author === 'system').map((entry) => entry.payload.text))
      .toEqual([PAID_NOTICE]);
    await page.screenshot({ path: `${ARTIFACTS}/payments-tool-calls.png` });
  });

  it('shows the payment in the detail drawer', async () => {
    await page.click(`#tool-call-table tbody tr[data-id="${checkoutCallId}"]`);
    await page.locator('#drawer:not([hidden]) .detail').waitFor();
    expect(await page.textContent('#drawer .detail dl .pay')).toBe('paid · 49.99 USD');
    const terms = await page.$$eval('#drawer .detail dt', (nodes) => nodes.map((node) => node.textContent));
    expect(terms[0]).toBe('payment');
    await page.screenshot({ path: `${ARTIFACTS}/payments-drawer.png` });
    await page.click('#drawer-close');
  });

  it('shows the chip on the inline tool call and the notice in the transcript', async () => {
    await page.goto(`${server.url}/admin#/conversations/${conversationId}`);
    await page.locator('#transcript .inline-call').first().waitFor();
    expect(await page.textContent(`#transcript .inline-call[data-id="${checkoutCallId}"] .pay`)).toBe('paid · 49.99 USD');
    const bubbles = await page.$$eval('#transcript .bubble', (nodes) =>
      nodes.map((node) => ({ author: (node as HTMLElement).dataset.author, text: node.querySelector('.message-text')?.textContent })),
    );
    expect(bubbles).toEqual([
      { author: 'user', text: 'I want to pay for the Pro plan' },
      { author: 'agent', text: 'Here is your payment link.' },
      { author: 'system', text: PAID_NOTICE },
    ]);
    await fullPageShot('payments-transcript');
  });

  it('lists the event in the Payments view, with a link to the conversation', async () => {
    await page.click('nav a[data-view="payments"]');
    await page.locator('#payment-table tbody tr[data-id]').first().waitFor();
    expect(await page.getAttribute('nav a[data-view="payments"]', 'aria-current')).toBe('page');
    const rows = await paymentRows(page);
    expect(rows.map((row) => row.id)).toEqual(['evt_console_paid']);
    const [received, type, outcome, paymentStatus, amount, channel, conversation, notified, error] = rows[0]!.cells;
    expect(received).not.toBe('—');
    expect([type, outcome, paymentStatus, amount, channel, notified, error]).toEqual(['checkout.session.completed test', 'paid', 'paid', '49.99 USD', 'web', 'yes', '']);
    expect(conversation).toBe(`${conversationId.slice(0, 8)}…`);
    expect(await page.locator('#payment-empty').isHidden()).toBe(true);
    expect(await page.locator('#payment-more').isHidden()).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/payments-view.png` });

    await page.click('#payment-table .conversation-link');
    await page.locator('#view-transcript:not([hidden]) #transcript .bubble').first().waitFor();
    expect(page.url()).toBe(`${server.url}/admin#/conversations/${conversationId}`);
    expect(await page.locator('#crumb-payments').isVisible()).toBe(true);
    expect(await page.getAttribute('nav a[data-view="payments"]', 'aria-current')).toBe('page');
    await page.click('#crumb-payments');
    await page.locator('#view-payments:not([hidden]) #payment-table tbody tr[data-id]').first().waitFor();
  });

  it('filters the events and shows an empty state', async () => {
    await page.selectOption('#payment-filters select[name=outcome]', 'expired');
    await page.click('#payment-filters button[type=submit]');
    await expect.poll(() => page.locator('#payment-empty').isVisible()).toBe(true);
    expect(await page.textContent('#payment-empty')).toBe('No payment events match these filters.');
    expect(await page.locator('#payment-table').isVisible()).toBe(false);
    await page.screenshot({ path: `${ARTIFACTS}/payments-empty.png` });

    await page.selectOption('#payment-filters select[name=outcome]', 'paid');
    await page.selectOption('#payment-filters select[name=status]', 'processed');
    await page.fill('#payment-filters input[name=type]', 'checkout.session.completed');
    await page.click('#payment-filters button[type=submit]');
    await expect.poll(async () => (await paymentRows(page)).map((row) => row.id)).toEqual(['evt_console_paid']);

    await page.fill('#payment-filters input[name=type]', 'invoice.payment_failed');
    await page.click('#payment-filters button[type=submit]');
    await expect.poll(() => page.locator('#payment-empty').isVisible()).toBe(true);

    await page.click('#payment-filters button[type=reset]');
    await expect.poll(async () => (await paymentRows(page)).map((row) => row.id)).toEqual(['evt_console_paid']);
    expect(await page.locator('#payment-empty').isHidden()).toBe(true);
  });

  it('takes a new event in while the view is open, formatted in its currency', async () => {
    openai.push(
      { toolCalls: [{ id: 'call_tea', name: 'create_checkout_link', arguments: { amount: 4900, currency: 'jpy', description: 'Tea set' } }] },
      { text: 'Here is the link for the tea set.' },
    );
    const { reply } = await sendAndCollect(visitor, 'and a tea set, please');
    expect(reply.done.toolCalls).toEqual([{ name: 'create_checkout_link', status: 'ok' }]);
    // A bank debit: the session completes unpaid, the payment is processing.
    await deliverWebhook('evt_console_debit', 'checkout.session.completed', stripe.sessions[1]!, { payment_status: 'unpaid' });

    // The notice (the feed's message event) goes out before the event is marked handled: the view reads again until it is.
    await expect
      .poll(async () => (await paymentRows(page)).map((row) => [row.id, row.cells[2], row.cells[4], row.cells[7]]), { timeout: 5000 })
      .toEqual([
        ['evt_console_debit', 'processing', '4900 JPY', 'yes'],
        ['evt_console_paid', 'paid', '49.99 USD', 'yes'],
      ]);
    expect(await chipOf(page, '#payment-table tr[data-id="evt_console_debit"] .pay')).toMatchObject({ classes: expect.arrayContaining(['pay-processing']) });
    await page.screenshot({ path: `${ARTIFACTS}/payments-view-live.png` });

    // The same table of minor units in the browser as on the server.
    // A string, not a function: the test runner rewrites dynamic imports in this file's own code.
    const formatted = await page.evaluate(
      `import('/admin/views.js').then(({ formatMoney }) => [formatMoney(4999, 'usd'), formatMoney(5000, 'JPY'), formatMoney(1500, 'kwd'), formatMoney(5, 'eur'), formatMoney(null, 'usd')])`,
    );
    expect(formatted).toEqual(['49.99 USD', '5000 JPY', '1.500 KWD', '0.05 EUR', null]);

    await page.goto(`${server.url}/admin#/tool-calls`);
    // The rows of the hidden table stay until the view's own read replaces them.
    await expect.poll(() => page.$$eval('#tool-call-table tbody .pay', (nodes) => nodes.map((node) => [node.textContent, node.className]))).toEqual([
      ['processing · 4900 JPY', 'badge pay pay-processing'],
      ['paid · 49.99 USD', 'badge pay pay-paid'],
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/payments-tool-calls-two.png` });
  });

  it('fits a phone screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${server.url}/admin#/payments`);
    await page.locator('#payment-table tbody tr[data-id]').first().waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    // The amount stays on a phone (other tables drop their fifth column there).
    expect(await page.locator('#payment-table tbody tr td:nth-child(5)').first().isVisible()).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/payments-phone.png` });
  });
});
