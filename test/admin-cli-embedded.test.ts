import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AdminClient } from './helpers/admin-client.js';
import { startAppProcess, type AppProcess } from './helpers/app-process.js';

/**
 * `npm run admin:create` next to a running server on the embedded database (no DATABASE_URL:
 * PGlite in DATA_DIR, which one process opens at a time). The server holds DATA_DIR/switchboard.lock;
 * the command refuses while it runs instead of writing an account that server would never see.
 */

const PASSWORD = 'a long enough password';
const dataDirs: string[] = [];
const servers: AppProcess[] = [];

async function freshDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-embedded-'));
  dataDirs.push(dir);
  return dir;
}

async function startEmbedded(dataDir: string): Promise<AppProcess> {
  const server = await startAppProcess({ DATA_DIR: dataDir });
  servers.push(server);
  return server;
}

function createAdmin(dataDir: string, args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // No DATABASE_URL: the embedded database in DATA_DIR, as on a fresh machine.
    const child = spawn(process.execPath, ['dist/admin/create-admin-cli.js', ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
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

const setupNeeded = async (url: string) => (await new AdminClient(url).get('/api/admin/setup')).body.needed as boolean;

afterEach(async () => {
  await Promise.allSettled(servers.splice(0).map((server) => server.kill()));
});

afterAll(async () => {
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('admin:create on the embedded database', () => {
  it('refuses while the server runs ("stop the server first"), works once it is stopped, and the restarted server sees the account', async () => {
    const dataDir = await freshDataDir();
    const lockFile = join(dataDir, 'switchboard.lock');
    const server = await startEmbedded(dataDir);
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).toMatchObject({ pid: server.child.pid, holder: 'server', url: server.url });

    const refused = await createAdmin(dataDir, ['--email', 'ops@example.com', '--password-stdin'], PASSWORD);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(`the Switchboard server is running (pid ${server.child.pid}, ${server.url}) on the embedded database in ${dataDir}`);
    expect(refused.stderr).toContain('Stop the server first');
    expect(refused.stderr).toContain(`${server.url}/admin`);
    // Nothing was written behind the server's back: it still has no account.
    expect(await setupNeeded(server.url)).toBe(true);

    // A second server on the same folder stops at once, naming the first.
    await expect(startAppProcess({ DATA_DIR: dataDir })).rejects.toThrow(
      new RegExp(`embedded database in ${dataDir} is open in another process \\(a Switchboard server at ${server.url}, pid ${server.child.pid}\\)`),
    );
    expect(await setupNeeded(server.url)).toBe(true); // the first one is unharmed

    await server.stop();
    expect(existsSync(lockFile)).toBe(false);
    const created = await createAdmin(dataDir, ['--email', 'ops@example.com', '--password-stdin'], PASSWORD);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout.trim()).toBe('admin account created: ops@example.com (admin)');
    expect(existsSync(lockFile)).toBe(false);

    const restarted = await startEmbedded(dataDir);
    await AdminClient.session(restarted.url, 'ops@example.com', PASSWORD);
    expect(await setupNeeded(restarted.url)).toBe(false);
    expect(existsSync(join(dataDir, 'admin-setup-token'))).toBe(false);
  }, 180_000);

  it('takes over the lock of a server that was killed (its pid is gone)', async () => {
    const dataDir = await freshDataDir();
    const server = await startEmbedded(dataDir);
    const pid = server.child.pid;
    await server.kill(); // SIGKILL: no shutdown hook removes the lock
    const lockFile = join(dataDir, 'switchboard.lock');
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).toMatchObject({ pid, holder: 'server' });

    const created = await createAdmin(dataDir, ['--email', 'lead@example.com', '--role', 'operator', '--password-stdin'], PASSWORD);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout.trim()).toBe('admin account created: lead@example.com (operator)');
    expect(existsSync(lockFile)).toBe(false);
  }, 120_000);
});
