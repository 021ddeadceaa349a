import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configSchema, loadConfig } from '../src/config/config.js';
import { Secret } from '../src/config/secret.js';
import { ConfigError, CredentialInvalidError, CredentialUnreadableError, MasterKeyMissingError } from '../src/errors/index.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { lockEmbeddedDatabase } from '../src/store/embedded-lock.js';
import { openCredentialVault, type CredentialVault } from '../src/workspaces/credential-vault.js';
import { credentialOverlay, INTEGRATIONS, type CredentialValues, type IntegrationName } from '../src/workspaces/integrations.js';
import { keyIdOf, MasterKeys } from '../src/workspaces/master-keys.js';
import { SecretBox } from '../src/workspaces/secret-box.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

/**
 * Workspace credentials sealed at rest (issue #19): AES-256-GCM envelope encryption under
 * SECRETS_MASTER_KEY, bound to its row, rotated with `secrets:rotate`, checked at start-up.
 * Real PostgreSQL, a database of this file's own: verifyAtStart and rotate read the whole table.
 */

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('hex');
const OPENAI_KEY = `sk-proj-${randomBytes(24).toString('hex')}`;
const STRIPE_KEY = `sk_live_${randomBytes(20).toString('hex')}`;

const keysConfig = (current?: string, previous?: string) => ({
  SECRETS_MASTER_KEY: current === undefined ? undefined : new Secret(current),
  SECRETS_MASTER_KEY_PREVIOUS: previous === undefined ? undefined : new Secret(previous),
});

let testDb: TestDatabase;
let database: Database;
let wsOne: string;
let wsTwo: string;

async function createWorkspace(): Promise<string> {
  const id = `ws_test${randomBytes(6).toString('hex')}`;
  await database.db.execute(sql`insert into workspaces (id, slug, name, widget_key) values (${id}, ${id}, ${`Test ${id}`}, ${`wk_${id}`})`);
  return id;
}

type RawRow = { workspace_id: string; integration: string; key_id: string; wrapped_key: string; ciphertext: string; masked: Record<string, string> };
async function rawRows(): Promise<RawRow[]> {
  return (await database.db.execute(sql`select * from workspace_credentials order by workspace_id, integration`)) as unknown as RawRow[];
}

const vaultWith = (current?: string, previous?: string): CredentialVault => openCredentialVault(keysConfig(current, previous), database.db);

beforeAll(async () => {
  testDb = await createTestDatabase();
  database = await openDatabase({ url: testDb.url, dataDir: 'unused', maxConnections: 2 });
  await database.migrate();
  wsOne = await createWorkspace();
  wsTwo = await createWorkspace();
});

afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

beforeEach(async () => {
  await database.db.execute(sql`delete from workspace_credentials where workspace_id in (${wsOne}, ${wsTwo})`);
});

describe('master keys', () => {
  it('accepts 32 bytes as base64, base64url or hex; the key id is a short fingerprint, never the key', () => {
    const bytes = randomBytes(32);
    const ids = [bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')].map((text) => MasterKeys.fromConfig(keysConfig(text)).current!.id);
    expect(new Set(ids)).toEqual(new Set([keyIdOf(bytes)]));
    expect(ids[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(bytes.toString('hex')).not.toContain(ids[0]);
  });

  it('refuses a key that is not 32 bytes with a ConfigError naming the variable and how to make one, never the value', () => {
    for (const bad of ['short', randomBytes(16).toString('base64'), randomBytes(32).toString('hex').slice(1), `${randomBytes(33).toString('base64')}`]) {
      const error = captureError(() => MasterKeys.fromConfig(keysConfig(bad)));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain('SECRETS_MASTER_KEY:');
      expect(error.message).toContain('openssl rand -base64 32');
      expect(error.message).not.toContain(bad);
    }
    const previous = captureError(() => MasterKeys.fromConfig(keysConfig(KEY_A, `${KEY_B},nope`)));
    expect(previous.message).toContain('SECRETS_MASTER_KEY_PREVIOUS (key 2 of 2)');
    expect(captureError(() => MasterKeys.fromConfig(keysConfig(undefined, KEY_A))).message).toContain('SECRETS_MASTER_KEY: required when SECRETS_MASTER_KEY_PREVIOUS is set');
  });

  it('the config takes both keys as Secrets, so they never print', () => {
    const config = loadConfig({ SECRETS_MASTER_KEY: KEY_A, SECRETS_MASTER_KEY_PREVIOUS: KEY_B });
    expect(config.SECRETS_MASTER_KEY).toBeInstanceOf(Secret);
    expect(JSON.stringify(config)).not.toContain(KEY_A);
    expect(JSON.stringify(config)).not.toContain(KEY_B);
  });
});

describe('secret box', () => {
  it('opens what it sealed only with the same associated data', () => {
    const box = new SecretBox(MasterKeys.fromConfig(keysConfig(KEY_A)));
    const sealed = box.seal('{"a":1}', 'ws_1|openai');
    expect(box.open(sealed, 'ws_1|openai')).toBe('{"a":1}');
    const swapped = captureError(() => box.open(sealed, 'ws_2|openai'));
    expect(swapped).toBeInstanceOf(CredentialUnreadableError);
    expect((swapped as CredentialUnreadableError).reason).toBe('not_authentic');
    // Same plaintext, fresh data key and nonces: two seals share nothing.
    const again = box.seal('{"a":1}', 'ws_1|openai');
    expect(again.ciphertext).not.toBe(sealed.ciphertext);
    expect(again.wrappedKey).not.toBe(sealed.wrappedKey);
  });
});

describe('credential vault', () => {
  it('stores and reads back each integration; a put replaces the cached copy', async () => {
    const vault = vaultWith(KEY_A);
    await vault.put(wsOne, 'openai', { OPENAI_API_KEY: OPENAI_KEY, OPENAI_MODEL: 'gpt-4.1' });
    await vault.put(wsOne, 'stripe', { STRIPE_SECRET_KEY: STRIPE_KEY, STRIPE_WEBHOOK_SECRET: 'whsec_old111111111111,whsec_new222222222222' });
    expect(await vault.get(wsOne, 'openai')).toEqual({ OPENAI_API_KEY: OPENAI_KEY, OPENAI_MODEL: 'gpt-4.1' });
    expect([...(await vault.all(wsOne)).keys()].sort()).toEqual(['openai', 'stripe']);
    expect(await vault.get(wsTwo, 'openai')).toBeUndefined();

    await vault.put(wsOne, 'openai', { OPENAI_API_KEY: `${OPENAI_KEY}x` });
    expect(await vault.get(wsOne, 'openai')).toEqual({ OPENAI_API_KEY: `${OPENAI_KEY}x` });
    // Another process (a fresh vault) reads the same from the table.
    expect(await vaultWith(KEY_A).get(wsOne, 'openai')).toEqual({ OPENAI_API_KEY: `${OPENAI_KEY}x` });

    expect(await vault.delete(wsOne, 'openai')).toBe(true);
    expect(await vault.delete(wsOne, 'openai')).toBe(false);
    expect(await vault.get(wsOne, 'openai')).toBeUndefined();
  });

  it('invalidate drops the decrypted copy so a change written elsewhere is read', async () => {
    const here = vaultWith(KEY_A);
    const elsewhere = vaultWith(KEY_A);
    await here.put(wsOne, 'hubspot', { HUBSPOT_ACCESS_TOKEN: 'pat-na1-first-token-value' });
    expect(await here.get(wsOne, 'hubspot')).toEqual({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-first-token-value' });
    await elsewhere.put(wsOne, 'hubspot', { HUBSPOT_ACCESS_TOKEN: 'pat-na1-second-token-value' });
    expect(await here.get(wsOne, 'hubspot')).toEqual({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-first-token-value' });
    here.invalidate(wsOne);
    expect(await here.get(wsOne, 'hubspot')).toEqual({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-second-token-value' });
  });

  it('the table holds no plaintext secret, nor its base64', async () => {
    await vaultWith(KEY_A).put(wsOne, 'openai', { OPENAI_API_KEY: OPENAI_KEY });
    const text = JSON.stringify(await rawRows());
    for (const form of [OPENAI_KEY, Buffer.from(OPENAI_KEY).toString('base64'), Buffer.from(OPENAI_KEY).toString('base64url'), Buffer.from(OPENAI_KEY).toString('hex')]) {
      expect(text).not.toContain(form);
    }
    expect(text).not.toContain(OPENAI_KEY.slice(8, 24));
  });

  it('lists masked values only: secrets shortened, plain fields as stored', async () => {
    const vault = vaultWith(KEY_A);
    await vault.put(wsOne, 'openai', { OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: 'https://llm.example.com/v1' });
    await vault.put(wsOne, 'stripe', { STRIPE_SECRET_KEY: STRIPE_KEY, STRIPE_WEBHOOK_SECRET: 'whsec_old111111111111,whsec_new222222222222' });
    await vault.put(wsOne, 'slack', { SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdefghijkl', installation: { team: { id: 'T0TEAM' }, bot: { token: 'xoxb-1234-5678-abcdefghijkl' } } });
    const listed = await vault.listMasked(wsOne);
    expect(listed.map((item) => item.integration)).toEqual(['openai', 'slack', 'stripe']);
    expect(listed[0]!.masked).toEqual({ OPENAI_API_KEY: `${OPENAI_KEY.slice(0, 4)}…${OPENAI_KEY.slice(-4)}`, OPENAI_BASE_URL: 'https://llm.example.com/v1' });
    expect(listed[1]!.masked).toEqual({ SLACK_BOT_TOKEN: 'xoxb…ijkl', installation: 'installed for T0TEAM' });
    expect(listed[2]!.masked.STRIPE_WEBHOOK_SECRET).toBe('whse…1111,whse…2222');
    expect(listed[0]!.updatedAt).toBeInstanceOf(Date);
    const text = JSON.stringify(listed);
    for (const secret of [OPENAI_KEY, STRIPE_KEY, 'whsec_old111111111111', 'xoxb-1234-5678-abcdefghijkl']) expect(text).not.toContain(secret);
    // Listing opens nothing: it works without a master key.
    expect(await vaultWith().listMasked(wsOne)).toEqual(listed);
  });

  it('a flipped byte in the ciphertext or the wrapped key fails to open with the typed error', async () => {
    await vaultWith(KEY_A).put(wsOne, 'openai', { OPENAI_API_KEY: OPENAI_KEY });
    for (const column of ['ciphertext', 'wrapped_key'] as const) {
      const [row] = await rawRows();
      const original = row![column];
      const bytes = Buffer.from(original, 'base64');
      bytes[bytes.length - 1]! ^= 0x01;
      await database.db.execute(sql`update workspace_credentials set ${sql.identifier(column)} = ${bytes.toString('base64')} where workspace_id = ${wsOne}`);
      const error = await vaultWith(KEY_A).get(wsOne, 'openai').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CredentialUnreadableError);
      expect((error as CredentialUnreadableError).reason).toBe('not_authentic');
      expect((error as Error).message).not.toContain(OPENAI_KEY);
      await database.db.execute(sql`update workspace_credentials set ${sql.identifier(column)} = ${original} where workspace_id = ${wsOne}`);
    }
    expect(await vaultWith(KEY_A).get(wsOne, 'openai')).toEqual({ OPENAI_API_KEY: OPENAI_KEY });
  });

  it('a row copied onto another workspace (or integration) does not open there', async () => {
    await vaultWith(KEY_A).put(wsOne, 'openai', { OPENAI_API_KEY: OPENAI_KEY });
    await database.db.execute(sql`
      insert into workspace_credentials (workspace_id, integration, key_id, wrapped_key, ciphertext, masked)
      select ${wsTwo}, integration, key_id, wrapped_key, ciphertext, masked from workspace_credentials where workspace_id = ${wsOne}
      union all
      select workspace_id, 'groq', key_id, wrapped_key, ciphertext, masked from workspace_credentials where workspace_id = ${wsOne}`);
    const swapped = await vaultWith(KEY_A).get(wsTwo, 'openai').catch((caught: unknown) => caught);
    expect(swapped).toBeInstanceOf(CredentialUnreadableError);
    expect((swapped as CredentialUnreadableError).reason).toBe('not_authentic');
    expect(await vaultWith(KEY_A).get(wsOne, 'groq').catch((caught: unknown) => caught)).toBeInstanceOf(CredentialUnreadableError);
  });

  it('refuses bad values with the field named and the value never echoed', async () => {
    const vault = vaultWith(KEY_A);
    const cases: [IntegrationName, Record<string, unknown>, RegExp][] = [
      ['openai', { OPENAI_API_KEY: 'sk-has a-space-secret', OPENAI_BASE_URL: 'not-a-url-secretish' }, /OPENAI_API_KEY: must be one value without spaces; OPENAI_BASE_URL: expected a URL/],
      ['openai', { OPENAI_KEY: 'sk-wrong-name-secret' }, /OPENAI_API_KEY: required; OPENAI_KEY: not a field of openai \(expected OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL\)/],
      ['stripe', { STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: 'whsec_a,whsec_b,whsec_c' }, /STRIPE_WEBHOOK_SECRET: expected one secret, or the old and the new comma-separated/],
      ['google', { GOOGLE_CLIENT_ID: 'client.apps.googleusercontent.com', GOOGLE_CLIENT_SECRET: 'gsecret-value' }, /GOOGLE_REFRESH_TOKEN: required with the other OAuth fields/],
      ['google', { GOOGLE_SERVICE_ACCOUNT_JSON: '{"private_key":"-----BEGIN PRIVATE KEY-----secretish"}' }, /GOOGLE_SERVICE_ACCOUNT_JSON: expected a service account key file/],
      ['twilio', { TWILIO_ACCOUNT_SID: 'AC-secretish', TWILIO_AUTH_TOKEN: 'token-secretish' }, /TWILIO_ACCOUNT_SID: expected an Account SID/],
      ['whatsapp-cloud', { WHATSAPP_ACCESS_TOKEN: 'EAAG-secretish' }, /META_APP_SECRET: required/],
    ];
    for (const [integration, values, expected] of cases) {
      const error = await vault.put(wsOne, integration, values).catch((caught: unknown) => caught);
      expect(error, integration).toBeInstanceOf(CredentialInvalidError);
      expect((error as Error).message).toMatch(expected);
      expect((error as CredentialInvalidError).httpStatus).toBe(400);
      for (const value of Object.values(values)) expect((error as Error).message).not.toContain(String(value));
      expect((error as Error).message).not.toContain('secretish');
    }
    expect(await rawRows()).toEqual([]);
  });

  it('without SECRETS_MASTER_KEY: nothing can be stored, stored rows cannot be read, and nothing stored reads as empty', async () => {
    const keyless = vaultWith();
    const put = await keyless.put(wsOne, 'openai', { OPENAI_API_KEY: OPENAI_KEY }).catch((caught: unknown) => caught);
    expect(put).toBeInstanceOf(MasterKeyMissingError);
    expect((put as Error).message).toMatch(/^SECRETS_MASTER_KEY is not set: credentials cannot be stored/);
    expect((await keyless.all(wsOne)).size).toBe(0);
    await vaultWith(KEY_A).put(wsOne, 'openai', { OPENAI_API_KEY: OPENAI_KEY });
    const get = await vaultWith().get(wsOne, 'openai').catch((caught: unknown) => caught);
    expect(get).toBeInstanceOf(MasterKeyMissingError);
    expect((get as Error).message).toMatch(/^SECRETS_MASTER_KEY is not set: credentials cannot be read/);
  });
});

describe('verify at start and rotation', () => {
  const idA = () => MasterKeys.fromConfig(keysConfig(KEY_A)).current!.id;
  const idB = () => MasterKeys.fromConfig(keysConfig(KEY_B)).current!.id;

  async function sealUnderA(): Promise<void> {
    const vault = vaultWith(KEY_A);
    await vault.put(wsOne, 'openai', { OPENAI_API_KEY: OPENAI_KEY });
    await vault.put(wsOne, 'stripe', { STRIPE_SECRET_KEY: STRIPE_KEY });
    await vault.put(wsTwo, 'openai', { OPENAI_API_KEY: `${OPENAI_KEY}2` });
  }

  it('passes with the sealing key, current or previous, and with no rows at all', async () => {
    await vaultWith().verifyAtStart();
    await vaultWith(randomBytes(32).toString('base64')).verifyAtStart();
    await sealUnderA();
    await vaultWith(KEY_A).verifyAtStart();
    await vaultWith(KEY_B, KEY_A).verifyAtStart();
  });

  it('fails clearly when the configured key does not open the stored rows, or no key is set', async () => {
    await sealUnderA();
    const wrong = await vaultWith(KEY_B).verifyAtStart().catch((caught: unknown) => caught);
    expect(wrong).toBeInstanceOf(ConfigError);
    expect((wrong as Error).message).toBe(
      `SECRETS_MASTER_KEY does not open the 3 stored credentials (key id ${idA()}): set it to the key they were sealed with, or put that key in SECRETS_MASTER_KEY_PREVIOUS while rotating`,
    );
    const unset = await vaultWith().verifyAtStart().catch((caught: unknown) => caught);
    expect(unset).toBeInstanceOf(ConfigError);
    expect((unset as Error).message).toContain(`SECRETS_MASTER_KEY is not set, but 3 workspace credentials are stored (key id ${idA()})`);
  });

  it('opens a row per key id for real: a key id that matches but a row that was altered fails too', async () => {
    await sealUnderA();
    await database.db.execute(sql`update workspace_credentials set wrapped_key = ${randomBytes(60).toString('base64')}`);
    const error = await vaultWith(KEY_A).verifyAtStart().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`under key id ${idA()} do not authenticate`);
  });

  it('rotates A → B: every row under B, B alone opens them, A alone no longer does; a second run skips them', async () => {
    await sealUnderA();
    const result = await vaultWith(KEY_B, KEY_A).rotate();
    expect(result).toEqual({ rewrapped: 3, skipped: 0, keyId: idB() });
    const rows = await rawRows();
    expect(new Set(rows.map((row) => row.key_id))).toEqual(new Set([idB()]));

    const onlyB = vaultWith(KEY_B);
    await onlyB.verifyAtStart();
    expect(await onlyB.get(wsOne, 'openai')).toEqual({ OPENAI_API_KEY: OPENAI_KEY });
    expect(await onlyB.get(wsTwo, 'openai')).toEqual({ OPENAI_API_KEY: `${OPENAI_KEY}2` });

    const onlyA = vaultWith(KEY_A);
    expect(await onlyA.verifyAtStart().catch((caught: unknown) => caught)).toBeInstanceOf(ConfigError);
    const stale = await onlyA.get(wsOne, 'openai').catch((caught: unknown) => caught);
    expect(stale).toBeInstanceOf(CredentialUnreadableError);
    expect((stale as CredentialUnreadableError).reason).toBe('unknown_key');

    expect(await vaultWith(KEY_B, KEY_A).rotate()).toEqual({ rewrapped: 0, skipped: 3, keyId: idB() });
  });

  it('a rotation that meets a row no key opens changes nothing', async () => {
    await sealUnderA();
    await vaultWith(KEY_B, KEY_A).put(wsTwo, 'groq', { GROQ_API_KEY: 'gsk_under_key_b_already' });
    const before = await rawRows();
    const error = await vaultWith(randomBytes(32).toString('base64'), KEY_B).rotate().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CredentialUnreadableError);
    expect(await rawRows()).toEqual(before);
  });
});

describe('npm run secrets:rotate', { timeout: 90_000 }, () => {
  function rotateCli(env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      // The source through tsx (what `npx tsx` runs), so the test does not depend on a fresh dist/.
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/workspaces/secrets-rotate-cli.ts'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'silent', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('refuses a wrong key (exit 2, what to set), rotates with new + previous (exit 0, counts), refuses a missing key', async () => {
    const vault = vaultWith(KEY_A);
    await vault.put(wsOne, 'openai', { OPENAI_API_KEY: OPENAI_KEY });
    await vault.put(wsTwo, 'hubspot', { HUBSPOT_ACCESS_TOKEN: 'pat-na1-some-token-value' });
    const idB = MasterKeys.fromConfig(keysConfig(KEY_B)).current!.id;

    const wrong = await rotateCli({ DATABASE_URL: testDb.url, SECRETS_MASTER_KEY: KEY_B });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^secrets:rotate: SECRETS_MASTER_KEY does not open the 2 stored credentials \(key id [0-9a-f]{16}\)/);
    expect(wrong.stderr).not.toContain(KEY_B);

    const rotated = await rotateCli({ DATABASE_URL: testDb.url, SECRETS_MASTER_KEY: KEY_B, SECRETS_MASTER_KEY_PREVIOUS: KEY_A });
    expect(rotated.stderr).toBe('');
    expect(rotated.stdout.trim()).toBe(`secrets:rotate: 2 credentials re-wrapped under key id ${idB}, 0 already under it`);
    expect(rotated.code).toBe(0);
    expect(new Set((await rawRows()).map((row) => row.key_id))).toEqual(new Set([idB]));
    expect(await vaultWith(KEY_B).get(wsTwo, 'hubspot')).toEqual({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-some-token-value' });

    const missing = await rotateCli({ DATABASE_URL: testDb.url });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('SECRETS_MASTER_KEY is not set');

    const malformed = await rotateCli({ DATABASE_URL: testDb.url, SECRETS_MASTER_KEY: 'too-short' });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('openssl rand -base64 32');
  });

  it('on the embedded database, refuses while a server holds it (exit 3)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-rotate-'));
    const lock = await lockEmbeddedDatabase(dataDir, 'server');
    try {
      const refused = await rotateCli({ DATA_DIR: dataDir, SECRETS_MASTER_KEY: KEY_A });
      expect(refused.code).toBe(3);
      // The same answer as admin:create's and workspace:create's (admin/cli-support.ts).
      expect(refused.stderr).toContain(`the Switchboard server is running (pid ${process.pid}`);
      expect(refused.stderr).toContain('Stop the server first');
    } finally {
      lock.release();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('credentialOverlay', () => {
  const config = (modes = '') => loadConfig({ WORKSPACE_CREDENTIALS: modes, OPENAI_API_KEY: 'sk-env-key', OPENAI_BASE_URL: 'http://env.example/v1' });
  const stored = (entries: [IntegrationName, CredentialValues][]) => new Map(entries);
  const openai: [IntegrationName, CredentialValues] = ['openai', { OPENAI_API_KEY: 'sk-workspace-key' }];

  it('the default workspace is exactly the environment, whatever is stored', () => {
    expect(credentialOverlay(config('openai=workspace'), 'default', stored([openai]))).toEqual({});
  });

  it('override (the default mode): the workspace’s values if stored, replacing the whole integration; else the environment', () => {
    expect(credentialOverlay(config(), wsOne, stored([]))).toEqual({});
    const overlay = credentialOverlay(config(), wsOne, stored([openai]));
    expect(overlay.OPENAI_API_KEY).toBeInstanceOf(Secret);
    expect(overlay.OPENAI_API_KEY!.reveal()).toBe('sk-workspace-key');
    // The workspace's key never goes to the environment's endpoint: unset fields take the config's defaults.
    expect('OPENAI_BASE_URL' in overlay && overlay.OPENAI_BASE_URL).toBeUndefined();
    expect(overlay.OPENAI_MODEL).toBe('gpt-4o-mini');
    expect(Object.keys(overlay).sort()).toEqual(['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENAI_MODEL']);
  });

  it('workspace: without stored values the integration is unset, so the environment’s key is not used', () => {
    const overlay = credentialOverlay(config('openai=workspace'), wsOne, stored([]));
    expect(Object.keys(overlay).sort()).toEqual(['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENAI_MODEL']);
    expect(overlay.OPENAI_API_KEY).toBeUndefined();
    expect(credentialOverlay(config('openai=workspace'), wsOne, stored([openai])).OPENAI_API_KEY!.reveal()).toBe('sk-workspace-key');
  });

  it('global: the environment’s, stored values ignored', () => {
    expect(credentialOverlay(config('openai=global'), wsOne, stored([openai]))).toEqual({});
  });

  it('config fields only: Slack’s installation stays out; webhook secrets keep old,new for the verifier to split', () => {
    const overlay = credentialOverlay(config(), wsOne, stored([
      ['slack', { SLACK_BOT_TOKEN: 'xoxb-ws', installation: { team: { id: 'T1' } } }],
      ['stripe', { STRIPE_SECRET_KEY: 'sk_ws', STRIPE_WEBHOOK_SECRET: 'whsec_old,whsec_new' }],
    ]));
    expect(Object.keys(overlay).sort()).toEqual(['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET']);
    expect(overlay.STRIPE_WEBHOOK_SECRET!.reveal()).toBe('whsec_old,whsec_new');
  });

  it('masks exactly the fields the config holds as Secret (and Slack’s installation)', () => {
    const shape = configSchema.shape as Record<string, { safeParse(value: unknown): { success: boolean; data?: unknown } }>;
    for (const [name, spec] of Object.entries(INTEGRATIONS)) {
      const secretInConfig = spec.configFields.filter((field) => shape[field]!.safeParse('x').data instanceof Secret);
      expect([...spec.secretFields].filter((field) => field !== 'installation').sort(), name).toEqual(secretInConfig.sort());
    }
  });

  it('WORKSPACE_CREDENTIALS: an unknown integration or mode is a ConfigError naming the variable', () => {
    expect(config('OpenAI=workspace, stripe=global').WORKSPACE_CREDENTIALS).toEqual({ openai: 'workspace', stripe: 'global' });
    expect(() => config('mailchimp=workspace')).toThrow(/WORKSPACE_CREDENTIALS: unknown integration "mailchimp" \(expected openai, anthropic/);
    expect(() => config('openai=tenant')).toThrow(/WORKSPACE_CREDENTIALS: openai: expected openai=global\|workspace\|override/);
    expect(() => config('openai')).toThrow(ConfigError);
  });
});

function captureError(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
