import { spawn } from 'node:child_process';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/** `npm run admin:create` as an operator runs it (`node dist/admin/create-admin-cli.js`): a child process against the server's database. */

let server: RunningApp;

function createAdmin(args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/admin/create-admin-cli.js', ...args], {
      env: { ...process.env, DATABASE_URL: server.database!.url, LOG_LEVEL: 'silent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function login(email: string, password: string): Promise<number> {
  const csrf = await fetch(`${server.url}/api/admin/csrf`);
  const cookie = csrf.headers.getSetCookie()[0]!.split(';')[0]!;
  const response = await fetch(`${server.url}/api/admin/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': (await csrf.json()).csrfToken },
    body: JSON.stringify({ email, password }),
  });
  return response.status;
}

beforeAll(async () => {
  server = await startTestApp();
});

afterAll(async () => {
  await server?.stop();
});

describe('admin:create', () => {
  it('creates an account from a password on stdin; the password is stored only as an argon2id hash', async () => {
    const created = await createAdmin(['--email', 'Lead@Example.com', '--password-stdin'], 'a long enough password\n');
    expect(created.stderr).toBe('');
    expect(created.stdout.trim()).toBe('admin account created: lead@example.com (admin)');
    expect(created.code).toBe(0);
    expect(await login('lead@example.com', 'a long enough password')).toBe(200);
    expect(await login('lead@example.com', 'a long enough password\n')).toBe(401);
    const rows = (await server.app.database.db.execute(
      sql`select password_hash from admin_users where email = 'lead@example.com'`,
    )) as unknown as { password_hash: string }[];
    expect(rows[0]!.password_hash).toMatch(/^\$argon2id\$/);
  });

  it('refuses a duplicate account, a short password and a bad email with exit code 2, and resets with --reset', async () => {
    const duplicate = await createAdmin(['--email', 'lead@example.com', '--password-stdin'], 'another long password');
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr).toMatch(/already exists/);
    const short = await createAdmin(['--email', 'new@example.com', '--password-stdin'], 'short');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 12 characters/);
    const badEmail = await createAdmin(['--email', 'not-an-email', '--password-stdin'], 'a long enough password');
    expect(badEmail.code).toBe(2);
    expect(badEmail.stderr).toMatch(/--email must be an email address/);
    const reset = await createAdmin(['--email', 'lead@example.com', '--password-stdin', '--reset'], 'the new long password');
    expect(reset.code).toBe(0);
    expect(await login('lead@example.com', 'a long enough password')).toBe(401);
    expect(await login('lead@example.com', 'the new long password')).toBe(200);
  });

  it('creates an operator with a display name, and refuses an unknown role', async () => {
    const created = await createAdmin(['--email', 'sam@example.com', '--role', 'operator', '--name', 'Sam', '--password-stdin'], 'a long enough password');
    expect(created.stdout.trim()).toBe('admin account created: sam@example.com (operator)');
    const rows = (await server.app.database.db.execute(sql`select role, name from admin_users where email = 'sam@example.com'`)) as unknown as { role: string; name: string }[];
    expect(rows[0]).toEqual({ role: 'operator', name: 'Sam' });
    const bad = await createAdmin(['--email', 'x@example.com', '--role', 'root', '--password-stdin'], 'a long enough password');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--role must be one of viewer, operator, admin/);
  });
});
