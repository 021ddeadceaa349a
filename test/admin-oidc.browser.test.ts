import { mkdir } from 'node:fs/promises';
import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAudit, adminUsers } from '../src/store/schema.js';
import { startFakeOidcProvider, type FakeOidcProvider } from './fakes/oidc-provider.js';
import { createAdmin } from './helpers/admin-seed.js';
import { launchChromium } from './helpers/browser.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * "Sign in with …" in Debian's headless Chromium: the console's login screen, the identity
 * provider's own login page (oidc-provider on localhost, another site than the app's 127.0.0.1),
 * and back into the console with a session, as a person does it. Then a refusal as a person
 * sees it, and a server with password login switched off.
 */

const ARTIFACTS = 'test-artifacts';
const CLIENT_ID = 'switchboard-console';
const CLIENT_SECRET = 'oidc-browser-client-secret-41d2';
const CALLBACK = '/api/admin/oidc/callback';

let idp: FakeOidcProvider;
let server: RunningApp;
let ssoOnly: RunningApp;
let browser: Browser;

const ssoEnv = () => ({
  OIDC_ISSUER_URL: idp.issuer,
  OIDC_CLIENT_ID: CLIENT_ID,
  OIDC_CLIENT_SECRET: CLIENT_SECRET,
  OIDC_PROVIDER_NAME: 'Acme ID',
  OIDC_SCOPES: 'openid email profile groups',
  OIDC_ALLOWED_DOMAINS: 'example.com',
  OIDC_ADMIN_GROUPS: 'sb-admins',
  OIDC_OPERATOR_GROUPS: 'sb-operators',
});

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  idp = await startFakeOidcProvider({
    alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Archer', given_name: 'Alice', groups: ['sb-operators'] },
    mallory: { email: 'mallory@elsewhere.org', email_verified: true, groups: ['sb-admins'] },
  });
  server = await startTestApp(ssoEnv());
  ssoOnly = await startTestApp({ ...ssoEnv(), ADMIN_PASSWORD_LOGIN: 'false' });
  await idp.registerClient({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUris: [`${server.url}${CALLBACK}`, `${ssoOnly.url}${CALLBACK}`],
  });
  // An account exists, so the console offers the login rather than the first-run setup.
  await createAdmin(server.app.database.db, 'ops@example.com', 'correct horse battery staple');
  await createAdmin(ssoOnly.app.database.db, 'ops@example.com', 'correct horse battery staple');
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await ssoOnly?.stop();
  await idp?.close();
});

async function newPage(): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('pageerror', (error) => console.error('[browser]', error.message));
  return page;
}

/** The provider's login page: the development login of oidc-provider (any password). */
async function signInAtProvider(page: Page, login: string) {
  await page.waitForURL((url) => url.origin === idp.issuer);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any password');
  await page.click('button[type=submit]');
}

describe('single sign-on in a real browser', () => {
  it('shows "Sign in with Acme ID" above the password form, and signs in through the provider into the console', async () => {
    const page = await newPage();
    await page.goto(`${server.url}/admin`);
    const button = page.locator('#sso-button');
    await button.waitFor();
    expect(await button.textContent()).toBe('Sign in with Acme ID');
    expect(await page.locator('#login-email').isVisible()).toBe(true);
    expect(await page.locator('#sso-or').isVisible()).toBe(true);
    expect(await page.locator('#sso-help').textContent()).toContain('Sign in with Acme ID');
    await page.screenshot({ path: `${ARTIFACTS}/console-login-sso.png` });

    await button.click();
    await signInAtProvider(page, 'alice');
    await page.waitForURL(`${server.url}/admin`);
    await page.locator('#console:not([hidden])').waitFor();
    await expect.poll(() => page.textContent('#whoami')).toBe('alice@example.com');
    expect(await page.getAttribute('#whoami', 'title')).toBe('Alice · operator');
    // The session cookie (SameSite=Strict) reaches the API and the live feed from the console's own page.
    await expect.poll(() => page.textContent('#live-status')).toBe('live');
    const [account] = await server.app.database.db.select().from(adminUsers).where(eq(adminUsers.email, 'alice@example.com'));
    expect(account).toMatchObject({ role: 'operator', passwordHash: null, oidcSubject: `${idp.issuer}|alice` });
    await page.screenshot({ path: `${ARTIFACTS}/console-after-sso.png` });
    await page.context().close();
  });

  it('brings a refused person back to the login screen with the reason, and no session', async () => {
    const page = await newPage();
    await page.goto(`${server.url}/admin`);
    await page.click('#sso-button');
    await signInAtProvider(page, 'mallory');
    await page.waitForURL((url) => url.origin === server.url && url.pathname === '/admin');
    await expect.poll(() => page.textContent('#login-error')).toBe('Accounts of your email domain cannot sign in to this console.');
    // The reason is shown once, not kept in the address.
    expect(new URL(page.url()).search).toBe('');
    expect(await page.locator('#console').isHidden()).toBe(true);
    const [refusal] = await server.app.database.db.select().from(adminAudit).where(eq(adminAudit.actor, 'mallory@elsewhere.org'));
    expect(refusal).toMatchObject({ action: 'login.failed', detail: { method: 'oidc', reason: 'domain_not_allowed' } });
    await page.screenshot({ path: `${ARTIFACTS}/console-login-sso-refused.png` });
    await page.context().close();
  });

  it('shows only single sign-on when password login is switched off', async () => {
    const page = await newPage();
    await page.goto(`${ssoOnly.url}/admin`);
    await page.locator('#sso-button').waitFor();
    await expect.poll(() => page.locator('#password-login').isHidden()).toBe(true);
    expect(await page.locator('#sso-or').isHidden()).toBe(true);
    expect(await page.locator('.password-help').first().isHidden()).toBe(true);
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('sso-button');
    await page.screenshot({ path: `${ARTIFACTS}/console-login-sso-only.png` });

    await page.keyboard.press('Enter');
    await signInAtProvider(page, 'alice');
    await page.waitForURL(`${ssoOnly.url}/admin`);
    await expect.poll(() => page.textContent('#whoami')).toBe('alice@example.com');
    await page.context().close();
  });
});
