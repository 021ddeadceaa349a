import { mkdir } from 'node:fs/promises';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * A new Switchboard's console in Debian's headless Chromium: with no account, /admin offers the
 * first-run setup (token from the start-up banner); the login page says how to get an account.
 * The steps share one page and one server, so they run in order. Screenshots in test-artifacts/.
 */

const ARTIFACTS = 'test-artifacts';
const EMAIL = 'owner@example.com';
const PASSWORD = 'correct horse battery staple';

let server: RunningApp;
let browser: Browser;
let page: Page;
let token: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startTestApp();
  const notice = server.app.firstRun!.takeNotice();
  if (!notice.open || !notice.token) throw new Error('a fresh server should offer the first-run setup');
  token = notice.token;
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const visible = (selector: string) => page.locator(selector).isVisible();

describe('first run and login in a real browser', () => {
  it('opens /admin on the first-run setup when no account exists', async () => {
    await page.goto(`${server.url}/admin`);
    await page.locator('#setup-form').waitFor();
    expect(await visible('#login')).toBe(false);
    expect(await page.textContent('#setup h1')).toBe('Create the first admin account');
    // Keyboard first: the token field has the focus.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('setup-token');
    await page.screenshot({ path: `${ARTIFACTS}/console-first-run.png` });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: `${ARTIFACTS}/console-first-run-mobile.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('links the setup from the login page, which says how to get an account', async () => {
    await page.click('#setup-to-login');
    await page.locator('#login-form').waitFor();
    await expect.poll(() => visible('#login-first-run')).toBe(true);
    expect(await page.textContent('#login-first-run')).toMatch(/No account exists yet\.\s+Create the first admin account/);
    const help = (await page.textContent('#login .login-help'))!;
    expect(help).toContain('npm run admin:create -- --email you@example.com --role operator');
    expect(help).toContain('Ask an admin');
    await page.screenshot({ path: `${ARTIFACTS}/console-login-first-run.png` });
    await page.click('#show-setup');
    await page.locator('#setup-form').waitFor();
  });

  it('refuses a wrong token and differing passwords, with the reason next to the form', async () => {
    await page.fill('#setup-token', 'aaaaa-bbbbb-ccccc-ddddd');
    await page.fill('#setup-email', EMAIL);
    await page.fill('#setup-name', 'Ada');
    await page.fill('#setup-password', PASSWORD);
    await page.fill('#setup-password-again', `${PASSWORD}!`);
    await page.click('#setup-form button[type=submit]');
    await expect.poll(() => page.textContent('#setup-error')).toBe('The two passwords differ.');

    await page.fill('#setup-password-again', PASSWORD);
    await page.click('#setup-form button[type=submit]');
    await expect.poll(() => page.textContent('#setup-error')).toBe("wrong setup token: use the one in the server's start-up output");
    expect(await visible('#setup-form')).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/console-first-run-error.png` });
  });

  it('creates the account with the right token and opens the console logged in', async () => {
    await page.fill('#setup-token', token);
    await page.click('#setup-form button[type=submit]');
    await page.locator('#console').waitFor();
    expect(await page.textContent('#whoami')).toBe(EMAIL);
    expect(await visible('#setup')).toBe(false);
    // The password fields were cleared, not left in the page.
    expect(await page.inputValue('#setup-password')).toBe('');
  });

  it('after logging out shows the login page with no first-run link, and logs back in', async () => {
    await page.click('#logout');
    await page.locator('#login-form').waitFor();
    // Give the setup check its round trip: the link must stay hidden now that an account exists.
    await page.waitForLoadState('networkidle');
    expect(await visible('#login-first-run')).toBe(false);
    expect(await visible('#setup')).toBe(false);
    await page.screenshot({ path: `${ARTIFACTS}/console-login.png` });

    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: `${ARTIFACTS}/console-login-mobile.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 860 });

    await page.fill('#login-email', EMAIL);
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.locator('#console').waitFor();
    expect(pageErrors).toEqual([]);
  });

  it('a setup page left open in another tab says an account exists when submitted', async () => {
    const other = await (await browser.newContext()).newPage();
    // The tab was opened before the account existed: show the form directly.
    await other.goto(`${server.url}/admin`);
    await other.locator('#login-form').waitFor();
    await other.evaluate(() => document.querySelector<HTMLButtonElement>('#show-setup')!.click());
    await other.fill('#setup-token', token);
    await other.fill('#setup-email', 'late@example.com');
    await other.fill('#setup-password', PASSWORD);
    await other.fill('#setup-password-again', PASSWORD);
    await other.click('#setup-form button[type=submit]');
    await other.locator('#login-form').waitFor();
    expect(await other.textContent('#login-error')).toBe('An admin account exists already: log in, or ask an admin for an account.');
    await other.close();
  });
});
