import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_HUBSPOT_TOKEN, startFakeHubSpotServer, type FakeHubSpotServer } from './fakes/fake-hubspot-server.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { launchChromium } from './helpers/browser.js';

/** The widget's confirm / decline buttons in headless Chromium against the real server. */

const HOSTILE_NAME = '<img src=x onerror="window.__xss=1">Eve';

describe('confirmations in the chat widget', () => {
  let openai: FakeProviderServer;
  let hubspot: FakeHubSpotServer;
  let server: RunningApp;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    [openai, hubspot] = await Promise.all([startFakeOpenAIServer(), startFakeHubSpotServer()]);
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.url,
      HUBSPOT_ACCESS_TOKEN: FAKE_HUBSPOT_TOKEN,
      HUBSPOT_API_URL: hubspot.url,
      SENSITIVE_TOOLS: 'create_crm_lead',
    });
    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
    page.on('pageerror', (error) => console.error('[browser]', error.message));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await Promise.all([openai?.close(), hubspot?.close()]);
  });

  const send = async (text: string) => {
    await page.getByTestId('switchboard-input').fill(text);
    await page.getByTestId('switchboard-send').click();
  };

  it('shows the summary as text with buttons; Confirm runs the tool and the outcome arrives as a new message', async () => {
    await page.goto(`${server.url}/`);
    await page.locator('[data-testid="switchboard-panel"][data-connection="online"]').waitFor({ state: 'attached', timeout: 10_000 });
    openai.push(
      { toolCalls: [{ id: 'lead_1', name: 'create_crm_lead', arguments: { email: 'eve@example.test', name: HOSTILE_NAME } }] },
      { text: 'Please confirm saving your details.' },
    );
    await send('save me as a lead');
    const card = page.getByTestId('switchboard-confirmation');
    await card.waitFor({ timeout: 10_000 });
    expect(await card.locator('.bubble').textContent()).toBe(`Save eve@example.test (${HOSTILE_NAME}) as a lead in the CRM.`);
    expect(await card.locator('img').count()).toBe(0);
    expect(hubspot.contacts).toHaveLength(0);

    await card.getByTestId('switchboard-confirm').click();
    await page.getByTestId('switchboard-messages').getByText('Saved eve@example.test in the CRM.').waitFor({ timeout: 10_000 });
    expect(await card.getByTestId('switchboard-message-note').textContent()).toBe('Confirmed');
    expect(await card.getByTestId('switchboard-confirm').isDisabled()).toBe(true);
    expect(hubspot.contacts).toHaveLength(1);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it('Decline runs nothing and says so', async () => {
    hubspot.reset();
    openai.push({ toolCalls: [{ id: 'lead_2', name: 'create_crm_lead', arguments: { email: 'zed@example.test' } }] }, { text: 'Confirm?' });
    await send('and my colleague zed@example.test');
    const card = page.getByTestId('switchboard-confirmation').nth(1);
    await card.waitFor({ timeout: 10_000 });
    await card.getByTestId('switchboard-decline').click();
    await page.getByTestId('switchboard-messages').getByText(/^Cancelled: Save zed@example.test/).waitFor({ timeout: 10_000 });
    expect(await card.getByTestId('switchboard-message-note').textContent()).toBe('Declined');
    expect(hubspot.requests).toHaveLength(0);
  });
});
