/**
 * Creates an admin console account (or resets its password with --reset):
 *
 *   npm run admin:create -- --email ops@example.com            # prompts for the password (not echoed)
 *   npm run admin:create -- --email sam@example.com --role operator --name Sam   # an operator (inbox, replies)
 *   npm run admin:create -- --email lee@acme.example --workspace acme            # an admin of the workspace `acme`
 *   npm run admin:create -- --email you@example.com --role owner                 # manages every workspace
 *   printf '%s' "$PASSWORD" | npm run admin:create -- --email ops@example.com --password-stdin
 *
 * An account belongs to one workspace (--workspace, by slug; the default workspace without it);
 * an `owner` may act in any. The password is never taken from argv: it would sit in shell
 * history and in the process list. Uses the same DATABASE_URL / DATA_DIR as the server. On the
 * embedded database (no DATABASE_URL) a running server holds DATA_DIR: the account would be
 * written where that server cannot see it, so the command refuses (exit code 3) and says to stop
 * the server first.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig } from '../config/config.js';
import { ADMIN_ROLES } from '../store/schema.js';
import { WorkspaceRecords } from '../workspaces/workspace-records.js';
import { AdminStore } from './admin-store.js';
import { readNewPassword, refuseIfEmbeddedInUse, runCli, UsageError, withCliDatabase, type WrittenThing } from './cli-support.js';
import { hashPassword } from './passwords.js';

const ACCOUNT: WrittenThing = {
  what: 'an account',
  instead: (url) => `With no account yet, you can instead create the first one at ${url}/admin with the setup token from the server's start-up output.`,
};

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      email: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      reset: { type: 'boolean', default: false },
      role: { type: 'string', default: 'admin' },
      name: { type: 'string' },
      workspace: { type: 'string' },
    },
    strict: true,
  });
  const email = z.email().safeParse(values.email?.trim());
  if (!email.success) throw new UsageError('--email must be an email address');
  const role = z.enum(ADMIN_ROLES).safeParse(values.role);
  if (!role.success) throw new UsageError(`--role must be one of ${ADMIN_ROLES.join(', ')}`);
  if (values.name !== undefined && (values.name.trim().length === 0 || values.name.length > 80)) throw new UsageError('--name must be 1 to 80 characters');
  if (values.reset && values.workspace !== undefined) throw new UsageError('--reset changes a password only; leave out --workspace');
  const config = loadConfig();
  // Before asking for a password that could not be used.
  await refuseIfEmbeddedInUse(config, ACCOUNT);
  const password = await readNewPassword(values['password-stdin']);

  await withCliDatabase(config, 'admin:create', ACCOUNT, async (database) => {
    const store = new AdminStore(database.db);
    const passwordHash = await hashPassword(password);
    if (values.reset) {
      if (!(await store.setPassword(email.data, passwordHash))) throw new UsageError(`no admin account for ${email.data}`);
      console.log(`password reset for ${email.data}; its sessions were ended`);
      return;
    }
    const workspace = values.workspace === undefined ? undefined : (await new WorkspaceRecords(database.db).list()).find((row) => row.slug === values.workspace);
    if (values.workspace !== undefined && !workspace) throw new UsageError(`no workspace with the slug "${values.workspace}" (npm run workspace:create makes one)`);
    const created = await store.createUser(email.data, passwordHash, { role: role.data, name: values.name, ...(workspace && { workspaceId: workspace.id }) });
    if (!created) throw new UsageError(`an admin account for ${email.data} already exists (use --reset to change its password)`);
    console.log(`admin account created: ${created.email} (${created.role})${workspace ? ` in workspace ${workspace.slug}` : ''}`);
  });
}

runCli('admin:create', () => main(process.argv.slice(2)));
