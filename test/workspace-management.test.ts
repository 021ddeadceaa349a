import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminStore } from '../src/admin/admin-store.js';
import { hashPassword } from '../src/admin/passwords.js';
import { loadConfig } from '../src/config/config.js';
import { Secret } from '../src/config/secret.js';
import type { AdminRole } from '../src/store/schema.js';
import { effectiveSettings, settingText } from '../src/workspaces/effective-settings.js';
import { parseWorkspaceSettings } from '../src/workspaces/workspace-settings.js';
import { AdminClient } from './helpers/admin-client.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { REDIS_TEST_URL } from './helpers/test-database.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Managing workspaces through the admin API (issue #19), against the real server, PostgreSQL and
 * Redis: the owner's routes (list, create, suspend, widget key, channel bindings, refusals) and
 * an admin's own workspace (settings, origins, credentials). Owner-only routes answer 403
 * `forbidden` to anyone else. Credentials go in and never come back: not in a response, not in an
 * audit row. A settings change reaches this instance's resolved configs at once and a second
 * instance on the same database and Redis through the directory's announcement.
 */

const ADMIN_TOKEN = 'workspace-admin-token-0123456789';
const PASSWORD = 'correct horse battery staple';
const MASTER_KEY = randomBytes(32).toString('base64');
const OPENAI_SECRET = `sk-proj-${randomBytes(20).toString('hex')}`;
const REDIS_PREFIX = `test-ws-${randomBytes(4).toString('hex')}`;
const SHARED_ENV = { ADMIN_TOKEN, SECRETS_MASTER_KEY: MASTER_KEY, REDIS_URL: REDIS_TEST_URL, REDIS_PREFIX, SYSTEM_PROMPT: 'You answer for the deployment.' };

let server: RunningApp;
let owner: AdminClient;
let defaultAdmin: AdminClient;
let acmeAdmin: AdminClient;
let acmeId: string;

async function account(email: string, role: AdminRole, workspaceId?: string): Promise<AdminClient> {
  await new AdminStore(server.app.database.db).createUser(email, await hashPassword(PASSWORD), { role, ...(workspaceId && { workspaceId }) });
  return AdminClient.session(server.url, email, PASSWORD);
}

/** A logged-in client that names the workspace it acts in on every request. */
async function actingIn(email: string, workspaceId: string): Promise<AdminClient> {
  const client = new AdminClient(server.url, { 'x-switchboard-workspace': workspaceId });
  const login = await client.post('/api/admin/login', { email, password: PASSWORD });
  expect(login.status).toBe(200);
  return client;
}

const auditRows = async () =>
  (await server.app.database.db.execute(sql`select action, detail::text as detail, workspace_id from admin_audit order by created_at`)) as unknown as {
    action: string;
    detail: string | null;
    workspace_id: string;
  }[];

beforeAll(async () => {
  server = await startTestApp(SHARED_ENV);
  owner = await account('owner@deploy.example', 'owner');
  defaultAdmin = await account('admin@deploy.example', 'admin');
});

afterAll(async () => {
  await server?.stop();
});

describe('the owner manages workspaces', () => {
  it('answers 401 without credentials, 403 csrf_invalid to a cookie write without the token, 403 forbidden to an admin', async () => {
    expect((await fetch(`${server.url}/api/admin/workspaces`)).status).toBe(401);
    const noCsrf = await fetch(`${server.url}/api/admin/workspaces`, {
      method: 'POST',
      headers: { cookie: owner.cookieHeader, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'nope', name: 'Nope' }),
    });
    expect(noCsrf.status).toBe(403);
    expect((await noCsrf.json()).error.code).toBe('csrf_invalid');

    for (const [method, path] of [
      ['GET', '/api/admin/workspaces'],
      ['POST', '/api/admin/workspaces'],
      ['PATCH', '/api/admin/workspaces/default'],
      ['POST', '/api/admin/workspaces/default/widget-key'],
      ['POST', '/api/admin/workspaces/default/channels'],
      ['DELETE', '/api/admin/workspaces/default/channels'],
      ['GET', '/api/admin/workspace/refusals'],
    ] as const) {
      const refused = await defaultAdmin.request(method, path, method === 'GET' ? undefined : { slug: 'x1', name: 'X' });
      expect(refused, `${method} ${path}`).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    }
  });

  it('lists the default workspace with its widget key, snippet and account count', async () => {
    const list = await owner.get('/api/admin/workspaces');
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([
      expect.objectContaining({ id: 'default', isDefault: true, status: 'active', widgetKey: expect.any(String), channels: [], accounts: 2 }),
    ]);
    expect(list.body.items[0].embedSnippet).toBe(`<script src="${server.url}/widget.js" data-workspace-key="${list.body.items[0].widgetKey}" defer></script>`);
  });

  it('creates a workspace (201) that the directory knows at once; a taken slug is 409 slug_taken; bad input names the field', async () => {
    const created = await owner.post('/api/admin/workspaces', {
      slug: 'acme',
      name: 'Acme Inc',
      allowedOrigins: ['https://acme.example/', 'https://shop.acme.example'],
      settings: { SYSTEM_PROMPT: 'You answer for Acme.', MAX_TOOL_STEPS: 4, FALLBACK_REPLY: '' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^ws_/),
      slug: 'acme',
      name: 'Acme Inc',
      status: 'active',
      isDefault: false,
      widgetKey: expect.stringMatching(/^wk_/),
      allowedOrigins: ['https://acme.example', 'https://shop.acme.example'],
      accounts: 0,
    });
    acmeId = created.body.id;
    expect(server.app.workspaces.get(acmeId)?.settings).toEqual({ SYSTEM_PROMPT: 'You answer for Acme.', MAX_TOOL_STEPS: 4 });
    expect(server.app.workspaces.routeWidget(created.body.widgetKey, 'https://acme.example').workspace?.id).toBe(acmeId);
    expect(server.app.workspaces.routeWidget(created.body.widgetKey, 'https://evil.example').refused).toBe('origin_not_allowed');

    expect(await owner.post('/api/admin/workspaces', { slug: 'acme', name: 'Acme again' })).toMatchObject({ status: 409, body: { error: { code: 'slug_taken' } } });
    const badSlug = await owner.post('/api/admin/workspaces', { slug: 'Acme Corp', name: 'A' });
    expect(badSlug).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload', message: expect.stringContaining('slug: expected 2 to 40 lowercase letters') } } });
    const badOrigin = await owner.post('/api/admin/workspaces', { slug: 'beta', name: 'Beta', allowedOrigins: ['https://beta.example/shop'] });
    expect(badOrigin.body.error.message).toContain('allowedOrigins.0: expected an origin');
    const badSettings = await owner.post('/api/admin/workspaces', { slug: 'beta', name: 'Beta', settings: { MAX_TOOL_STEPS: 99 } });
    expect(badSettings).toMatchObject({ status: 400, body: { error: { problems: [expect.stringMatching(/^MAX_TOOL_STEPS: /)] } } });
    expect((await owner.get('/api/admin/workspaces')).body.items.map((item: { slug: string }) => item.slug)).toEqual(['default', 'acme']);
  });

  it('suspends and re-activates a workspace; the default one cannot be suspended (409)', async () => {
    const suspended = await owner.request('PATCH', `/api/admin/workspaces/${acmeId}`, { status: 'suspended', name: 'Acme' });
    expect(suspended).toMatchObject({ status: 200, body: { status: 'suspended', name: 'Acme' } });
    const key = suspended.body.widgetKey as string;
    expect(server.app.workspaces.routeWidget(key, 'https://acme.example').refused).toBe('workspace_suspended');
    expect((await owner.request('PATCH', `/api/admin/workspaces/${acmeId}`, { status: 'active' })).body.status).toBe('active');
    expect(server.app.workspaces.routeWidget(key, 'https://acme.example').workspace?.id).toBe(acmeId);

    expect(await owner.request('PATCH', '/api/admin/workspaces/default', { status: 'suspended' })).toMatchObject({
      status: 409,
      body: { error: { code: 'default_not_suspendable' } },
    });
    expect(await owner.request('PATCH', '/api/admin/workspaces/default', {})).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining('send name or status') } } });
    expect(await owner.request('PATCH', '/api/admin/workspaces/ws_nothere', { name: 'X' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });

  it('rotates the widget key: the old one stops routing at once', async () => {
    const before = server.app.workspaces.get(acmeId)!.widgetKey;
    const rotated = await owner.post(`/api/admin/workspaces/${acmeId}/widget-key`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.widgetKey).not.toBe(before);
    expect(rotated.body.embedSnippet).toContain(`data-workspace-key="${rotated.body.widgetKey}"`);
    expect(server.app.workspaces.routeWidget(before, 'https://acme.example').refused).toBe('unknown_identity');
    expect(server.app.workspaces.routeWidget(rotated.body.widgetKey, 'https://acme.example').workspace?.id).toBe(acmeId);
  });

  it('binds and unbinds channel identities, validated per channel; an identity bound elsewhere is 409 identity_taken', async () => {
    const sms = await owner.post(`/api/admin/workspaces/${acmeId}/channels`, { channel: 'sms', identity: '+1 (415) 555-0100' });
    expect(sms.status).toBe(201);
    expect(sms.body.channels).toEqual([{ channel: 'sms', identity: '+14155550100' }]);
    expect(server.app.workspaces.route('sms', '+14155550100').workspace?.id).toBe(acmeId);
    const whatsapp = await owner.post(`/api/admin/workspaces/${acmeId}/channels`, { channel: 'whatsapp', identity: 'whatsapp:+14155550101' });
    expect(whatsapp.body.channels).toContainEqual({ channel: 'whatsapp', identity: '+14155550101' });
    expect((await owner.post(`/api/admin/workspaces/${acmeId}/channels`, { channel: 'slack', identity: 'T024BE7LD' })).status).toBe(201);
    expect((await owner.post(`/api/admin/workspaces/${acmeId}/channels`, { channel: 'whatsapp-cloud', identity: '106540352242922' })).status).toBe(201);
    // Binding it again to the same workspace is harmless.
    expect((await owner.post(`/api/admin/workspaces/${acmeId}/channels`, { channel: 'slack', identity: 't024be7ld' })).status).toBe(201);

    expect(await owner.post('/api/admin/workspaces/default/channels', { channel: 'sms', identity: '+14155550100' })).toMatchObject({
      status: 409,
      body: { error: { code: 'identity_taken' } },
    });
    for (const [channel, identity, expected] of [
      ['slack', 'U024BE7LH', 'identity: expected a Slack team id'],
      ['sms', '4155550100', 'identity: expected a phone number in E.164'],
      ['whatsapp-cloud', '+106540352242922', 'identity: expected a WhatsApp Cloud phone number id'],
      ['telegram', '12345', 'channel: expected one of slack, sms, whatsapp, whatsapp-cloud'],
    ] as const) {
      const bad = await owner.post(`/api/admin/workspaces/${acmeId}/channels`, { channel, identity });
      expect(bad, `${channel} ${identity}`).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload', message: expect.stringContaining(expected) } } });
    }

    const unbound = await owner.request('DELETE', `/api/admin/workspaces/${acmeId}/channels`, { channel: 'whatsapp-cloud', identity: '106540352242922' });
    expect(unbound.status).toBe(200);
    expect(unbound.body.channels).not.toContainEqual(expect.objectContaining({ channel: 'whatsapp-cloud' }));
    expect(server.app.workspaces.route('whatsapp-cloud', '106540352242922').refused).toBe('unknown_identity');
    expect((await owner.request('DELETE', `/api/admin/workspaces/${acmeId}/channels`, { channel: 'whatsapp-cloud', identity: '106540352242922' })).status).toBe(404);
  });

  it('shows the refused inbound messages to the owner, identities masked', async () => {
    await server.app.workspaces.refuse('sms', '+14155550199', 'unknown_identity');
    const refusals = await owner.get('/api/admin/workspace/refusals?limit=10');
    expect(refusals.status).toBe(200);
    expect(refusals.body.items[0]).toMatchObject({ channel: 'sms', identity: '+1***0199', reason: 'unknown_identity', createdAt: expect.any(String) });
    expect((await owner.get('/api/admin/workspace/refusals?limit=0')).status).toBe(400);
  });

  it('audits every write in the workspace it concerns', async () => {
    const rows = await auditRows();
    const acme = rows.filter((row) => row.workspace_id === acmeId).map((row) => row.action);
    expect(acme).toEqual(
      expect.arrayContaining(['workspaces.create', 'workspaces.update', 'workspaces.widget-key.rotate', 'workspaces.channels.bind', 'workspaces.channels.unbind']),
    );
    expect(rows.find((row) => row.action === 'workspaces.list')?.workspace_id).toBe('default');
  });
});

describe("an admin manages the caller's workspace", () => {
  beforeAll(async () => {
    acmeAdmin = await account('admin@acme.example', 'admin', acmeId);
  });

  it("reads its own workspace only: naming another one is 404 workspace_not_found; an operator is refused", async () => {
    const own = await acmeAdmin.get('/api/admin/workspace');
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: acmeId, slug: 'acme', settings: { SYSTEM_PROMPT: 'You answer for Acme.', MAX_TOOL_STEPS: 4 }, canManageWorkspaces: false });
    expect(own.body.embedSnippet).toContain(own.body.widgetKey);
    const effective = Object.fromEntries(own.body.effective.map((entry: { key: string; value: string; source: string }) => [entry.key, entry]));
    expect(effective.SYSTEM_PROMPT).toEqual({ key: 'SYSTEM_PROMPT', value: 'You answer for Acme.', source: 'workspace', deployment: 'You answer for the deployment.' });
    expect(effective.MAX_TOOL_STEPS).toEqual({ key: 'MAX_TOOL_STEPS', value: '4', source: 'workspace', deployment: '6' });
    expect(effective.WORKING_HOURS).toEqual({ key: 'WORKING_HOURS', value: '09:00-17:00', source: 'deployment', deployment: '09:00-17:00' });
    expect(effective.WORKING_DAYS).toEqual({ key: 'WORKING_DAYS', value: 'mon,tue,wed,thu,fri', source: 'deployment', deployment: 'mon,tue,wed,thu,fri' });
    expect(effective.SENSITIVE_TOOLS.value).toBe('book_meeting,share_drive_file,create_checkout_link');
    expect(effective.ENABLED_TOOLS).toEqual({ key: 'ENABLED_TOOLS', value: '', source: 'deployment', deployment: '' });
    expect(own.body.credentials.available).toBe(true);
    expect(own.body.credentials.integrations.map((entry: { integration: string }) => entry.integration)).toContain('openai');

    const elsewhere = new AdminClient(server.url, { 'x-switchboard-workspace': 'default', cookie: acmeAdmin.cookieHeader });
    expect(await elsewhere.get('/api/admin/workspace')).toMatchObject({ status: 404, body: { error: { code: 'workspace_not_found' } } });

    const operator = await account('operator@acme.example', 'operator', acmeId);
    expect(await operator.get('/api/admin/workspace')).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(await operator.request('PUT', '/api/admin/workspace/settings', { settings: {} })).toMatchObject({ status: 403 });
  });

  it('lets the owner act in any workspace with x-switchboard-workspace (a session or the token)', async () => {
    const ownerInAcme = await actingIn('owner@deploy.example', acmeId);
    expect(await ownerInAcme.get('/api/admin/workspace')).toMatchObject({ status: 200, body: { id: acmeId, canManageWorkspaces: true } });
    const token = new AdminClient(server.url, { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-switchboard-workspace': acmeId });
    expect((await token.get('/api/admin/workspace')).body.id).toBe(acmeId);
    expect((await owner.get('/api/admin/workspace')).body.id).toBe('default');
    const unknown = new AdminClient(server.url, { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-switchboard-workspace': 'ws_unknown' });
    expect(await unknown.get('/api/admin/workspace')).toMatchObject({ status: 404, body: { error: { code: 'workspace_not_found' } } });
  });

  it('refuses bad settings with a precise problem per key, and stores nothing', async () => {
    const bad = await acmeAdmin.request('PUT', '/api/admin/workspace/settings', {
      settings: { MAX_TOOL_STEPS: 'many', WORKING_HOURS: '17:00-09:00', DATABASE_URL: 'postgres://elsewhere', LLM_PROVIDERS: 'openai,skynet', SYSTEM_PROMPT: 'kept?' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_payload');
    expect(bad.body.error.problems).toEqual([
      expect.stringMatching(/^MAX_TOOL_STEPS: /),
      'WORKING_HOURS: expected HH:MM-HH:MM with the end after the start, e.g. 09:00-17:00',
      expect.stringMatching(/^DATABASE_URL: not a workspace setting/),
      'LLM_PROVIDERS: unknown provider "skynet" (expected anthropic, openai, groq)',
    ]);
    expect(JSON.stringify(bad.body)).not.toContain('postgres://elsewhere');
    expect(server.app.workspaces.get(acmeId)?.settings).toEqual({ SYSTEM_PROMPT: 'You answer for Acme.', MAX_TOOL_STEPS: 4 });
    expect(await acmeAdmin.request('PUT', '/api/admin/workspace/settings', { SYSTEM_PROMPT: 'x' })).toMatchObject({ status: 400 });
  });

  it('replaces the settings; the resolved config of the workspace changes at once (its cache is dropped)', async () => {
    const before = await server.app.workspaceConfigs.configFor(acmeId);
    expect(before.config.SYSTEM_PROMPT).toBe('You answer for Acme.');
    const saved = await acmeAdmin.request('PUT', '/api/admin/workspace/settings', {
      settings: { SYSTEM_PROMPT: 'Acme, second edition.', WORKING_DAYS: 'mon,wed', ENABLED_TOOLS: 'lookup_order', MAX_TOOL_STEPS: null },
    });
    expect(saved.status).toBe(200);
    expect(saved.body.settings).toEqual({ SYSTEM_PROMPT: 'Acme, second edition.', WORKING_DAYS: 'mon,wed', ENABLED_TOOLS: 'lookup_order' });
    const effective = Object.fromEntries(saved.body.effective.map((entry: { key: string }) => [entry.key, entry]));
    expect(effective.MAX_TOOL_STEPS).toMatchObject({ value: '6', source: 'deployment' });
    expect(effective.ENABLED_TOOLS).toMatchObject({ value: 'lookup_order', source: 'workspace' });
    const after = await server.app.workspaceConfigs.configFor(acmeId);
    expect(after.config.SYSTEM_PROMPT).toBe('Acme, second edition.');
    expect(after.config.WORKING_DAYS).toEqual([1, 3]);
    expect(after.config.MAX_TOOL_STEPS).toBe(6);
    expect(after.enabledTools).toEqual(['lookup_order']);
    expect((await server.app.workspaceConfigs.configFor('default')).config.SYSTEM_PROMPT).toBe('You answer for the deployment.');
    const audit = (await auditRows()).filter((row) => row.action === 'workspace.settings.update').at(-1)!;
    expect(audit.workspace_id).toBe(acmeId);
    expect(JSON.parse(audit.detail!)).toEqual({ changed: ['ENABLED_TOOLS', 'MAX_TOOL_STEPS', 'SYSTEM_PROMPT', 'WORKING_DAYS'] });
  });

  it('replaces the allowed origins, each checked', async () => {
    const saved = await acmeAdmin.request('PUT', '/api/admin/workspace/origins', { allowedOrigins: ['https://acme.example', 'http://localhost:8080/'] });
    expect(saved).toMatchObject({ status: 200, body: { allowedOrigins: ['https://acme.example', 'http://localhost:8080'] } });
    expect(server.app.workspaces.get(acmeId)?.allowedOrigins).toEqual(['https://acme.example', 'http://localhost:8080']);
    const bad = await acmeAdmin.request('PUT', '/api/admin/workspace/origins', { allowedOrigins: ['acme.example'] });
    expect(bad).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining('allowedOrigins.0: expected an origin') } } });
  });

  it('stores credentials sealed and shows them masked; no response or audit row holds the secret', async () => {
    const stored = await acmeAdmin.request('PUT', '/api/admin/workspace/credentials/openai', { values: { OPENAI_API_KEY: OPENAI_SECRET, OPENAI_MODEL: 'gpt-4o-mini' } });
    expect(stored.status).toBe(200);
    const openai = stored.body.credentials.integrations.find((entry: { integration: string }) => entry.integration === 'openai');
    expect(openai).toMatchObject({ mode: 'override', stored: { masked: { OPENAI_API_KEY: `${OPENAI_SECRET.slice(0, 4)}…${OPENAI_SECRET.slice(-4)}`, OPENAI_MODEL: 'gpt-4o-mini' } } });
    expect(openai.fields).toEqual([
      { name: 'OPENAI_API_KEY', secret: true, required: true },
      { name: 'OPENAI_BASE_URL', secret: false, required: false },
      { name: 'OPENAI_MODEL', secret: false, required: false },
    ]);
    expect(JSON.stringify(stored.body)).not.toContain(OPENAI_SECRET);
    expect(JSON.stringify((await acmeAdmin.get('/api/admin/workspace')).body)).not.toContain(OPENAI_SECRET);

    // A bad value is named by its field, never echoed.
    const badValue = `${OPENAI_SECRET} with spaces`;
    const bad = await acmeAdmin.request('PUT', '/api/admin/workspace/credentials/openai', { values: { OPENAI_API_KEY: badValue } });
    expect(bad).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_payload', integration: 'openai', issues: [{ field: 'OPENAI_API_KEY', message: 'must be one value without spaces' }] } },
    });
    expect(JSON.stringify(bad.body)).not.toContain(OPENAI_SECRET);
    const unknownField = await acmeAdmin.request('PUT', '/api/admin/workspace/credentials/stripe', { values: { STRIPE_SECRET_KEY: 'sk_test_123', STRIPE_PASSWORD: 'x' } });
    expect(unknownField.body.error.issues).toEqual([expect.objectContaining({ field: 'STRIPE_PASSWORD' })]);
    expect((await acmeAdmin.request('PUT', '/api/admin/workspace/credentials/myspace', { values: {} })).status).toBe(400);
    // The default workspace's credentials are its environment's.
    expect(await defaultAdmin.request('PUT', '/api/admin/workspace/credentials/openai', { values: { OPENAI_API_KEY: OPENAI_SECRET } })).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringContaining('from the environment') } },
    });

    const rows = await auditRows();
    expect(rows.find((row) => row.action === 'workspace.credentials.put')).toMatchObject({ workspace_id: acmeId });
    expect(JSON.parse(rows.find((row) => row.action === 'workspace.credentials.put')!.detail!)).toEqual({ integration: 'openai', fields: ['OPENAI_API_KEY', 'OPENAI_MODEL'] });
    expect(JSON.stringify(rows)).not.toContain(OPENAI_SECRET);
    const table = (await server.app.database.db.execute(sql`select ciphertext, wrapped_key, masked::text as masked from workspace_credentials`)) as unknown as object[];
    expect(table).toHaveLength(1);
    expect(JSON.stringify(table)).not.toContain(OPENAI_SECRET);

    const removed = await acmeAdmin.request('DELETE', '/api/admin/workspace/credentials/openai');
    expect(removed.status).toBe(200);
    expect(removed.body.credentials.integrations.find((entry: { integration: string }) => entry.integration === 'openai').stored).toBeNull();
    expect((await acmeAdmin.request('DELETE', '/api/admin/workspace/credentials/openai')).status).toBe(404);
  });
});

describe('a second instance on the same database and Redis', () => {
  let second: RunningApp;

  beforeAll(async () => {
    second = await startTestApp({ ...SHARED_ENV, DATABASE_URL: server.database!.url });
  });

  afterAll(async () => {
    await second?.stop();
  });

  it("sees a settings change and a new workspace once the directory announces them", async () => {
    const cached = await second.app.workspaceConfigs.configFor(acmeId);
    expect(cached.config.SYSTEM_PROMPT).toBe('Acme, second edition.');
    const saved = await acmeAdmin.request('PUT', '/api/admin/workspace/settings', { settings: { SYSTEM_PROMPT: 'Acme, third edition.' } });
    expect(saved.status).toBe(200);
    await waitFor(async () => (await second.app.workspaceConfigs.configFor(acmeId)).config.SYSTEM_PROMPT === 'Acme, third edition.', 'the second instance to drop its cached config');

    const created = await owner.post('/api/admin/workspaces', { slug: 'globex', name: 'Globex' });
    expect(created.status).toBe(201);
    await waitFor(() => second.app.workspaces.get(created.body.id), 'the second instance to know the new workspace');
    expect(second.app.workspaces.routeWidget(created.body.widgetKey, undefined).workspace?.slug).toBe('globex');
  });
});

describe('effective settings', () => {
  it('write the deployment value in its variable syntax, never a secret', () => {
    const secrets = { OPENAI_API_KEY: OPENAI_SECRET, STRIPE_SECRET_KEY: 'sk_live_0123456789abcdef', ADMIN_TOKEN: 'admin-token-never-shown-0123', HUBSPOT_ACCESS_TOKEN: 'pat-na1-secret-value' };
    const config = loadConfig({
      ...secrets,
      TOOL_CHANNEL_POLICY: 'sms=find_meeting_slots,create_crm_lead;whatsapp=',
      CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'jpy:50000,eur:100',
      FALLBACK_REPLY_BY_CHANNEL: '{"sms":"Text us later."}',
      WORKING_DAYS: 'mon,wed,fri',
      WORKING_HOURS: '08:30-16:45',
      LLM_PROVIDERS: 'openai',
      BUDGET_CONVERSATION_USD: '2.5',
    });
    const effective = effectiveSettings(config, {});
    const text = JSON.stringify(effective);
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    expect(text).not.toContain('[redacted]');
    const byKey = Object.fromEntries(effective.map((entry) => [entry.key, entry.deployment]));
    expect(byKey).toMatchObject({
      TOOL_CHANNEL_POLICY: 'sms=find_meeting_slots,create_crm_lead;whatsapp=',
      CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'jpy:50000,eur:100',
      FALLBACK_REPLY_BY_CHANNEL: '{"sms":"Text us later."}',
      WORKING_DAYS: 'mon,wed,fri',
      WORKING_HOURS: '08:30-16:45',
      LLM_PROVIDERS: 'openai',
      BUDGET_CONVERSATION_USD: '2.5',
      BUDGET_USER_DAILY_USD: '',
    });
    // Each one, typed back as a workspace setting, is accepted and means the same.
    for (const entry of effective.filter((candidate) => candidate.deployment !== '')) {
      const parsed = parseWorkspaceSettings({ [entry.key]: entry.deployment }).overrides as Record<string, unknown>;
      expect(parsed[entry.key], entry.key).toEqual((config as unknown as Record<string, unknown>)[entry.key]);
    }
    // A setting that were a secret would not be written out.
    expect(settingText('ANY', new Secret(OPENAI_SECRET))).toBe('[redacted]');
  });
});
