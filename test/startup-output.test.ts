import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/store/database.js';
import { AdminClient } from './helpers/admin-client.js';
import { startAppProcess, type AppProcess } from './helpers/app-process.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * The real server (`node dist/main.js`) as a person starts it: what it prints, and the first-run
 * setup with the token from its banner. Its stdout is a pipe here, so JSON is the default and
 * LOG_FORMAT=pretty forces what a terminal gets.
 */

const PASSWORD = 'a long enough password';
const TOKEN_SHAPE = /^[a-z2-9]{5}(-[a-z2-9]{5}){3}$/;

let database: TestDatabase;
let check: Database;
const dataDirs: string[] = [];
const servers: AppProcess[] = [];

async function freshDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-startup-'));
  dataDirs.push(dir);
  return dir;
}

async function start(env: Record<string, string>): Promise<AppProcess> {
  const server = await startAppProcess(env);
  servers.push(server);
  return server;
}

/** The banner comes right after the "listening" line the helper waits for. */
const bannerOf = (server: AppProcess): Promise<string> =>
  waitFor(() => (server.output().includes('Ctrl-C stops the server') ? server.output() : undefined), 'the start-up banner');

beforeAll(async () => {
  database = await createTestDatabase();
  check = await openDatabase({ url: database.url, dataDir: '/nonexistent', maxConnections: 1 });
});

afterAll(async () => {
  await Promise.allSettled(servers.map((server) => server.stop()));
  await check?.close();
  await database?.drop();
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('start-up output', () => {
  it('is JSON lines when stdout is not a terminal: the banner facts in one line, no token, no secret', async () => {
    const dataDir = await freshDataDir();
    const server = await start({
      DATABASE_URL: database.url,
      DATA_DIR: dataDir,
      OPENAI_API_KEY: 'sk-test-never-in-the-logs-1234',
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
      SLACK_BOT_TOKEN: 'xoxb-never-in-the-logs',
    });
    try {
      const lines = server.output().split('\n').filter((line) => line.trim() !== '');
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
      const listening = lines.map((line) => JSON.parse(line)).find((line) => line.msg === 'Switchboard listening');
      const tokenFile = join(dataDir, 'admin-setup-token');
      expect(listening).toMatchObject({
        level: 30,
        address: server.url,
        demoUrl: `${server.url}/`,
        adminUrl: `${server.url}/admin`,
        role: 'all',
        database: { kind: 'postgres' },
        redis: false,
        accounts: { firstRun: true, tokenFile, tokenFrom: 'banner' },
        signIn: { passwordLogin: true, sso: null },
      });
      expect(listening.providers).toEqual([
        { name: 'Anthropic', on: false, note: 'set ANTHROPIC_API_KEY' },
        { name: 'OpenAI', on: true, note: 'gpt-4o-mini' },
        { name: 'Groq', on: false, note: 'set GROQ_API_KEY' },
      ]);
      // Half of Slack's settings: the line names the one still missing.
      expect(listening.channels).toContainEqual({ name: 'Slack', on: false, note: 'set SLACK_SIGNING_SECRET' });
      expect(listening.channels).toContainEqual({ name: 'Web chat', on: true, note: 'the widget on the demo page; embed /widget.js' });
      expect(listening.tools).toContainEqual({ name: 'create_checkout_link', on: false, note: 'STRIPE_SECRET_KEY is not set' });

      // The token is in a file only its owner reads, and nowhere in the output.
      const token = (await readFile(tokenFile, 'utf8')).trim();
      expect(token).toMatch(TOKEN_SHAPE);
      expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
      const output = server.output();
      expect(output).not.toContain(token);
      expect(output).not.toContain('never-in-the-logs');
      expect(output).not.toContain('Ctrl-C'); // no banner
    } finally {
      await server.stop();
    }
  });

  it('LOG_FORMAT=pretty: readable lines and the banner, whose one-time token creates the first admin exactly once', async () => {
    const dataDir = await freshDataDir();
    const server = await start({ DATABASE_URL: database.url, DATA_DIR: dataDir, LOG_FORMAT: 'pretty' });
    try {
      const output = await bannerOf(server);
      expect(output).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: Switchboard listening/m);
      expect(output.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
      // Not a terminal, so no colour codes even when pretty is forced.
      expect(output).not.toContain('\u001b[');
      expect(output).toContain(`Demo page       ${server.url}/`);
      expect(output).toContain(`Admin console   ${server.url}/admin`);
      expect(output).toMatch(/Models\s+none on: every message gets FALLBACK_REPLY/);
      expect(output).toMatch(/OpenAI\s+off — set OPENAI_API_KEY/);
      expect(output).toMatch(/Web chat\s+on · the widget on the demo page/);
      expect(output).toMatch(/Slack\s+off — set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET/);
      expect(output).toMatch(/WhatsApp Web\s+off — set WHATSAPP_WEB_ENABLED=true/);
      expect(output).toMatch(/find_meeting_slots, book_meeting, share_drive_file\s+off/);
      expect(output).toContain('npm run admin:create -- --email you@example.com --role admin');
      const token = /enter this one-time setup token:\s+(\S+)\s/.exec(output)?.[1];
      expect(token).toMatch(TOKEN_SHAPE);
      expect((await readFile(join(dataDir, 'admin-setup-token'), 'utf8')).trim()).toBe(token);
      // Printed once, in the banner, and in no log line.
      expect(output.split(token!)).toHaveLength(2);

      const visitor = new AdminClient(server.url);
      expect(await visitor.get('/api/admin/setup')).toEqual({ status: 200, body: { needed: true } });
      // No CSRF token: refused before anything is looked at.
      const forged = await fetch(`${server.url}/api/admin/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, email: 'first@example.com', password: PASSWORD }),
      });
      expect(forged.status).toBe(403);
      const wrong = await visitor.post('/api/admin/setup', { token: 'aaaaa-bbbbb-ccccc-ddddd', email: 'first@example.com', password: PASSWORD });
      expect(wrong.status).toBe(401);
      expect(wrong.body.error.code).toBe('unauthorized');
      const short = await visitor.post('/api/admin/setup', { token, email: 'first@example.com', password: 'short' });
      expect(short.status).toBe(400);
      expect(short.body.error.message).toMatch(/password: must have at least 12 characters/);
      const badEmail = await visitor.post('/api/admin/setup', { token, email: 'not-an-email', password: PASSWORD });
      expect(badEmail.status).toBe(400);
      expect(await visitor.get('/api/admin/me')).toMatchObject({ status: 401 });

      const owner = new AdminClient(server.url);
      const created = await owner.post('/api/admin/setup', { token, email: 'First@Example.com', name: 'Ada', password: PASSWORD });
      expect(created).toMatchObject({ status: 201, body: { email: 'first@example.com', role: 'admin' } });
      expect(owner.cookies.has('sb_admin')).toBe(true);
      expect((await owner.get('/api/admin/me')).body).toEqual({ actor: 'session', email: 'first@example.com', role: 'admin', name: 'Ada' });

      // Spent: the same token again, and any other, is refused; the file is gone.
      const again = await new AdminClient(server.url).post('/api/admin/setup', { token, email: 'second@example.com', password: 'another long password' });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('already_set_up');
      expect(await visitor.get('/api/admin/setup')).toEqual({ status: 200, body: { needed: false } });
      await expect(stat(join(dataDir, 'admin-setup-token'))).rejects.toThrow(/ENOENT/);
      // The password works as any account's.
      await AdminClient.session(server.url, 'first@example.com', PASSWORD);

      const rows = (await check.db.execute(sql`select email, role, password_hash from admin_users`)) as unknown as { email: string; role: string; password_hash: string }[];
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ email: 'first@example.com', role: 'admin' });
      expect(rows[0]!.password_hash).toMatch(/^\$argon2id\$/);
      const audit = (await check.db.execute(sql`select actor, action, ip from admin_audit where action like 'setup%' order by created_at`)) as unknown as {
        actor: string;
        action: string;
        ip: string;
      }[];
      expect(audit.map((row) => [row.actor, row.action])).toEqual([
        ['first@example.com', 'setup.failed'],
        ['first@example.com', 'setup.first-admin'],
      ]);
      expect(audit[0]!.ip).toBe('127.0.0.1');
      expect(server.output()).not.toContain(PASSWORD);
    } finally {
      await server.stop();
    }
  });

  it('on a terminal (a pseudo-terminal from script(1)) picks pretty, coloured lines and the banner by itself', async () => {
    const dataDir = await freshDataDir();
    // Its own process group: script(1) and the server under it stop together.
    const child = spawn('script', ['-qfec', `${process.execPath} dist/main.js`, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: 'xterm', HOST: '127.0.0.1', PORT: '0', DATABASE_URL: database.url, DATA_DIR: dataDir },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitFor(() => output.includes('Ctrl-C stops the server'), 'the banner on a terminal', 30_000);
      expect(output).toContain('\u001b['); // colours
      expect(output).toMatch(/\[\d{2}:\d{2}:\d{2}\.\d{3}\] .*INFO.*: .*Switchboard listening/);
      expect(output).not.toMatch(/^\{"level"/m);
      expect(output).toContain('Admin console');
      expect(output).toContain('Ctrl-C stops the server');
    } finally {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await exited;
    }
  });

  it('once an account exists: the banner says how to log in and add accounts, with no token', async () => {
    const dataDir = await freshDataDir();
    const pretty = await start({ DATABASE_URL: database.url, DATA_DIR: dataDir, LOG_FORMAT: 'pretty' });
    const output = await bannerOf(pretty);
    await pretty.stop();
    expect(output).toContain('Accounts');
    expect(output).toContain(`Log in at ${pretty.url}/admin`);
    expect(output).not.toContain('setup token');
    await expect(stat(join(dataDir, 'admin-setup-token'))).rejects.toThrow(/ENOENT/);

    const json = await start({ DATABASE_URL: database.url, DATA_DIR: dataDir, LOG_FORMAT: 'json' });
    await json.stop();
    const listening = json
      .output()
      .split('\n')
      .filter((line) => line.includes('Switchboard listening'))
      .map((line) => JSON.parse(line));
    expect(listening).toHaveLength(1);
    expect(listening[0].accounts).toEqual({ firstRun: false });
  });
});

describe('the banner with single sign-on', () => {
  const facts = (signIn: { passwordLogin: boolean; sso: string | null }, firstRun: boolean) => ({
    demoUrl: 'http://localhost:3000/',
    adminUrl: 'http://localhost:3000/admin',
    role: 'all' as const,
    database: { kind: 'postgres' as const },
    redis: false,
    accounts: firstRun ? { firstRun: true as const, tokenFile: null, tokenFrom: 'banner' as const } : { firstRun: false as const },
    signIn,
    providers: [],
    tools: [],
    channels: [],
  });

  it('names the identity provider, and with password login off offers no password route', async () => {
    const { renderBanner } = await import('../src/app/startup-banner.js');
    const both = renderBanner(facts({ passwordLogin: true, sso: 'Acme ID' }, true), { setupToken: 'aaaaa-bbbbb-ccccc-ddddd', colors: false });
    expect(both).toContain('Sign in with Acme ID at http://localhost:3000/admin');
    expect(both).toContain('aaaaa-bbbbb-ccccc-ddddd');
    const ssoOnly = renderBanner(facts({ passwordLogin: false, sso: 'Acme ID' }, true), { setupToken: undefined, colors: false });
    expect(ssoOnly).toContain('Sign in with Acme ID');
    expect(ssoOnly).toContain('Password login is off');
    expect(ssoOnly).not.toContain('admin:create');
    expect(ssoOnly).not.toContain('setup token');
  });
});
