import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminClient } from './helpers/admin-client.js';
import { createAdmin } from './helpers/admin-seed.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * The first-run setup's rules on the real server (PostgreSQL, in-process): its attempt budget, two
 * setups at once, a token set by ADMIN_SETUP_TOKEN, an account made another way. The token as a
 * person gets it, from the start-up banner of `node dist/main.js`, is in startup-output.test.ts.
 */

const PASSWORD = 'a long enough password';
let server: RunningApp | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function generatedToken(running: RunningApp): string {
  const notice = running.app.firstRun!.takeNotice();
  if (!notice.open || !notice.token) throw new Error('expected an open setup with a generated token');
  return notice.token;
}

const accounts = async (running: RunningApp) =>
  (await running.app.database.db.execute(sql`select email, role from admin_users order by email`)) as unknown as { email: string; role: string }[];

describe('first-run setup', () => {
  it('is rate limited per address: past ADMIN_LOGIN_MAX_ATTEMPTS wrong tokens even the right one waits', async () => {
    server = await startTestApp({ ADMIN_LOGIN_MAX_ATTEMPTS: '2' });
    const token = generatedToken(server);
    const client = new AdminClient(server.url);
    for (let attempt = 0; attempt < 2; attempt++) {
      expect((await client.post('/api/admin/setup', { token: `wrong-${attempt}`, email: 'a@example.com', password: PASSWORD })).status).toBe(401);
    }
    const limited = await client.post('/api/admin/setup', { token, email: 'a@example.com', password: PASSWORD });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(await accounts(server)).toEqual([]);
    // The setup budget is its own: a password login from the same address is not spent by it.
    expect((await client.post('/api/admin/login', { email: 'a@example.com', password: PASSWORD })).status).toBe(401);
  });

  it('creates exactly one account when two people use the token at once', async () => {
    server = await startTestApp();
    const token = generatedToken(server);
    const [first, second] = await Promise.all(
      ['one@example.com', 'two@example.com'].map((email) => new AdminClient(server!.url).post('/api/admin/setup', { token, email, password: PASSWORD })),
    );
    expect([first!.status, second!.status].sort()).toEqual([201, 409]);
    expect(await accounts(server)).toHaveLength(1);
    expect((await accounts(server))[0]!.role).toBe('admin');
  });

  it('takes the token from ADMIN_SETUP_TOKEN (several instances, one token), writing no file', async () => {
    const configured = 'the-team-setup-token-2024';
    server = await startTestApp({ ADMIN_SETUP_TOKEN: configured });
    expect(server.app.firstRun!.takeNotice()).toEqual({ open: true, token: undefined, tokenFile: undefined, fromSetting: true });
    expect(existsSync(join(server.config.DATA_DIR, 'admin-setup-token'))).toBe(false);
    const client = new AdminClient(server.url);
    expect((await client.post('/api/admin/setup', { token: 'the-team-setup-token-2025', email: 'x@example.com', password: PASSWORD })).status).toBe(401);
    expect((await client.post('/api/admin/setup', { token: ` ${configured} `, email: 'x@example.com', password: PASSWORD })).status).toBe(201);
    expect((await client.get('/api/admin/me')).body).toMatchObject({ email: 'x@example.com', role: 'admin' });
  });

  it('creates exactly one account when two instances on one database are set up at once', async () => {
    const ADMIN_SETUP_TOKEN = 'the-team-setup-token-2024';
    server = await startTestApp({ ADMIN_SETUP_TOKEN });
    const other = await startTestApp({ ADMIN_SETUP_TOKEN, DATABASE_URL: server.database!.url });
    try {
      const results = await Promise.all(
        [server.url, other.url].map((url, index) => new AdminClient(url).post('/api/admin/setup', { token: ADMIN_SETUP_TOKEN, email: `n${index}@example.com`, password: PASSWORD })),
      );
      expect(results.map((result) => result.status).sort()).toEqual([201, 409]);
      expect(await accounts(server)).toHaveLength(1);
    } finally {
      await other.app.close();
    }
  });

  it('closes as soon as an account exists some other way (admin:create on PostgreSQL), removing the token file', async () => {
    server = await startTestApp();
    const token = generatedToken(server);
    const tokenFile = join(server.config.DATA_DIR, 'admin-setup-token');
    expect(existsSync(tokenFile)).toBe(true);
    await createAdmin(server.app.database.db, 'ops@example.com', PASSWORD);
    const client = new AdminClient(server.url);
    expect((await client.get('/api/admin/setup')).body).toEqual({ needed: false });
    expect(existsSync(tokenFile)).toBe(false);
    const late = await client.post('/api/admin/setup', { token, email: 'late@example.com', password: PASSWORD });
    expect(late.status).toBe(409);
    expect(await accounts(server)).toEqual([{ email: 'ops@example.com', role: 'admin' }]);
  });
});
