import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_WORKSPACE_ID } from '../src/config/workspace.js';
import type { Db } from '../src/store/database.js';
import { adminAudit, adminUsers, channelDeliveries, conversationNotes, conversations, handoffs, messages, paymentEvents } from '../src/store/schema.js';
import { AdminClient } from './helpers/admin-client.js';
import { createAdmin, seedConversation, seedToolCall, seedTurn, type SeedConversation } from './helpers/admin-seed.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Two workspaces on one server, with data in both (conversations, messages, tool calls, a
 * handoff, a note, a failed delivery, a payment event), an admin of each, an operator of each
 * and a deployment owner. Every admin route is listed below with how it keeps to the caller's
 * workspace; a route the server registers that the table does not list fails the first test.
 * Then the live feed: each console hears only its workspace's conversations.
 */

const ADMIN_TOKEN = 'workspace-isolation-token-0123456789';
const PASSWORD = 'correct horse battery staple';
const WORKSPACE_HEADER = 'x-switchboard-workspace';
/** The same phone number writes to both businesses: two people as far as each workspace knows. */
const SHARED_PHONE = '+14155550100';

let server: RunningApp;
let db: Db;

interface Fixture {
  workspaceId: string;
  tag: 'A' | 'B';
  /** SMS, with a waiting handoff, a note, a failed delivery, a payment event, a priced reply and a failed tool call. */
  main: SeedConversation;
  /** Web, with the agent: what takeovers act on. */
  agent: SeedConversation;
  toolCallId: string;
  deliveryId: string;
  paymentEventId: string;
  costUsd: number;
  /** The emails of the workspace's accounts (the owner's account lives in the default workspace). */
  emails: string[];
  /** Conversations made during the test (live traffic), added as they appear. */
  extraConversations: string[];
}

let A: Fixture;
let B: Fixture;
const accounts: Record<'adminA' | 'adminB' | 'operatorA' | 'operatorB' | 'owner', string> = {} as never;
/** Clients: adminA, adminB, owner (acting in default), owner acting in B, token, token acting in B. */
let asA: AdminClient;
let asB: AdminClient;
let owner: AdminClient;
let ownerInB: AdminClient;
let token: AdminClient;
let tokenInB: AdminClient;

const NO_SUCH_ID = '00000000-0000-4000-8000-000000000000';
const other = (fixture: Fixture) => (fixture === A ? B : A);
const conversationIds = (fixture: Fixture) => [fixture.main.id, fixture.agent.id, ...fixture.extraConversations];

async function seedWorkspace(workspaceId: string, tag: 'A' | 'B', emails: string[]): Promise<Fixture> {
  const at = new Date(Date.now() - 3600_000 + (tag === 'A' ? 0 : 60_000));
  const main = await seedConversation(db, 'sms', SHARED_PHONE, at, { workspaceId });
  const turn = await seedTurn(db, main, { text: `hello from ${tag}`, reply: `hi ${tag}`, at });
  const costUsd = tag === 'A' ? 0.25 : 0.5;
  await db.update(messages).set({ costUsd, inputTokens: 100, outputTokens: 10 }).where(eq(messages.id, turn.replyId));
  const toolCallId = await seedToolCall(db, main, turn.userMessageId, { toolName: `lookup_${tag}`, status: 'error', at, error: `boom ${tag}` });
  await db.insert(handoffs).values({ id: randomUUID(), conversationId: main.id, status: 'waiting', reason: 'keyword', requestedAt: at });
  await db.update(conversations).set({ mode: 'human' }).where(eq(conversations.id, main.id));
  await db.insert(conversationNotes).values({ id: randomUUID(), conversationId: main.id, author: `ops-${tag}`, text: `note of ${tag}` });
  const deliveryId = randomUUID();
  await db.insert(channelDeliveries).values({ id: deliveryId, conversationId: main.id, channel: 'sms', kind: 'reply', status: 'failed', attempts: 3, error: `failed ${tag}`, createdAt: at });
  const paymentEventId = `evt_${tag}_${randomUUID().slice(0, 8)}`;
  await db.insert(paymentEvents).values({
    id: paymentEventId,
    workspaceId,
    type: 'checkout.session.completed',
    createdAt: at,
    livemode: false,
    conversationId: main.id,
    toolCallId,
    status: 'processed',
    outcome: 'paid',
    receivedAt: at,
    processedAt: at,
  });
  const agent = await seedConversation(db, 'web', `visitor:${tag.toLowerCase()}${randomUUID().slice(0, 8)}`, at, { workspaceId });
  await seedTurn(db, agent, { text: `web ${tag}`, at });
  return { workspaceId, tag, main, agent, toolCallId, deliveryId, paymentEventId, costUsd, emails, extraConversations: [] };
}

beforeAll(async () => {
  server = await startTestApp({ ADMIN_TOKEN, FALLBACK_REPLY: 'Sorry, nobody can answer right now.' });
  db = server.app.database.db;
  const second = await server.app.workspaceRecords.create({ slug: 'acme', name: 'Acme' });
  await server.app.workspaces.changed();

  accounts.adminA = (await createAdmin(db, 'admin@a.example', PASSWORD, { name: 'Ada' }))!;
  accounts.operatorA = (await createAdmin(db, 'operator@a.example', PASSWORD, { role: 'operator' }))!;
  accounts.owner = (await createAdmin(db, 'owner@example.com', PASSWORD, { role: 'owner', name: 'Olive' }))!;
  accounts.adminB = (await createAdmin(db, 'admin@b.example', PASSWORD, { workspaceId: second.id, name: 'Bea' }))!;
  accounts.operatorB = (await createAdmin(db, 'operator@b.example', PASSWORD, { role: 'operator', workspaceId: second.id }))!;

  A = await seedWorkspace(DEFAULT_WORKSPACE_ID, 'A', ['admin@a.example', 'operator@a.example', 'owner@example.com']);
  B = await seedWorkspace(second.id, 'B', ['admin@b.example', 'operator@b.example']);

  asA = await AdminClient.session(server.url, 'admin@a.example', PASSWORD);
  asB = await AdminClient.session(server.url, 'admin@b.example', PASSWORD);
  owner = await AdminClient.session(server.url, 'owner@example.com', PASSWORD);
  ownerInB = owner.inWorkspace(B.workspaceId);
  token = AdminClient.bearer(server.url, ADMIN_TOKEN);
  tokenInB = token.inWorkspace(B.workspaceId);
});

afterAll(async () => {
  await server?.stop();
});

/** Every `METHOD /api/admin/…` route the server registered (HEAD aside), read from Fastify's route tree. */
function registeredAdminRoutes(http: FastifyInstance): string[] {
  const routes: string[] = [];
  const pathAt: string[] = [];
  for (const line of http.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    pathAt.length = depth;
    const path = (pathAt[depth - 1] ?? '') + match[2]!;
    pathAt[depth] = path;
    for (const method of match[3]?.split(', ') ?? []) {
      if (method !== 'HEAD' && path.startsWith('/api/admin/')) routes.push(`${method} ${path}`);
    }
  }
  return routes;
}

const pathOf = (route: string) => route.slice(route.indexOf(' ') + 1);
const methodOf = (route: string) => route.slice(0, route.indexOf(' '));

type Check = (fixture: Fixture) => Promise<void>;
/**
 * How each route keeps to the caller's workspace:
 * - `list`: what the route lists (ids picked from the body) must be the caller's workspace's only;
 * - `detail`: an id of the other workspace answers exactly as an id that does not exist;
 * - `check`: a check of its own, run for each workspace's admin;
 * - `public`: reachable without credentials, no workspace data (why);
 * - `elsewhere`: a route whose isolation another test file proves.
 */
type Entry =
  | { list: { path: string; pick: (body: any) => string[]; own: (fixture: Fixture) => string[] } }
  | { detail: { id: (fixture: Fixture) => string; path?: (id: string) => string } }
  | { check: Check }
  | { public: string }
  | { elsewhere: string };

const ids = (body: any) => (body.items as { id: string }[]).map((item) => item.id);

const ROUTES: Record<string, Entry> = {
  'GET /api/admin/csrf': { public: 'the CSRF token: no data' },
  'GET /api/admin/login-options': { public: 'which ways in the login screen offers: deployment-wide' },
  'POST /api/admin/login': { public: 'logging in (its audit row lands in the account’s workspace: checked below)' },
  'GET /api/admin/setup': { public: 'whether the first-run setup is open: deployment-wide' },
  'POST /api/admin/setup': { public: 'the first account only; closed once any account exists (first-run-setup.test.ts)' },
  'GET /api/admin/oidc/start': { public: 'single sign-on start (admin-oidc.test.ts); its accounts land in the default workspace' },
  'GET /api/admin/oidc/callback': { public: 'single sign-on callback (admin-oidc.test.ts)' },
  'POST /api/admin/logout': { check: logoutAuditedInItsWorkspace },
  'GET /api/admin/me': { check: meNamesTheWorkspace },

  'GET /api/admin/tool-calls': { list: { path: '/api/admin/tool-calls', pick: ids, own: (f) => [f.toolCallId] } },
  'GET /api/admin/tool-calls/export': { list: { path: '/api/admin/tool-calls/export?format=json', pick: ids, own: (f) => [f.toolCallId] } },
  'GET /api/admin/tool-calls/:id': { detail: { id: (f) => f.toolCallId } },
  'GET /api/admin/conversations': { list: { path: '/api/admin/conversations', pick: ids, own: (f) => [f.main.id, f.agent.id] } },
  'GET /api/admin/conversations/:id': { detail: { id: (f) => f.main.id } },
  'GET /api/admin/conversations/:id/person': { check: personIsTheWorkspaces },
  'GET /api/admin/payments': { list: { path: '/api/admin/payments', pick: ids, own: (f) => [f.paymentEventId] } },
  'GET /api/admin/deliveries': { list: { path: '/api/admin/deliveries', pick: ids, own: (f) => [f.deliveryId] } },
  'GET /api/admin/handoffs': {
    list: { path: '/api/admin/handoffs', pick: (body) => (body.items as { conversationId: string }[]).map((item) => item.conversationId), own: (f) => [f.main.id] },
  },
  'GET /api/admin/stats': { check: statsCountTheWorkspace },
  'GET /api/admin/spend': { check: spendCountsTheWorkspace },
  'GET /api/admin/health': { check: healthShowsTheWorkspacesErrors },
  'GET /api/admin/accounts': {
    list: { path: '/api/admin/accounts', pick: (body) => (body.items as { email: string }[]).map((item) => item.email), own: (f) => f.emails },
  },
  'PATCH /api/admin/accounts/:id': { check: rolesChangeInTheWorkspaceOnly },
  'POST /api/admin/conversations/:id/takeover': { check: writeStaysInTheWorkspace('takeover', {}) },
  'POST /api/admin/conversations/:id/messages': { check: writeStaysInTheWorkspace('messages', { text: 'hello from the wrong business' }) },
  'POST /api/admin/conversations/:id/release': { check: writeStaysInTheWorkspace('release', {}) },
  'POST /api/admin/conversations/:id/notes': { check: writeStaysInTheWorkspace('notes', { text: 'a note in the wrong business' }) },

  // Managing workspaces (src/admin/workspace-routes.ts): owners only, or the caller's own workspace.
  'GET /api/admin/workspaces': { elsewhere: 'workspace-management.test.ts' },
  'POST /api/admin/workspaces': { elsewhere: 'workspace-management.test.ts' },
  'PATCH /api/admin/workspaces/:id': { elsewhere: 'workspace-management.test.ts' },
  'POST /api/admin/workspaces/:id/widget-key': { elsewhere: 'workspace-management.test.ts' },
  'POST /api/admin/workspaces/:id/channels': { elsewhere: 'workspace-management.test.ts' },
  'DELETE /api/admin/workspaces/:id/channels': { elsewhere: 'workspace-management.test.ts' },
  'GET /api/admin/workspace': { elsewhere: 'workspace-management.test.ts' },
  'GET /api/admin/workspace/refusals': { elsewhere: 'workspace-management.test.ts' },
  'PUT /api/admin/workspace/settings': { elsewhere: 'workspace-management.test.ts' },
  'PUT /api/admin/workspace/origins': { elsewhere: 'workspace-management.test.ts' },
  'PUT /api/admin/workspace/credentials/:integration': { elsewhere: 'workspace-management.test.ts' },
  'DELETE /api/admin/workspace/credentials/:integration': { elsewhere: 'workspace-management.test.ts' },
};

const adminOf = (fixture: Fixture) => (fixture === A ? asA : asB);
/** The deployment-level callers acting in this workspace: the owner and the token (with the header for B, without for the default). */
const deploymentIn = (fixture: Fixture) => (fixture === A ? [owner, token] : [ownerInB, tokenInB]);

describe('every admin route keeps to the caller’s workspace', () => {
  it('lists every route the server registers under /api/admin', () => {
    const registered = registeredAdminRoutes(server.app.http);
    const unlisted = registered.filter((route) => !(route in ROUTES));
    expect(unlisted, 'add these routes to ROUTES with how they keep to the workspace').toEqual([]);
    // The table's own routes exist (a renamed route must be renamed here too).
    const tested = Object.entries(ROUTES).filter(([, entry]) => !('elsewhere' in entry) && !('public' in entry)).map(([route]) => route);
    expect(tested.filter((route) => !registered.includes(route))).toEqual([]);
    expect(registered.length).toBeGreaterThan(20);
  });

  const tested = Object.entries(ROUTES).filter(([, entry]) => !('public' in entry) && !('elsewhere' in entry));
  describe.each(tested)('%s', (route, entry) => {
    if ('list' in entry) {
      const { path, pick, own } = entry.list;
      it('lists only the caller’s workspace: each admin, the owner and the token without the header (default) and with it (B)', async () => {
        for (const fixture of [A, B]) {
          for (const client of [adminOf(fixture), ...deploymentIn(fixture)]) {
            const response = await client.get(path);
            expect(response.status, `${route} as ${fixture.tag}`).toBe(200);
            const picked = pick(response.body);
            expect(picked).toEqual(expect.arrayContaining(own(fixture)));
            for (const foreign of own(other(fixture))) expect(picked, `${route}: ${fixture.tag} sees ${foreign}`).not.toContain(foreign);
          }
        }
      });
    }
    if ('detail' in entry) {
      const { id } = entry.detail;
      const path = pathOf(route);
      it('answers an id of the other workspace exactly as an id that does not exist', async () => {
        for (const fixture of [A, B]) {
          for (const client of [adminOf(fixture), ...deploymentIn(fixture)]) {
            expect((await client.get(path.replace(':id', id(fixture)))).status).toBe(200);
            const foreign = await client.get(path.replace(':id', id(other(fixture))));
            const missing = await client.get(path.replace(':id', NO_SUCH_ID));
            expect(foreign.status).toBe(404);
            expect(foreign.body).toEqual(missing.body);
          }
        }
      });
    }
    if ('check' in entry) {
      it('keeps to the caller’s workspace', async () => {
        for (const fixture of [A, B]) await entry.check(fixture);
      });
    }
  });

  it('answers 404 workspace_not_found on every route to a non-owner naming another workspace, and to anyone naming none that exists', async () => {
    const routes = registeredAdminRoutes(server.app.http).filter((route) => !('public' in (ROUTES[route] ?? {})));
    const callers = [asA.inWorkspace(B.workspaceId), asB.inWorkspace(DEFAULT_WORKSPACE_ID), owner.inWorkspace('ws_nope'), token.inWorkspace('ws_nope')];
    for (const route of routes) {
      const path = pathOf(route).replace(':id', NO_SUCH_ID).replace(':integration', 'stripe');
      for (const client of callers) {
        const response = await client.request(methodOf(route), path, methodOf(route) === 'GET' ? undefined : {});
        expect(response.status, `${route}`).toBe(404);
        expect(response.body).toEqual({ error: { code: 'workspace_not_found', message: 'no workspace with this id' } });
      }
    }
    // An account naming its own workspace is simply in it.
    expect((await asB.inWorkspace(B.workspaceId).get('/api/admin/conversations')).status).toBe(200);
  });

  it('writes every audit row in the workspace the caller acted in', async () => {
    for (const fixture of [A, B]) await loginAuditedInItsWorkspace(fixture);
    await asB.get(`/api/admin/conversations/${B.main.id}`);
    await ownerInB.get(`/api/admin/tool-calls/${B.toolCallId}`);
    await owner.get(`/api/admin/conversations/${A.main.id}`);
    const rows = await db
      .select({ actor: adminAudit.actor, action: adminAudit.action, detail: adminAudit.detail, workspaceId: adminAudit.workspaceId })
      .from(adminAudit)
      .where(inArray(adminAudit.action, ['conversations.read', 'tool-calls.read']));
    const find = (actor: string, id: string) => rows.filter((row) => row.actor === actor && (row.detail as { id?: string } | null)?.id === id).map((row) => row.workspaceId);
    expect(find('admin@b.example', B.main.id)).toContain(B.workspaceId);
    expect(find('owner@example.com', B.toolCallId)).toContain(B.workspaceId);
    expect(find('owner@example.com', B.toolCallId)).not.toContain(DEFAULT_WORKSPACE_ID);
    expect(find('owner@example.com', A.main.id)).toContain(DEFAULT_WORKSPACE_ID);
    expect(find('owner@example.com', A.main.id)).not.toContain(B.workspaceId);
  });
});

async function loginAuditedInItsWorkspace(fixture: Fixture): Promise<void> {
  const email = fixture === A ? 'operator@a.example' : 'operator@b.example';
  await AdminClient.session(server.url, email, PASSWORD);
  const rows = await db.select({ workspaceId: adminAudit.workspaceId }).from(adminAudit).where(sql`${adminAudit.actor} = ${email} and ${adminAudit.action} = 'login'`);
  expect(rows.map((row) => row.workspaceId)).toContain(fixture.workspaceId);
  expect(rows.map((row) => row.workspaceId)).not.toContain(other(fixture).workspaceId);
}

async function logoutAuditedInItsWorkspace(fixture: Fixture): Promise<void> {
  const email = fixture === A ? 'admin@a.example' : 'admin@b.example';
  const session = await AdminClient.session(server.url, email, PASSWORD);
  expect((await session.post('/api/admin/logout')).status).toBe(200);
  const rows = await db.select({ workspaceId: adminAudit.workspaceId }).from(adminAudit).where(sql`${adminAudit.actor} = ${email} and ${adminAudit.action} = 'logout'`);
  expect(new Set(rows.map((row) => row.workspaceId))).toEqual(new Set([fixture.workspaceId]));
}

async function meNamesTheWorkspace(fixture: Fixture): Promise<void> {
  const me = await adminOf(fixture).get('/api/admin/me');
  expect(me.body).toMatchObject({ actor: 'session', role: 'admin', workspace: { id: fixture.workspaceId } });
  const [asOwner, asToken] = deploymentIn(fixture);
  expect((await asOwner!.get('/api/admin/me')).body).toMatchObject({ email: 'owner@example.com', role: 'owner', workspace: { id: fixture.workspaceId } });
  expect((await asToken!.get('/api/admin/me')).body).toMatchObject({ actor: 'token', workspace: { id: fixture.workspaceId } });
}

async function personIsTheWorkspaces(fixture: Fixture): Promise<void> {
  const path = (id: string) => `/api/admin/conversations/${id}/person`;
  for (const client of [adminOf(fixture), ...deploymentIn(fixture)]) {
    const person = await client.get(path(fixture.main.id));
    expect(person.status).toBe(200);
    // The same number wrote to both businesses: each sees one conversation, its own.
    expect(person.body.person.conversationCount).toBe(1);
    expect(ids(person.body)).toEqual([fixture.main.id]);
    const foreign = await client.get(path(other(fixture).main.id));
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual((await client.get(path(NO_SUCH_ID))).body);
  }
}

async function statsCountTheWorkspace(fixture: Fixture): Promise<void> {
  for (const client of [adminOf(fixture), ...deploymentIn(fixture)]) {
    const stats = (await client.get('/api/admin/stats')).body;
    const tools = (stats.toolCalls as { tool: string }[]).map((row) => row.tool);
    expect(tools).toContain(`lookup_${fixture.tag}`);
    expect(tools).not.toContain(`lookup_${other(fixture).tag}`);
    const sms = (stats.messagesByChannel as { channel: string; count: number }[]).find((row) => row.channel === 'sms');
    expect(sms?.count).toBe(1);
  }
}

async function spendCountsTheWorkspace(fixture: Fixture): Promise<void> {
  for (const client of [adminOf(fixture), ...deploymentIn(fixture)]) {
    const spend = (await client.get('/api/admin/spend')).body;
    expect(spend.total.costUsd).toBeCloseTo(fixture.costUsd);
    expect((spend.topConversations as { id: string }[]).map((row) => row.id)).toEqual([fixture.main.id]);
  }
}

async function healthShowsTheWorkspacesErrors(fixture: Fixture): Promise<void> {
  for (const client of [adminOf(fixture), ...deploymentIn(fixture)]) {
    const health = (await client.get('/api/admin/health')).body;
    expect((health.toolErrors as { tool: string }[]).map((row) => row.tool)).toEqual([`lookup_${fixture.tag}`]);
    expect((health.deliveryErrors as { lastError: string }[]).map((row) => row.lastError)).toEqual([`failed ${fixture.tag}`]);
  }
}

async function rolesChangeInTheWorkspaceOnly(fixture: Fixture): Promise<void> {
  const admin = adminOf(fixture);
  const foreignOperator = fixture === A ? accounts.operatorB : accounts.operatorA;
  const ownOperator = fixture === A ? accounts.operatorA : accounts.operatorB;
  const patch = (client: AdminClient, id: string, role: string) => client.request('PATCH', `/api/admin/accounts/${id}`, { role });
  const roleOf = async (id: string) => (await db.select({ role: adminUsers.role }).from(adminUsers).where(eq(adminUsers.id, id)))[0]!.role;

  const foreign = await patch(admin, foreignOperator, 'viewer');
  expect(foreign.status).toBe(404);
  expect(foreign.body).toEqual((await patch(admin, NO_SUCH_ID, 'viewer')).body);
  expect(await roleOf(foreignOperator)).toBe('operator');

  // Only an owner makes an owner, or touches one.
  expect((await patch(admin, ownOperator, 'owner')).body.error.code).toBe('forbidden');
  if (fixture === A) expect((await patch(admin, accounts.owner, 'viewer')).body.error.code).toBe('forbidden');
  expect(await roleOf(ownOperator)).toBe('operator');
  expect(await roleOf(accounts.owner)).toBe('owner');

  expect((await patch(admin, ownOperator, 'viewer')).body).toMatchObject({ id: ownOperator, role: 'viewer' });
  const [asOwner] = deploymentIn(fixture);
  expect((await patch(asOwner!, ownOperator, 'operator')).body).toMatchObject({ id: ownOperator, role: 'operator' });
  // The owner acting in one workspace does not reach the other's accounts either.
  expect((await patch(asOwner!, foreignOperator, 'viewer')).status).toBe(404);
  expect(await roleOf(foreignOperator)).toBe('operator');
}

/** What a write could have changed in a workspace: its handoffs, notes, messages and conversation modes. */
async function snapshot(fixture: Fixture) {
  const ids = conversationIds(fixture);
  const [handoffRows, noteRows, messageRows, conversationRows] = await Promise.all([
    db.select().from(handoffs).where(inArray(handoffs.conversationId, ids)),
    db.select().from(conversationNotes).where(inArray(conversationNotes.conversationId, ids)),
    db.select({ id: messages.id, status: messages.status }).from(messages).where(inArray(messages.conversationId, ids)),
    db.select({ id: conversations.id, mode: conversations.mode, updatedAt: conversations.updatedAt }).from(conversations).where(inArray(conversations.id, ids)),
  ]);
  const byId = <T extends { id: string }>(rows: T[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));
  return { handoffs: byId(handoffRows), notes: byId(noteRows), messages: byId(messageRows), conversations: byId(conversationRows) };
}

/**
 * An operator action on a conversation of the other workspace: the same answer as for an id that
 * does not exist (with a valid body and with an empty one, whose 400 comes first for both), and
 * nothing changes there. Then the same action in the caller's own workspace works.
 */
function writeStaysInTheWorkspace(action: 'takeover' | 'messages' | 'release' | 'notes', body: Record<string, unknown>): Check {
  return async (fixture) => {
    // Takeover, reply and release act on the web conversation (taken over first); notes on the SMS one.
    const target = (of: Fixture) => (action === 'notes' ? of.main.id : of.agent.id);
    const path = (id: string) => `/api/admin/conversations/${id}/${action}`;
    const foreignFixture = other(fixture);
    const before = await snapshot(foreignFixture);
    for (const client of [adminOf(fixture), ...deploymentIn(fixture)]) {
      for (const payload of action === 'messages' || action === 'notes' ? [body, { text: '' }] : [body]) {
        const foreign = await client.post(path(target(foreignFixture)), payload);
        const missing = await client.post(path(NO_SUCH_ID), payload);
        expect(foreign.status, `${action} as ${fixture.tag} on ${foreignFixture.tag}`).toBe(missing.status);
        expect(foreign.body).toEqual(missing.body);
        if (payload === body) expect(foreign.status).toBe(404);
      }
    }
    expect(await snapshot(foreignFixture)).toEqual(before);

    // In its own workspace, the same caller acts (the admin takes over or holds the conversation: replies and releases are allowed).
    const own = await adminOf(fixture).post(path(target(fixture)), body);
    expect(own.status, `${action} as ${fixture.tag} in its own workspace: ${JSON.stringify(own.body)}`).toBe(200);
    if (action === 'notes') {
      const [note] = await db.select().from(conversationNotes).where(eq(conversationNotes.id, own.body.id));
      expect(note?.workspaceId).toBe(fixture.workspaceId);
    }
  };
}

describe('the live feed', () => {
  const FEED_EVENTS = ['tool-call', 'tool-call.status', 'turn', 'handoff', 'message', 'payment'] as const;
  const sockets: Socket[] = [];
  afterAll(() => {
    for (const socket of sockets) socket.disconnect();
  });

  /** A console's feed, recording every event with the conversation it names. */
  function feed(auth: Record<string, unknown>, cookie?: string): Promise<{ socket: Socket; events: { event: string; conversationId: string | null }[] }> {
    const socket = connect(`${server.url}/admin`, { transports: ['websocket'], reconnection: false, forceNew: true, auth, extraHeaders: cookie ? { cookie } : {} });
    sockets.push(socket);
    const events: { event: string; conversationId: string | null }[] = [];
    for (const event of FEED_EVENTS) socket.on(event, (payload: { conversationId: string | null }) => events.push({ event, conversationId: payload.conversationId }));
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve({ socket, events }));
      socket.once('connect_error', reject);
    });
  }

  it('refuses a non-owner naming another workspace, and anyone naming none, as workspace_not_found', async () => {
    const attempts: [Record<string, unknown>, string?][] = [
      [{ workspace: B.workspaceId }, asA.cookieHeader],
      [{ workspace: DEFAULT_WORKSPACE_ID }, asB.cookieHeader],
      [{ token: ADMIN_TOKEN, workspace: 'ws_nope' }],
      [{ workspace: 'ws_nope' }, owner.cookieHeader],
    ];
    for (const [auth, cookie] of attempts) {
      const error = await feed(auth, cookie).then(
        () => undefined,
        (failure: Error & { data?: unknown }) => failure,
      );
      expect(error?.message).toBe('workspace_not_found');
      expect(error?.data).toEqual({ code: 'workspace_not_found', message: 'no workspace with this id' });
    }
  });

  it('sends each console only the events of its workspace’s conversations', async () => {
    const consoles = {
      adminA: await feed({}, asA.cookieHeader),
      token: await feed({ token: ADMIN_TOKEN }),
      adminB: await feed({}, asB.cookieHeader),
      ownerInB: await feed({ workspace: B.workspaceId }, owner.cookieHeader),
      tokenInB: await feed({ token: ADMIN_TOKEN, workspace: B.workspaceId }),
    };
    const of = (fixture: Fixture) => (fixture === A ? [consoles.adminA, consoles.token] : [consoles.adminB, consoles.ownerInB, consoles.tokenInB]);

    /** Every kind of feed event for one workspace: a real turn, and the pipeline's other events about its rows. */
    const happen = async (fixture: Fixture) => {
      const accepted = await server.app.intake.accept({ workspaceId: fixture.workspaceId, channel: 'web', externalUserId: `visitor:live${fixture.tag}`, text: 'anyone there?' });
      fixture.extraConversations.push(accepted.conversationId);
      expect(accepted.conversation.workspaceId).toBe(fixture.workspaceId);
      const conversation = (await server.app.store.conversations.getConversation(fixture.main.id))!;
      const call = { id: fixture.toolCallId, conversationId: fixture.main.id, messageId: randomUUID(), channel: 'sms', toolName: `lookup_${fixture.tag}`, status: 'error', durationMs: 5, provider: 'openai' };
      server.app.events.emit('tool-call.finished', call);
      server.app.events.emit('tool-call.finished', { ...call, previousStatus: 'running' });
      server.app.events.emit('payment.processed', { type: 'checkout.session.completed', outcome: 'paid', conversationId: fixture.main.id });
      const [message] = await db.select().from(messages).where(eq(messages.conversationId, fixture.main.id)).limit(1);
      server.app.events.emit('message.appended', { message: message!, conversation });
      expect((await adminOf(fixture).post(`/api/admin/conversations/${fixture.main.id}/notes`, { text: 'seen live' })).status).toBe(200);
      for (const { events } of of(fixture)) {
        await waitFor(() => FEED_EVENTS.every((event) => events.some((seen) => seen.event === event)), `every feed event of ${fixture.tag}`);
      }
    };
    // B first: by the time A's consoles have A's events, B's would have reached them too.
    await happen(B);
    await happen(A);

    for (const fixture of [A, B]) {
      const foreign = new Set(conversationIds(other(fixture)));
      for (const { events } of of(fixture)) {
        expect(events.filter((seen) => seen.conversationId !== null && foreign.has(seen.conversationId))).toEqual([]);
        expect(events.every((seen) => seen.conversationId !== null && conversationIds(fixture).includes(seen.conversationId))).toBe(true);
      }
    }
  });
});
