import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockEmbeddedDatabase } from '../src/store/embedded-lock.js';
import { AdminClient } from './helpers/admin-client.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { REDIS_TEST_URL } from './helpers/test-database.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * `npm run workspace:create` and `admin:create --workspace/--role owner` as an operator runs them,
 * from source (`node --import tsx`, as `npx tsx` does), in a child process against the server's
 * PostgreSQL; the running server learns of the new workspace over Redis.
 */

const PASSWORD = 'a long enough password';
const REDIS_PREFIX = `test-wscli-${randomBytes(4).toString('hex')}`;

let server: RunningApp;

type Run = { code: number | null; stdout: string; stderr: string };

function run(script: string, args: string[], stdin = '', env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const merged: Record<string, string> = {};
    const all = { ...process.env, DATABASE_URL: server.database!.url, REDIS_URL: REDIS_TEST_URL, REDIS_PREFIX, PUBLIC_URL: 'https://support.example', LOG_LEVEL: 'silent', ...env };
    for (const [key, value] of Object.entries(all)) if (value !== undefined) merged[key] = value;
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env: merged, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const createWorkspace = (args: string[], stdin?: string, env?: Record<string, string | undefined>) => run('src/workspaces/create-workspace-cli.ts', args, stdin, env);
const createAdmin = (args: string[], stdin: string) => run('src/admin/create-admin-cli.ts', args, stdin);

const workspaceRows = async () =>
  (await server.app.database.db.execute(sql`select id, slug, name, allowed_origins from workspaces order by created_at`)) as unknown as {
    id: string;
    slug: string;
    name: string;
    allowed_origins: string[];
  }[];

beforeAll(async () => {
  server = await startTestApp({ REDIS_URL: REDIS_TEST_URL, REDIS_PREFIX, PUBLIC_URL: 'https://support.example' });
});

afterAll(async () => {
  await server?.stop();
});

describe('workspace:create', () => {
  it('creates the workspace and its first admin, prints the id, widget key and embed snippet; the running server knows it at once', async () => {
    const created = await createWorkspace(
      ['--slug', 'acme', '--name', 'Acme Inc', '--origin', 'https://acme.example/', '--origin', 'https://shop.acme.example', '--admin-email', 'Lee@Acme.example', '--admin-name', 'Lee', '--password-stdin'],
      `${PASSWORD}\n`,
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const [row] = (await workspaceRows()).filter((workspace) => workspace.slug === 'acme');
    expect(row).toMatchObject({ name: 'Acme Inc', allowed_origins: ['https://acme.example', 'https://shop.acme.example'] });
    const widgetKey = server.app.workspaces.get(row!.id)?.widgetKey ?? (await waitFor(() => server.app.workspaces.get(row!.id), 'the server to hear of the workspace')).widgetKey;
    expect(created.stdout.split('\n')).toEqual([
      'workspace created: Acme Inc (acme)',
      `  id          ${row!.id}`,
      `  widget key  ${widgetKey}`,
      '  origins     https://acme.example, https://shop.acme.example',
      `  embed       <script src="https://support.example/widget.js" data-workspace-key="${widgetKey}" defer></script>`,
      'admin account created: lee@acme.example (admin) in workspace acme',
      '',
    ]);
    await waitFor(() => server.app.workspaces.routeWidget(widgetKey, 'https://acme.example').workspace, 'the server to route the new widget key');

    const admin = await AdminClient.session(server.url, 'lee@acme.example', PASSWORD);
    expect(await admin.get('/api/admin/workspace')).toMatchObject({ status: 200, body: { id: row!.id, slug: 'acme' } });
  });

  it('refuses a taken slug, a bad slug or origin, a missing name, and an email that has an account, with exit code 2 and nothing written', async () => {
    const before = await workspaceRows();
    const cases: [string[], RegExp][] = [
      [['--slug', 'acme', '--name', 'Again'], /a workspace with the slug "acme" already exists/],
      [['--slug', 'Big Corp', '--name', 'Big'], /--slug: expected 2 to 40 lowercase letters, digits or -/],
      [['--slug', 'beta', '--name', 'Beta', '--origin', 'https://ok.example', '--origin', 'beta.example/path'], /--origin #2: expected an origin/],
      [['--slug', 'beta'], /--name is required/],
      [['--slug', 'beta', '--name', 'Beta', '--admin-email', 'lee@acme.example', '--password-stdin'], /an admin account for lee@acme.example already exists/],
      [['--slug', 'beta', '--name', 'Beta', '--admin-email', 'new@beta.example', '--password-stdin'], /at least 12 characters/],
      [['--slug', 'beta', '--name', 'Beta', '--colour', 'red'], /Unknown option '--colour'/],
    ];
    // A password long enough, except for the case about its length.
    const results = await Promise.all(cases.map(([args]) => createWorkspace(args, args.includes('new@beta.example') ? 'short' : PASSWORD)));
    for (const [index, [args, message]] of cases.entries()) {
      const refused = results[index]!;
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr).toMatch(message);
      expect(refused.stdout).toBe('');
    }
    expect(await workspaceRows()).toEqual(before);
  }, 120_000);

  it('refuses with exit code 3 while a server holds the embedded database, before asking for a password', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-wscli-'));
    const lock = await lockEmbeddedDatabase(dataDir, 'server');
    await lock.setUrl('http://localhost:3999');
    try {
      const refused = await createWorkspace(['--slug', 'gamma', '--name', 'Gamma', '--admin-email', 'g@gamma.example'], PASSWORD, {
        DATABASE_URL: undefined,
        REDIS_URL: undefined,
        DATA_DIR: dataDir,
      });
      expect(refused.code).toBe(3);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain(`the Switchboard server is running (pid ${process.pid}, http://localhost:3999) on the embedded database in ${dataDir}`);
      expect(refused.stderr).toContain('a workspace written now would not be seen by that server');
      expect(refused.stderr).toContain('in the console at http://localhost:3999/admin');
    } finally {
      lock.release();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('admin:create in a workspace', () => {
  it('places an account in a workspace by slug (--workspace), makes an owner (--role owner), and refuses an unknown slug', async () => {
    const operator = await createAdmin(['--email', 'sam@acme.example', '--role', 'operator', '--workspace', 'acme', '--password-stdin'], PASSWORD);
    expect(operator).toMatchObject({ code: 0, stderr: '' });
    expect(operator.stdout.trim()).toBe('admin account created: sam@acme.example (operator) in workspace acme');
    const ownerAccount = await createAdmin(['--email', 'root@deploy.example', '--role', 'owner', '--password-stdin'], PASSWORD);
    expect(ownerAccount.stdout.trim()).toBe('admin account created: root@deploy.example (owner)');
    const rows = (await server.app.database.db.execute(
      sql`select a.email, a.role, w.slug from admin_users a join workspaces w on w.id = a.workspace_id order by a.email`,
    )) as unknown as { email: string; role: string; slug: string }[];
    expect(rows).toEqual([
      { email: 'lee@acme.example', role: 'admin', slug: 'acme' },
      { email: 'root@deploy.example', role: 'owner', slug: 'default' },
      { email: 'sam@acme.example', role: 'operator', slug: 'acme' },
    ]);
    const owner = await AdminClient.session(server.url, 'root@deploy.example', PASSWORD);
    expect((await owner.get('/api/admin/workspaces')).body.items.map((item: { slug: string }) => item.slug)).toEqual(['default', 'acme']);

    const unknown = await createAdmin(['--email', 'x@nowhere.example', '--workspace', 'nowhere', '--password-stdin'], PASSWORD);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no workspace with the slug "nowhere"/);
  });
});
