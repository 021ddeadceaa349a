import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../src/admin/passwords.js';
import { AdminStore } from '../src/admin/admin-store.js';
import { LoginTransactionSealer } from '../src/admin/oidc/login-transaction.js';
import { oidcSettingsFrom } from '../src/admin/oidc/oidc-settings.js';
import { claimValues, roleFromClaims } from '../src/admin/oidc/role-mapping.js';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { adminAudit, adminSessions, adminUsers } from '../src/store/schema.js';
import { startFakeOidcProvider, type FakeOidcProvider } from './fakes/oidc-provider.js';
import { CookieJar, request, walkToCallback, type Hop } from './helpers/redirect-walker.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * Console sign-in through the company's identity provider (OIDC authorization code + PKCE)
 * against a real provider (oidc-provider on localhost), followed redirect by redirect with a
 * cookie jar as a browser would. Password login is switched off on this server.
 */

const CLIENT_ID = 'switchboard-console';
const CLIENT_SECRET = 'oidc-test-client-secret-7f3a9c';
const CALLBACK = '/api/admin/oidc/callback';

let idp: FakeOidcProvider;
let server: RunningApp;
let appHost: string;
const logLines: string[] = [];

beforeAll(async () => {
  idp = await startFakeOidcProvider({
    alice: { email: 'Alice@Example.com', email_verified: true, name: 'Alice Archer', given_name: 'Alice', groups: ['sb-operators'] },
    bob: { email: 'bob@example.com', email_verified: true, groups: ['everyone'] },
    dave: { email: 'dave@example.com', email_verified: true, groups: ['sb-admins'] },
    erin: { email: 'erin@example.com', email_verified: true, groups: ['sb-admins'] },
    frank: { email: 'frank@example.com', email_verified: true, groups: ['sb-admins'] },
    gina: { email: 'gina@example.com', email_verified: true, groups: ['sb-admins'] },
    hank: { email: 'hank@example.com', email_verified: true, groups: ['sb-admins'] },
    mallory: { email: 'mallory@elsewhere.org', email_verified: true, groups: ['sb-admins'] },
    una: { email: 'una@example.com', email_verified: false, groups: ['sb-admins'] },
    pat: { email: 'pat@example.com', email_verified: true, groups: ['sb-operators'] },
    impostor: { email: 'pat@example.com', email_verified: true, groups: ['sb-admins'] },
  });
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  server = await startTestApp(
    {
      OIDC_ISSUER_URL: idp.issuer,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_PROVIDER_NAME: 'Acme ID',
      OIDC_SCOPES: 'openid email profile groups',
      OIDC_ALLOWED_DOMAINS: 'example.com',
      OIDC_ADMIN_GROUPS: 'sb-admins',
      OIDC_OPERATOR_GROUPS: 'sb-operators,support',
      ADMIN_PASSWORD_LOGIN: 'false',
    },
    { logger: createLogger({ level: 'debug', destination }) },
  );
  appHost = new URL(server.url).host;
  await idp.registerClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${server.url}${CALLBACK}`] });
});

afterAll(async () => {
  await server?.stop();
  await idp?.close();
});

const db = () => server.app.database.db;
const startUrl = () => new URL('/api/admin/oidc/start', server.url);

async function account(email: string) {
  const [row] = await db().select().from(adminUsers).where(eq(adminUsers.email, email));
  return row;
}

async function sessionsOf(email: string): Promise<number> {
  const user = await account(email);
  if (!user) return 0;
  return (await db().select().from(adminSessions).where(eq(adminSessions.adminUserId, user.id))).length;
}

/** The newest sign-in row (login or login.failed) of an actor. */
async function lastAudit(actor: string) {
  const rows = await db().select().from(adminAudit).where(eq(adminAudit.actor, actor)).orderBy(adminAudit.createdAt);
  return rows.filter((row) => row.action.startsWith('login')).at(-1);
}

/** The app's API with the jar's session cookie (and the CSRF token for writes), as the console calls it. */
async function api(jar: CookieJar, method: string, path: string): Promise<{ status: number; body: any }> {
  const url = new URL(path, server.url);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    const csrf = await api(jar, 'GET', '/api/admin/csrf');
    headers['x-csrf-token'] = csrf.body.csrfToken;
    headers['content-type'] = 'application/json';
  }
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  const response = await fetch(url, { method, headers, ...(method !== 'GET' && { body: '{}' }) });
  jar.keep(url, response.headers.getSetCookie());
  return { status: response.status, body: await response.json() };
}

/** Every code and state the provider sent back, to look for in the logs. */
const seen = new Set<string>();

async function toCallback(jar: CookieJar, login: string): Promise<URL> {
  const callback = await walkToCallback(jar, startUrl(), login);
  for (const name of ['code', 'state']) seen.add(callback.searchParams.get(name)!);
  return callback;
}

/** A whole sign-in: start, the provider's login, the callback. */
async function signIn(login: string): Promise<{ jar: CookieJar; callback: URL; hop: Hop }> {
  const jar = new CookieJar();
  const callback = await toCallback(jar, login);
  const hop = await request(jar, callback);
  return { jar, callback, hop };
}

/** The callback as an API client asks for it: the refusal as JSON. */
const callbackJson = (jar: CookieJar, callback: URL) => request(jar, callback, { accept: 'application/json' });

async function expectRefused(hop: Hop, reason: string) {
  expect(hop.status).toBe(403);
  const body = JSON.parse(hop.body);
  expect(body.error).toMatchObject({ code: 'sso_refused', reason });
  expect(body.error.message).toEqual(expect.any(String));
  // No session; the one-use sign-in cookie is cleared.
  expect(hop.setCookies.filter((line) => line.startsWith('sb_admin='))).toEqual([]);
  expect(hop.setCookies.find((line) => line.startsWith('sb_admin_oidc='))).toMatch(/^sb_admin_oidc=;/);
  return body.error as { code: string; reason: string; message: string };
}

describe('the login screen and password login', () => {
  it('tells the login screen which ways in are on, without credentials', async () => {
    const response = await fetch(`${server.url}/api/admin/login-options`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ password: false, sso: { name: 'Acme ID', startUrl: '/api/admin/oidc/start' } });
  });

  it('refuses password login with 403 password_login_disabled when it is switched off, and audits it', async () => {
    await new AdminStore(db()).createUser('ops@example.com', await hashPassword('correct horse battery staple'));
    const response = await fetch(`${server.url}/api/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ops@example.com', password: 'correct horse battery staple' }),
    });
    expect(response.status).toBe(403);
    const body = await response.json();
    expect(body.error.code).toBe('password_login_disabled');
    expect(body.error.message).toContain('Acme ID');
    expect(response.headers.getSetCookie().some((line) => line.startsWith('sb_admin='))).toBe(false);
    expect(await lastAudit('ops@example.com')).toMatchObject({ action: 'login.failed', detail: { method: 'password', reason: 'password_login_disabled' } });
    expect(await sessionsOf('ops@example.com')).toBe(0);
  });
});

describe('sign-in with the identity provider', () => {
  it('sends the browser to the provider with PKCE, state and nonce, kept in a sealed short-lived cookie', async () => {
    const jar = new CookieJar();
    const start = await request(jar, startUrl());
    expect(start.status).toBe(302);
    const to = start.location!;
    expect(to.origin).toBe(idp.issuer);
    expect(to.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(to.searchParams.get('response_type')).toBe('code');
    expect(to.searchParams.get('code_challenge_method')).toBe('S256');
    expect(to.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(to.searchParams.get('redirect_uri')).toBe(`${server.url}${CALLBACK}`);
    expect(to.searchParams.get('scope')).toBe('openid email profile groups');
    const state = to.searchParams.get('state')!;
    const nonce = to.searchParams.get('nonce')!;
    expect(state.length).toBeGreaterThanOrEqual(32);
    expect(nonce.length).toBeGreaterThanOrEqual(32);

    const response = await fetch(startUrl(), { redirect: 'manual' });
    const cookieLine = response.headers.getSetCookie().find((line) => line.startsWith('sb_admin_oidc='))!;
    expect(cookieLine).toMatch(/HttpOnly/i);
    expect(cookieLine).toMatch(/SameSite=Lax/i);
    expect(cookieLine).toMatch(/Path=\/api\/admin\/oidc/);
    expect(cookieLine).toMatch(/Max-Age=600/);
    // Sealed: the state, nonce and verifier cannot be read out of it (nor changed).
    const sealed = jar.get(appHost, 'sb_admin_oidc')!;
    expect(Buffer.from(sealed, 'base64url').toString('latin1')).not.toContain(state);
  });

  it('signs in through the provider, makes the account just in time with the mapped role, and the session works on the admin API', async () => {
    const { jar, hop } = await signIn('alice');
    expect(hop.status).toBe(302);
    expect(hop.location!.pathname).toBe('/admin');

    const me = await api(jar, 'GET', '/api/admin/me');
    expect(me).toMatchObject({ status: 200, body: { actor: 'session', email: 'alice@example.com', role: 'operator', name: 'Alice' } });
    expect((await api(jar, 'GET', '/api/admin/conversations')).status).toBe(200);
    expect((await api(jar, 'GET', '/api/admin/handoffs')).status).toBe(200);
    // An operator, not an admin.
    expect(await api(jar, 'GET', '/api/admin/accounts')).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });

    const user = await account('alice@example.com');
    expect(user).toMatchObject({ role: 'operator', passwordHash: null, oidcSubject: `${idp.issuer}|alice`, name: 'Alice' });
    expect(await lastAudit('alice@example.com')).toMatchObject({ action: 'login', detail: { method: 'oidc', role: 'operator', created: true } });
    // The sign-in cookie was for one use.
    expect(jar.get(appHost, 'sb_admin_oidc')).toBeUndefined();
  });

  it('sets the session cookie exactly as a password login does, and CSRF applies to its writes', async () => {
    const jar = new CookieJar();
    const callback = await toCallback(jar, 'bob');
    const response = await fetch(callback, { redirect: 'manual', headers: { cookie: jar.header(callback) } });
    expect(response.status).toBe(302);
    const line = response.headers.getSetCookie().find((cookie) => cookie.startsWith('sb_admin='))!;
    expect(line).toMatch(/Path=\/(;|$)/);
    expect(line).toMatch(/HttpOnly/i);
    expect(line).toMatch(/SameSite=Strict/i);
    expect(line).toMatch(/Expires=/i);
    jar.keep(callback, response.headers.getSetCookie());

    // bob is in no mapped group: a viewer.
    expect((await api(jar, 'GET', '/api/admin/me')).body).toMatchObject({ email: 'bob@example.com', role: 'viewer' });
    const noCsrf = await fetch(`${server.url}/api/admin/logout`, { method: 'POST', headers: { cookie: jar.header(new URL(server.url)) } });
    expect(noCsrf.status).toBe(403);
    expect((await noCsrf.json()).error.code).toBe('csrf_invalid');
    expect((await api(jar, 'POST', '/api/admin/logout')).status).toBe(200);
    expect((await api(jar, 'GET', '/api/admin/me')).status).toBe(401);
  });

  it('applies a role change at the provider on the next sign-in, and ends the sessions of the old role', async () => {
    const first = await signIn('pat');
    expect((await api(first.jar, 'GET', '/api/admin/me')).body.role).toBe('operator');

    idp.users.get('pat')!.groups = ['sb-admins'];
    const second = await signIn('pat');
    expect((await api(second.jar, 'GET', '/api/admin/me')).body.role).toBe('admin');
    expect((await api(second.jar, 'GET', '/api/admin/accounts')).status).toBe(200);
    expect((await api(first.jar, 'GET', '/api/admin/me')).status).toBe(401);
    expect(await lastAudit('pat@example.com')).toMatchObject({ action: 'login', detail: { method: 'oidc', role: 'admin', previousRole: 'operator' } });

    idp.users.get('pat')!.groups = [];
    const third = await signIn('pat');
    expect((await api(third.jar, 'GET', '/api/admin/me')).body.role).toBe('viewer');
    expect((await account('pat@example.com'))!.role).toBe('viewer');
  });

  it('links an existing password account with the same email on its first single sign-on', async () => {
    await new AdminStore(db()).createUser('hank@example.com', await hashPassword('correct horse battery staple'), { role: 'viewer' });
    const { jar } = await signIn('hank');
    expect((await api(jar, 'GET', '/api/admin/me')).body).toMatchObject({ email: 'hank@example.com', role: 'admin' });
    const user = await account('hank@example.com');
    expect(user!.oidcSubject).toBe(`${idp.issuer}|hank`);
    expect(user!.passwordHash).not.toBeNull();
  });
});

describe('refusals: audited, no account, no session', () => {
  it('refuses an ID token made for another client (wrong audience)', async () => {
    const jar = new CookieJar();
    const callback = await toCallback(jar, 'dave');
    idp.tamperNextIdToken((claims) => ({ ...claims, aud: 'another-app' }));
    const error = await expectRefused(await callbackJson(jar, callback), 'response_invalid');
    expect(error.message).not.toContain(callback.searchParams.get('code')!);
    expect(await account('dave@example.com')).toBeUndefined();
    expect(await lastAudit('oidc')).toMatchObject({ action: 'login.failed', detail: { method: 'oidc', reason: 'response_invalid', claim: 'aud' } });
  });

  it('refuses an ID token with another nonce (a token from another sign-in)', async () => {
    const jar = new CookieJar();
    const callback = await toCallback(jar, 'dave');
    idp.tamperNextIdToken((claims) => ({ ...claims, nonce: 'a-nonce-from-some-other-sign-in' }));
    await expectRefused(await callbackJson(jar, callback), 'response_invalid');
    expect(await lastAudit('oidc')).toMatchObject({ detail: { reason: 'response_invalid', claim: 'nonce' } });
    expect(await account('dave@example.com')).toBeUndefined();
  });

  it('refuses an expired code', async () => {
    const jar = new CookieJar();
    idp.codeTtlSeconds = 1;
    let callback: URL;
    try {
      callback = await toCallback(jar, 'erin');
    } finally {
      idp.codeTtlSeconds = 60;
    }
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await expectRefused(await callbackJson(jar, callback), 'code_rejected');
    expect(await account('erin@example.com')).toBeUndefined();
    expect(await lastAudit('oidc')).toMatchObject({ action: 'login.failed', detail: { method: 'oidc', reason: 'code_rejected', idpError: 'invalid_grant' } });
  });

  it('refuses a replayed code, even with the sign-in cookie it came with', async () => {
    const jar = new CookieJar();
    const callback = await toCallback(jar, 'frank');
    const attacker = jar.clone();
    const first = await request(jar, callback);
    expect(first.location!.pathname).toBe('/admin');
    expect(await sessionsOf('frank@example.com')).toBe(1);

    await expectRefused(await callbackJson(attacker, callback), 'code_rejected');
    expect(await sessionsOf('frank@example.com')).toBe(1);
    expect(await lastAudit('oidc')).toMatchObject({ detail: { reason: 'code_rejected', idpError: 'invalid_grant' } });
    // And the browser that used it has no sign-in cookie left to try again with.
    await expectRefused(await callbackJson(jar, callback), 'state_mismatch');
  });

  it('refuses a forged state, and a callback that arrives in a browser that did not start the sign-in', async () => {
    const jar = new CookieJar();
    const callback = await toCallback(jar, 'gina');
    const forged = new URL(callback);
    forged.searchParams.set('state', 'forged-state-forged-state-forged-state');
    await expectRefused(await callbackJson(jar.clone(), forged), 'state_mismatch');

    // The code itself, sent from another browser (login CSRF): no sign-in cookie there.
    await expectRefused(await callbackJson(new CookieJar(), callback), 'state_mismatch');
    expect(await account('gina@example.com')).toBeUndefined();
    expect(await lastAudit('oidc')).toMatchObject({ action: 'login.failed', detail: { method: 'oidc', reason: 'state_mismatch' } });

    // The genuine callback still works in the browser that started it.
    const genuine = await request(jar, callback);
    expect(genuine.location!.pathname).toBe('/admin');
    expect((await account('gina@example.com'))!.role).toBe('admin');
  });

  it('refuses a person outside OIDC_ALLOWED_DOMAINS, and sends a browser back to the login screen with the reason', async () => {
    const jar = new CookieJar();
    const callback = await toCallback(jar, 'mallory');
    const hop = await request(jar, callback);
    expect(hop.status).toBe(302);
    expect(`${hop.location!.pathname}${hop.location!.search}`).toBe('/admin?sso_error=domain_not_allowed');
    expect(jar.get(appHost, 'sb_admin')).toBeUndefined();
    expect(await account('mallory@elsewhere.org')).toBeUndefined();
    expect(await lastAudit('mallory@elsewhere.org')).toMatchObject({
      action: 'login.failed',
      detail: { method: 'oidc', reason: 'domain_not_allowed', domain: 'elsewhere.org' },
    });
  });

  it('refuses an email the provider marks unverified', async () => {
    const jar = new CookieJar();
    const callback = await toCallback(jar, 'una');
    await expectRefused(await callbackJson(jar, callback), 'email_unverified');
    expect(await account('una@example.com')).toBeUndefined();
    expect(await lastAudit('una@example.com')).toMatchObject({ action: 'login.failed', detail: { reason: 'email_unverified' } });
  });

  it("refuses another subject with an email an SSO account already has", async () => {
    const jar = new CookieJar();
    const callback = await toCallback(jar, 'impostor');
    await expectRefused(await callbackJson(jar, callback), 'account_conflict');
    expect((await account('pat@example.com'))!.oidcSubject).toBe(`${idp.issuer}|pat`);
    expect(await lastAudit('pat@example.com')).toMatchObject({ action: 'login.failed', detail: { reason: 'account_conflict' } });
  });

  it('refuses an error answer from the provider', async () => {
    const jar = new CookieJar();
    const callback = await toCallback(jar, 'dave');
    const denied = new URL(CALLBACK, server.url);
    denied.searchParams.set('error', 'access_denied');
    denied.searchParams.set('state', callback.searchParams.get('state')!);
    await expectRefused(await callbackJson(jar, denied), 'idp_error');
    expect(await lastAudit('oidc')).toMatchObject({ detail: { reason: 'idp_error', idpError: 'access_denied' } });
    expect(await account('dave@example.com')).toBeUndefined();
  });

  it('keeps the client secret, codes, state and tokens out of the logs', async () => {
    const logged = logLines.join('\n');
    expect(logged).toContain('single sign-on refused');
    expect(logged).not.toContain(CLIENT_SECRET);
    expect(logged).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\./);
    expect(seen.size).toBeGreaterThan(10);
    for (const value of seen) expect(logged).not.toContain(value);
    const audit = JSON.stringify(await db().select().from(adminAudit).where(and(eq(adminAudit.action, 'login.failed'))));
    expect(audit).not.toContain(CLIENT_SECRET);
    expect(audit).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\./);
  });
});

describe('an identity provider that cannot be reached', () => {
  it('sends the browser back to the login screen, answers 503 unavailable to an API client, and logs no secret', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const down = await startTestApp(
      { OIDC_ISSUER_URL: `http://localhost:${port}`, OIDC_CLIENT_ID: CLIENT_ID, OIDC_CLIENT_SECRET: CLIENT_SECRET },
      { logger: createLogger({ level: 'debug', destination }) },
    );
    try {
      const jar = new CookieJar();
      const browserHop = await request(jar, new URL('/api/admin/oidc/start', down.url));
      expect(browserHop.status).toBe(302);
      expect(`${browserHop.location!.pathname}${browserHop.location!.search}`).toBe('/admin?sso_error=provider_unavailable');
      expect(jar.get(new URL(down.url).host, 'sb_admin_oidc')).toBeUndefined();
      const apiHop = await request(jar, new URL('/api/admin/oidc/start', down.url), { accept: 'application/json' });
      expect(apiHop.status).toBe(503);
      expect(JSON.parse(apiHop.body).error.code).toBe('unavailable');
      expect(lines.join('\n')).toContain('OIDC discovery failed');
      expect(lines.join('\n')).not.toContain(CLIENT_SECRET);
    } finally {
      await down.stop();
    }
  });
});

describe('settings and pieces', () => {
  const base = { OIDC_ISSUER_URL: 'https://id.example.com', OIDC_CLIENT_ID: 'console', OIDC_CLIENT_SECRET: 's3cret-value' };

  it('reads the OIDC settings, and names the variable of a bad or missing one without echoing secrets', () => {
    const config = loadConfig({ ...base, OIDC_ALLOWED_DOMAINS: 'Example.com, @example.org', OIDC_ADMIN_GROUPS: 'Admins, ops-leads', PUBLIC_URL: 'https://sb.example.com/' });
    const settings = oidcSettingsFrom(config)!;
    expect(settings).toMatchObject({
      clientId: 'console',
      scopes: 'openid email profile',
      providerName: 'SSO',
      allowedDomains: ['example.com', 'example.org'],
      roles: { claim: 'groups', adminGroups: ['Admins', 'ops-leads'], operatorGroups: [] },
      redirectUrl: 'https://sb.example.com/api/admin/oidc/callback',
    });
    expect(String(settings.clientSecret)).toBe('[redacted]');
    expect(oidcSettingsFrom(loadConfig({}))).toBeUndefined();
    expect(loadConfig({}).ADMIN_PASSWORD_LOGIN).toBe(true);

    const problem = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return undefined;
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
    };
    expect(problem({ ...base, OIDC_CLIENT_SECRET: '' })).toContain('OIDC_CLIENT_SECRET: required when OIDC_ISSUER_URL is set');
    expect(problem({ OIDC_CLIENT_SECRET: 'abc' })).toContain('OIDC_ISSUER_URL: required when OIDC_CLIENT_SECRET is set');
    expect(problem({ ...base, OIDC_ISSUER_URL: 'http://id.example.com' })).toContain('OIDC_ISSUER_URL: must be an https: URL');
    expect(problem({ ...base, OIDC_ISSUER_URL: 'http://localhost:8080/realms/acme' })).toBeUndefined();
    expect(problem({ ADMIN_PASSWORD_LOGIN: 'false' })).toContain('ADMIN_PASSWORD_LOGIN');
    expect(problem({ ...base, OIDC_ALLOWED_DOMAINS: 'example.com,not a domain' })).toContain('OIDC_ALLOWED_DOMAINS');
    expect(problem({ ...base, OIDC_SCOPES: 'email profile' })).toContain('OIDC_SCOPES: must include openid');
    expect(problem({ ...base, OIDC_CLIENT_SECRET: '' }) ?? '').not.toContain('s3cret-value');
  });

  it('maps the role claim: arrays, space- or comma-separated strings, nested paths; the highest role wins', () => {
    const mapping = { claim: 'groups', adminGroups: ['Admins'], operatorGroups: ['Support', 'ops'] };
    expect(roleFromClaims({ groups: ['Support', 'Admins'] }, mapping)).toBe('admin');
    expect(roleFromClaims({ groups: 'ops staff' }, mapping)).toBe('operator');
    expect(roleFromClaims({ groups: 'staff,ops' }, mapping)).toBe('operator');
    expect(roleFromClaims({ groups: ['admins'] }, mapping)).toBe('viewer');
    expect(roleFromClaims({}, mapping)).toBe('viewer');
    expect(roleFromClaims({ groups: [{ name: 'Admins' }, 7] }, mapping)).toBe('viewer');
    expect(claimValues({ realm_access: { roles: ['a', 'b'] } }, 'realm_access.roles')).toEqual(['a', 'b']);
    // A namespaced claim (Auth0) is a URL with dots: its exact name wins over a path.
    expect(claimValues({ 'https://acme.example/roles': ['x'] }, 'https://acme.example/roles')).toEqual(['x']);
    expect(claimValues({ constructor: 'x' }, 'toString')).toEqual([]);
  });

  it('seals the sign-in cookie: unreadable, tamper-evident, bound to the key, and expiring', () => {
    let now = 1_000_000;
    const sealer = new LoginTransactionSealer('client-secret-one', () => now);
    const transaction = { state: 's'.repeat(43), nonce: 'n'.repeat(43), codeVerifier: 'v'.repeat(43), redirectUri: 'https://sb.example.com/cb', expiresAt: now + 600_000 };
    const sealed = sealer.seal(transaction);
    expect(sealer.open(sealed)).toEqual(transaction);
    expect(Buffer.from(sealed, 'base64url').toString('latin1')).not.toContain('sssss');
    const raw = Buffer.from(sealed, 'base64url');
    raw[20] = raw[20]! ^ 1;
    expect(sealer.open(raw.toString('base64url'))).toBeUndefined();
    expect(new LoginTransactionSealer('client-secret-two', () => now).open(sealed)).toBeUndefined();
    expect(sealer.open('')).toBeUndefined();
    expect(sealer.open('not-a-cookie')).toBeUndefined();
    now += 600_001;
    expect(sealer.open(sealed)).toBeUndefined();
  });
});
