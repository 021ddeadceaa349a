/**
 * Creates a workspace, and optionally its first admin account:
 *
 *   npm run workspace:create -- --slug acme --name "Acme"
 *   npm run workspace:create -- --slug acme --name "Acme" --origin https://acme.example --origin https://shop.acme.example
 *   npm run workspace:create -- --slug acme --name "Acme" --admin-email lee@acme.example   # prompts for that account's password
 *   printf '%s' "$PASSWORD" | npm run workspace:create -- --slug acme --name "Acme" --admin-email lee@acme.example --password-stdin
 *
 * Prints the workspace's id, its widget key and the `<script>` that embeds its widget. More
 * accounts come from `npm run admin:create -- --workspace acme`; settings, credentials and channel
 * bindings from the console. Like admin:create it writes to the server's DATABASE_URL / DATA_DIR,
 * takes the password from stdin or a prompt (never argv), and refuses (exit code 3) while a server
 * holds the embedded database. Running servers on PostgreSQL learn of the workspace over Redis.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { hashPassword } from '../admin/passwords.js';
import { AdminStore } from '../admin/admin-store.js';
import { readNewPassword, refuseIfEmbeddedInUse, runCli, UsageError, withCliDatabase, type WrittenThing } from '../admin/cli-support.js';
import { loadConfig, type Config } from '../config/config.js';
import { createLogger } from '../observability/logger.js';
import type { Db } from '../store/database.js';
import { WorkspaceDirectory } from './workspace-directory.js';
import { embedSnippet, originListSchema, slugSchema, workspaceNameSchema } from './workspace-input.js';
import { WorkspaceRecords } from './workspace-records.js';

const WORKSPACE: WrittenThing = { what: 'a workspace', instead: (url) => `Or create it while the server runs, in the console at ${url}/admin (Workspaces, as an owner).` };

/** The first message of a zod failure, as the command line names it. */
function valid<T>(schema: z.ZodType<T>, value: unknown, option: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new UsageError(`${option}${issue && issue.path.length > 0 ? ` #${Number(issue.path[0]) + 1}` : ''}: ${issue?.message ?? 'invalid'}`);
}

/** Tells the running instances (over Redis, as the console does) so they route to the new workspace without a restart. */
async function announce(config: Config, records: WorkspaceRecords): Promise<boolean> {
  if (!config.REDIS_URL) return false;
  const directory = await WorkspaceDirectory.open({
    records,
    // Its warnings (Redis unreachable) go to stderr; stdout is the command's answer.
    logger: createLogger({ level: 'warn', name: 'workspace:create', destination: process.stderr }),
    redis: { url: config.REDIS_URL.reveal(), prefix: config.REDIS_PREFIX },
  });
  try {
    // Its own announcement comes back to it too: the database stays open until that read is done.
    const echoed = new Promise<void>((resolve) => {
      let reads = 0;
      directory.onChange(() => ++reads === 2 && resolve());
      setTimeout(resolve, 2000).unref();
    });
    await directory.changed();
    await echoed;
  } finally {
    await directory.close();
  }
  return true;
}

async function adminFree(db: Db, email: string): Promise<void> {
  if (await new AdminStore(db).findUserByEmail(email)) throw new UsageError(`an admin account for ${email} already exists (accounts belong to one workspace)`);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      slug: { type: 'string' },
      name: { type: 'string' },
      origin: { type: 'string', multiple: true },
      'admin-email': { type: 'string' },
      'admin-name': { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.slug === undefined) throw new UsageError('--slug is required (2 to 40 lowercase letters, digits or -)');
  if (values.name === undefined) throw new UsageError('--name is required');
  const slug = valid(slugSchema, values.slug, '--slug');
  const name = valid(workspaceNameSchema, values.name, '--name');
  const allowedOrigins = valid(originListSchema, values.origin ?? [], '--origin');
  const adminEmail = values['admin-email'] === undefined ? undefined : valid(z.email('must be an email address'), values['admin-email'].trim(), '--admin-email');
  const adminName = values['admin-name'];
  if (adminEmail === undefined && (adminName !== undefined || values['password-stdin'])) throw new UsageError('--admin-name and --password-stdin go with --admin-email');
  if (adminName !== undefined && (adminName.trim().length === 0 || adminName.length > 80)) throw new UsageError('--admin-name must be 1 to 80 characters');

  const config = loadConfig();
  // Before asking for a password that could not be used.
  await refuseIfEmbeddedInUse(config, WORKSPACE);
  const password = adminEmail === undefined ? undefined : await readNewPassword(values['password-stdin']);

  await withCliDatabase(config, 'workspace:create', WORKSPACE, async (database) => {
    const records = new WorkspaceRecords(database.db);
    if ((await records.list()).some((row) => row.slug === slug)) throw new UsageError(`a workspace with the slug "${slug}" already exists`);
    if (adminEmail !== undefined) await adminFree(database.db, adminEmail);
    const workspace = await records.create({ slug, name, allowedOrigins });
    const baseUrl = config.PUBLIC_URL ?? `http://localhost:${config.PORT}`;
    console.log(`workspace created: ${workspace.name} (${workspace.slug})`);
    console.log(`  id          ${workspace.id}`);
    console.log(`  widget key  ${workspace.widgetKey}`);
    if (allowedOrigins.length > 0) console.log(`  origins     ${allowedOrigins.join(', ')}`);
    console.log(`  embed       ${embedSnippet(baseUrl, workspace.widgetKey)}`);
    if (adminEmail !== undefined && password !== undefined) {
      const created = await new AdminStore(database.db).createUser(adminEmail, await hashPassword(password), { role: 'admin', name: adminName, workspaceId: workspace.id });
      if (!created) throw new UsageError(`the workspace was created, but an admin account for ${adminEmail} already exists`);
      console.log(`admin account created: ${created.email} (${created.role}) in workspace ${workspace.slug}`);
    }
    if (!(await announce(config, records)) && config.DATABASE_URL) {
      console.log('A server already running without REDIS_URL sees the new workspace after a restart.');
    }
  });
}

runCli('workspace:create', () => main(process.argv.slice(2)));
