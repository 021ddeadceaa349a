import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminStore } from '../src/admin/admin-store.js';
import { hashPassword } from '../src/admin/passwords.js';
import type { AdminRole } from '../src/store/schema.js';
import { launchChromium } from './helpers/browser.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Workspaces in the console, in Debian's headless Chromium against the real server (issue #19):
 * the owner creates a workspace, binds a number to it and switches the console into it; that
 * workspace's admin edits its settings (a bad value is shown next to its setting) and its
 * credentials (never shown again, only masked). Under the console's strict CSP: a violation fails.
 * Screenshots in test-artifacts/console-workspaces-*.png.
 */

const ARTIFACTS = 'test-artifacts';
const PASSWORD = 'correct horse battery staple';
const OPENAI_SECRET = `sk-proj-${randomBytes(20).toString('hex')}`;

let server: RunningApp;
let browser: Browser;
let ownerContext: BrowserContext;
let owner: Page;
let admin: Page;
let acmeId: string;
const problems: string[] = [];

async function account(email: string, role: AdminRole, workspaceId?: string) {
  await new AdminStore(server.app.database.db).createUser(email, await hashPassword(PASSWORD), { role, name: email.split('@')[0], ...(workspaceId && { workspaceId }) });
}

async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  return page;
}

async function logIn(page: Page, email: string) {
  await page.goto(`${server.url}/admin`);
  await page.fill('#login-email', email);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.locator('#console').waitFor();
}

async function shot(page: Page, name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${ARTIFACTS}/console-workspaces-${name}.png`, fullPage: true });
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startTestApp({ SECRETS_MASTER_KEY: randomBytes(32).toString('base64'), SYSTEM_PROMPT: 'You answer for the deployment.', PUBLIC_URL: 'https://support.example' });
  await account('owner@deploy.example', 'owner');
  browser = await launchChromium();
  ownerContext = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  owner = await newPage(ownerContext);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('the owner', () => {
  it('creates a workspace in the Workspaces view and binds a number to it', async () => {
    await logIn(owner, 'owner@deploy.example');
    await owner.locator('#nav-workspaces').waitFor();
    await owner.locator('#workspace-switcher-label').waitFor();
    await owner.click('#nav-workspaces');
    await owner.locator('#workspaces-table tbody tr[data-workspace="default"]').waitFor();
    await owner.locator('#refusals-empty').waitFor();

    await owner.fill('#workspace-create input[name=name]', 'Acme Inc');
    expect(await owner.inputValue('#workspace-create input[name=slug]')).toBe('acme-inc');
    await owner.fill('#workspace-create input[name=slug]', 'acme');
    await owner.fill('#workspace-create textarea[name=origins]', 'https://acme.example\nhttps://shop.acme.example/');
    await owner.click('#workspace-create button[type=submit]');
    const row = owner.locator('#workspaces-table tbody tr[data-workspace="acme"]');
    await row.waitFor();
    expect(await owner.textContent('#workspace-create-done')).toContain('Created Acme Inc');
    acmeId = server.app.workspaces.all.find((workspace) => workspace.slug === 'acme')!.id;
    expect(await row.textContent()).toContain('https://shop.acme.example');

    // A taken slug is said in words.
    await owner.fill('#workspace-create input[name=name]', 'Acme again');
    await owner.fill('#workspace-create input[name=slug]', 'acme');
    await owner.click('#workspace-create button[type=submit]');
    await waitFor(async () => (await owner.textContent('#workspace-create-error'))?.includes('another workspace has the slug "acme"'), 'the slug_taken message');
    await owner.fill('#workspace-create input[name=name]', '');
    await owner.fill('#workspace-create input[name=slug]', '');

    await owner.selectOption('#workspace-bind select[name=workspace]', acmeId);
    await owner.selectOption('#workspace-bind select[name=channel]', 'sms');
    await owner.fill('#workspace-bind input[name=identity]', '+1 415 555 0100');
    await owner.click('#workspace-bind button[type=submit]');
    await row.locator('.chip[data-identity="+14155550100"]').waitFor();
    expect(server.app.workspaces.route('sms', '+14155550100').workspace?.id).toBe(acmeId);
    // The switcher lists the new workspace at once.
    expect(await owner.$$eval('#workspace-switcher option', (options) => options.map((option) => option.textContent))).toEqual(['Default', 'Acme Inc']);

    await server.app.workspaces.refuse('sms', '+14155550199', 'unknown_identity');
    await owner.click('#nav-workspaces');
    await owner.reload();
    await owner.locator('#refusals-table').waitFor();
    expect(await owner.textContent('#refusals-table tbody')).toContain('+1***0199');
    await shot(owner, 'owner-list');
  });

  it('suspends and re-activates it from its row', async () => {
    const row = owner.locator('#workspaces-table tbody tr[data-workspace="acme"]');
    await row.locator('button', { hasText: 'Suspend' }).click();
    await owner.locator('#workspaces-table tbody tr[data-workspace="acme"][data-status="suspended"]').waitFor();
    expect(server.app.workspaces.get(acmeId)?.status).toBe('suspended');
    await owner.locator('#workspaces-table tbody tr[data-workspace="acme"] button', { hasText: 'Activate' }).click();
    await owner.locator('#workspaces-table tbody tr[data-workspace="acme"][data-status="active"]').waitFor();
    expect(await owner.locator('#workspaces-table tbody tr[data-workspace="default"] button', { hasText: 'Suspend' }).count()).toBe(0);
  });

  it('switches the console into the workspace: the Workspace view shows it, and the live feed follows', async () => {
    await owner.selectOption('#workspace-switcher', acmeId);
    await owner.waitForLoadState('load');
    await owner.locator('#console').waitFor();
    await waitFor(async () => (await owner.inputValue('#workspace-switcher')) === acmeId, 'the switcher to show Acme after the reload');
    await owner.click('#nav-workspace');
    await waitFor(async () => (await owner.textContent('#workspace-title'))?.includes('Acme Inc · acme'), 'the Workspace view of Acme');
    expect(await owner.textContent('#embed-snippet')).toBe(
      `<script src="https://support.example/widget.js" data-workspace-key="${server.app.workspaces.get(acmeId)!.widgetKey}" defer></script>`,
    );
    await owner.locator('#live-status.on').waitFor();
    await shot(owner, 'owner-in-acme');
  });
});

describe("the workspace's admin", () => {
  beforeAll(async () => {
    await account('lee@acme.example', 'admin', acmeId);
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    admin = await newPage(context);
  });

  it('sees its workspace by name, the Workspace view and no owner controls', async () => {
    await logIn(admin, 'lee@acme.example');
    expect(await admin.textContent('#workspace-name')).toBe('Acme Inc');
    expect(await admin.isVisible('#nav-workspaces')).toBe(false);
    expect(await admin.isVisible('#workspace-switcher-label')).toBe(false);
    await admin.click('#nav-workspace');
    await admin.locator('#settings-form').waitFor();
    await admin.click('#copy-snippet');
    await waitFor(async () => (await admin.textContent('#workspace [role=status]:not(#workspace-saved)')) === 'Copied', 'the copy feedback');
    expect(await admin.evaluate(() => navigator.clipboard.readText())).toContain('data-workspace-key="wk_');
  });

  it('edits the settings: a bad value is shown next to its setting, a good one takes effect at once', async () => {
    expect(await admin.getAttribute('#setting-SYSTEM_PROMPT', 'placeholder')).toBe('You answer for the deployment.');
    expect(await admin.textContent('.setting[data-key="MAX_TOOL_STEPS"] .setting-effective')).toContain('6');
    await admin.fill('#setting-SYSTEM_PROMPT', 'You answer for Acme Inc. Be brief.');
    await admin.fill('#setting-MAX_TOOL_STEPS', 'many');
    await admin.fill('#setting-WORKING_HOURS', '08:00-18:00');
    await admin.click('#settings-form button[type=submit]');
    const problem = admin.locator('.setting[data-key="MAX_TOOL_STEPS"] .setting-problem');
    await waitFor(async () => (await problem.textContent())?.length, 'the problem next to MAX_TOOL_STEPS');
    expect(await problem.textContent()).toMatch(/number/i);
    expect(server.app.workspaces.get(acmeId)?.settings).toEqual({});
    await shot(admin, 'settings-problem');

    await admin.fill('#setting-MAX_TOOL_STEPS', '3');
    await admin.click('#settings-form button[type=submit]');
    await admin.locator('.setting.source-workspace[data-key="MAX_TOOL_STEPS"]').waitFor();
    expect(await admin.textContent('#workspace-saved')).toBe('Saved.');
    const config = (await server.app.workspaceConfigs.configFor(acmeId)).config;
    expect(config.SYSTEM_PROMPT).toBe('You answer for Acme Inc. Be brief.');
    expect(config.MAX_TOOL_STEPS).toBe(3);
    expect(config.WORKING_HOURS).toEqual({ startMinute: 480, endMinute: 1080 });
  });

  it('stores a credential, sees it masked only, and removes it', async () => {
    const openai = admin.locator('.credential[data-integration="openai"]');
    await openai.locator('button', { hasText: 'Add' }).click();
    expect(await admin.getAttribute('#credential-openai-OPENAI_API_KEY', 'type')).toBe('password');
    await admin.fill('#credential-openai-OPENAI_API_KEY', 'has a space');
    await openai.locator('button[type=submit]').click();
    await waitFor(async () => (await openai.locator('.error').textContent())?.includes('OPENAI_API_KEY: must be one value without spaces'), 'the field named in the error');

    await admin.fill('#credential-openai-OPENAI_API_KEY', OPENAI_SECRET);
    await admin.fill('#credential-openai-OPENAI_MODEL', 'gpt-4o-mini');
    await openai.locator('button[type=submit]').click();
    await admin.locator('.credential[data-integration="openai"] .masked').waitFor();
    const masked = await admin.textContent('.credential[data-integration="openai"] .masked');
    expect(masked).toContain(`${OPENAI_SECRET.slice(0, 4)}…${OPENAI_SECRET.slice(-4)}`);
    expect(masked).toContain('gpt-4o-mini');
    expect(await admin.content()).not.toContain(OPENAI_SECRET);
    await shot(admin, 'settings');

    admin.once('dialog', (dialog) => void dialog.accept());
    await admin.locator('.credential[data-integration="openai"] button', { hasText: 'Remove' }).click();
    await admin.locator('.credential[data-integration="openai"] button', { hasText: 'Add' }).waitFor();
  });

  it('reads well on a phone', async () => {
    await admin.setViewportSize({ width: 390, height: 844 });
    await admin.reload();
    await admin.locator('#settings-form').waitFor();
    await admin.screenshot({ path: `${ARTIFACTS}/console-workspaces-phone.png` });
    await admin.locator('.setting[data-key="MAX_TOOL_STEPS"]').scrollIntoViewIfNeeded();
    await admin.screenshot({ path: `${ARTIFACTS}/console-workspaces-phone-settings.png` });
    const overflow = await admin.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });

  it('ran without a script error or a CSP violation', () => {
    expect(problems).toEqual([]);
  });
});
