import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminStore } from '../src/admin/admin-store.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { createAdmin } from './helpers/admin-seed.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

/**
 * Single sign-on re-applies the identity provider's role at each login; its groups map to viewer,
 * operator or admin, never to the deployment's owner, so an owner's sign-in must not demote it.
 */
describe('owner accounts and single sign-on', () => {
  let testDatabase: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    testDatabase = await createTestDatabase();
    database = await openDatabase({ url: testDatabase.url, dataDir: '/tmp' });
    await database.migrate();
  });

  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it("keeps an owner an owner when the provider's groups say admin, and still applies a change for the others", async () => {
    const store = new AdminStore(database.db);
    await createAdmin(database.db, 'owner@deploy.example', 'a long enough password', { role: 'owner' });
    await createAdmin(database.db, 'lee@acme.example', 'a long enough password', { role: 'operator' });
    const owner = await store.findOrCreateByOidc({ subject: 'https://idp|owner', email: 'owner@deploy.example', role: 'admin' });
    expect(owner !== 'conflict' && owner.user.role).toBe('owner');
    const operator = await store.findOrCreateByOidc({ subject: 'https://idp|lee', email: 'lee@acme.example', role: 'admin' });
    expect(operator !== 'conflict' && operator.user.role).toBe('admin');
  });
});
