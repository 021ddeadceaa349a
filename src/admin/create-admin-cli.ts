/**
 * Creates an admin console account (or resets its password with --reset):
 *
 *   npm run admin:create -- --email ops@example.com            # prompts for the password (not echoed)
 *   npm run admin:create -- --email sam@example.com --role operator --name Sam   # an operator (inbox, replies)
 *   printf '%s' "$PASSWORD" | npm run admin:create -- --email ops@example.com --password-stdin
 *
 * The password is never taken from argv: it would sit in shell history and in the
 * process list. Uses the same DATABASE_URL / DATA_DIR as the server. On the embedded database
 * (no DATABASE_URL) a running server holds DATA_DIR: the account would be written where that
 * server cannot see it, so the command refuses (exit code 3) and says to stop the server first.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig, type Config } from '../config/config.js';
import { openDatabase } from '../store/database.js';
import { embeddedDatabaseHolder, EmbeddedDatabaseBusyError, lockEmbeddedDatabase, type LockHolder } from '../store/embedded-lock.js';
import { ADMIN_ROLES } from '../store/schema.js';
import { AdminStore } from './admin-store.js';
import { hashPassword, MIN_PASSWORD_LENGTH } from './passwords.js';

class UsageError extends Error {}

/** The embedded database is open in the running server (or another process): exit code 3. */
class DatabaseInUseError extends Error {
  constructor(config: Config, holder: LockHolder) {
    const server = holder.holder === 'server';
    const url = holder.url ?? `http://localhost:${config.PORT}`;
    super(
      server
        ? [
            `the Switchboard server is running (pid ${holder.pid}, ${url}) on the embedded database in ${config.DATA_DIR},`,
            'which one process opens at a time: an account written now would not be seen by that server.',
            'Stop the server first (Ctrl-C in its terminal), run this command again, then start the server.',
            `With no account yet, you can instead create the first one at ${url}/admin with the setup token from the server's start-up output.`,
          ].join('\n')
        : `the embedded database in ${config.DATA_DIR} is open in another process (${holder.holder}, pid ${holder.pid}): wait for it to finish, then run this command again.`,
    );
  }
}

async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // One trailing newline is the terminator of `echo`, not part of the password.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function promptPassword(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  const output = rl as unknown as { _writeToOutput: (text: string) => void };
  process.stdout.write(question);
  output._writeToOutput = () => {}; // no echo
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    process.stdout.write('\n');
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      email: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      reset: { type: 'boolean', default: false },
      role: { type: 'string', default: 'admin' },
      name: { type: 'string' },
    },
    strict: true,
  });
  const email = z.email().safeParse(values.email?.trim());
  if (!email.success) throw new UsageError('--email must be an email address');
  const role = z.enum(ADMIN_ROLES).safeParse(values.role);
  if (!role.success) throw new UsageError(`--role must be one of ${ADMIN_ROLES.join(', ')}`);
  if (values.name !== undefined && (values.name.trim().length === 0 || values.name.length > 80)) throw new UsageError('--name must be 1 to 80 characters');
  const config = loadConfig();
  // Before asking for a password that could not be used.
  const running = config.DATABASE_URL ? undefined : await embeddedDatabaseHolder(config.DATA_DIR);
  if (running) throw new DatabaseInUseError(config, running);

  let password: string;
  if (values['password-stdin'] || !process.stdin.isTTY) {
    password = await readPasswordFromStdin();
  } else {
    password = await promptPassword('Password: ');
    const again = await promptPassword('Repeat password: ');
    if (again !== password) throw new UsageError('the passwords differ');
  }
  if (password.length < MIN_PASSWORD_LENGTH) throw new UsageError(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`);

  // Held while the account is written, so a server starting now waits for this instead of opening the files too.
  const lock = config.DATABASE_URL
    ? undefined
    : await lockEmbeddedDatabase(config.DATA_DIR, 'admin:create').catch((error: unknown) => {
        throw error instanceof EmbeddedDatabaseBusyError ? new DatabaseInUseError(config, error.holder) : error;
      });
  const database = await openDatabase({ url: config.DATABASE_URL?.reveal(), dataDir: config.DATA_DIR, maxConnections: 1 }).catch((error: unknown) => {
    lock?.release();
    throw error;
  });
  try {
    await database.migrate();
    const store = new AdminStore(database.db);
    const passwordHash = await hashPassword(password);
    if (values.reset) {
      if (!(await store.setPassword(email.data, passwordHash))) throw new UsageError(`no admin account for ${email.data}`);
      console.log(`password reset for ${email.data}; its sessions were ended`);
    } else {
      const created = await store.createUser(email.data, passwordHash, { role: role.data, name: values.name });
      if (!created) throw new UsageError(`an admin account for ${email.data} already exists (use --reset to change its password)`);
      console.log(`admin account created: ${created.email} (${created.role})`);
    }
  } finally {
    await database.close();
    lock?.release();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    const inUse = error instanceof DatabaseInUseError;
    const known = inUse || error instanceof UsageError || (error instanceof Error && error.name === 'ConfigError') || (error as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS');
    console.error(`admin:create: ${known ? (error as Error).message : 'failed'}`);
    if (!known) console.error(error);
    process.exit(inUse ? 3 : known ? 2 : 1);
  },
);
