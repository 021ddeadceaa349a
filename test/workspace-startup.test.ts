import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config.js';
import { workspaceCredentials } from '../src/store/schema.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * A master key that does not open the stored credentials stops the server at start, with what
 * to set; the old key beside the new one (a rotation window) starts it; the table never holds a
 * credential in the clear.
 */
describe('SECRETS_MASTER_KEY at start-up', () => {
  const keyA = randomBytes(32).toString('base64');
  const keyB = randomBytes(32).toString('base64');
  let first: RunningApp | undefined;

  afterAll(async () => {
    // Its app is closed by the test (the database outlives it for the next starts).
    await first?.database?.drop();
  });

  it('refuses to start with a key that does not open the stored credentials, and starts with the old key beside the new one', async () => {
    first = await startTestApp({ SECRETS_MASTER_KEY: keyA });
    const workspace = await first.app.workspaceRecords.create({ slug: 'startup-co', name: 'Startup Co' });
    await first.app.credentials.put(workspace.id, 'openai', { OPENAI_API_KEY: 'sk-startup-secret-1234' });
    const rows = await first.app.database.db.select().from(workspaceCredentials);
    expect(JSON.stringify(rows)).not.toContain('sk-startup-secret-1234');
    expect(JSON.stringify(rows)).not.toContain(Buffer.from('sk-startup-secret-1234').toString('base64'));
    const url = first.database!.url;
    await first.app.close();

    const wrong = startTestApp({ DATABASE_URL: url, SECRETS_MASTER_KEY: keyB });
    await expect(wrong).rejects.toBeInstanceOf(ConfigError);
    await expect(wrong).rejects.toThrow(/SECRETS_MASTER_KEY/);
    await expect(startTestApp({ DATABASE_URL: url })).rejects.toThrow(/SECRETS_MASTER_KEY/);

    const rotating = await startTestApp({ DATABASE_URL: url, SECRETS_MASTER_KEY: keyB, SECRETS_MASTER_KEY_PREVIOUS: keyA });
    try {
      const resolved = await rotating.app.workspaceConfigs.configFor(workspace.id);
      expect(resolved.config.OPENAI_API_KEY?.reveal()).toBe('sk-startup-secret-1234');
    } finally {
      await rotating.app.close();
    }
  });
});
