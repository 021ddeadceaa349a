import { SwitchboardError } from '../errors/index.js';
import { createInterface } from 'node:readline';
import type { Config } from '../config/config.js';
import { openDatabase, type Database } from '../store/database.js';
import { embeddedDatabaseHolder, EmbeddedDatabaseBusyError, lockEmbeddedDatabase, type LockHolder } from '../store/embedded-lock.js';
import { MIN_PASSWORD_LENGTH } from './passwords.js';

/**
 * What the operator's commands that write to the database (`admin:create`, `workspace:create`)
 * share: reading a password without echo or argv, refusing to write to an embedded database a
 * server holds, and one way to report and exit.
 */

/** A mistake in the command line or its input: the message says what to do; exit code 2. */
export class UsageError extends Error {}

/** What a refused command would have written, and what to do instead while the server runs. */
export interface WrittenThing {
  /** "an account", "a workspace". */
  what: string;
  /** A sentence offering another way, given the server's URL. */
  instead?: (url: string) => string;
}

/** The embedded database is open in the running server (or another process): exit code 3. */
export class DatabaseInUseError extends Error {
  constructor(config: Config, holder: LockHolder, written: WrittenThing) {
    const server = holder.holder === 'server';
    const url = holder.url ?? `http://localhost:${config.PORT}`;
    super(
      server
        ? [
            `the Switchboard server is running (pid ${holder.pid}, ${url}) on the embedded database in ${config.DATA_DIR},`,
            `which one process opens at a time: ${written.what} written now would not be seen by that server.`,
            'Stop the server first (Ctrl-C in its terminal), run this command again, then start the server.',
            ...(written.instead ? [written.instead(url)] : []),
          ].join('\n')
        : `the embedded database in ${config.DATA_DIR} is open in another process (${holder.holder}, pid ${holder.pid}): wait for it to finish, then run this command again.`,
    );
  }
}

/** Before asking anything: a server on the embedded database would never see what this command writes. */
export async function refuseIfEmbeddedInUse(config: Config, written: WrittenThing): Promise<void> {
  const running = config.DATABASE_URL ? undefined : await embeddedDatabaseHolder(config.DATA_DIR);
  if (running) throw new DatabaseInUseError(config, running, written);
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

/** A new password: from stdin (`--password-stdin`, or whenever stdin is not a terminal), else asked twice without echo. */
export async function readNewPassword(fromStdin: boolean): Promise<string> {
  let password: string;
  if (fromStdin || !process.stdin.isTTY) {
    password = await readPasswordFromStdin();
  } else {
    password = await promptPassword('Password: ');
    const again = await promptPassword('Repeat password: ');
    if (again !== password) throw new UsageError('the passwords differ');
  }
  if (password.length < MIN_PASSWORD_LENGTH) throw new UsageError(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  return password;
}

/**
 * Opens the server's database (migrated) for `work`, then closes it. On the embedded database the
 * lock is held meanwhile, so a server starting now waits for this instead of opening the files too.
 */
export async function withCliDatabase<T>(config: Config, holderName: string, written: WrittenThing, work: (database: Database) => Promise<T>): Promise<T> {
  const lock = config.DATABASE_URL
    ? undefined
    : await lockEmbeddedDatabase(config.DATA_DIR, holderName).catch((error: unknown) => {
        throw error instanceof EmbeddedDatabaseBusyError ? new DatabaseInUseError(config, error.holder, written) : error;
      });
  const database = await openDatabase({ url: config.DATABASE_URL?.reveal(), dataDir: config.DATA_DIR, maxConnections: 1 }).catch((error: unknown) => {
    lock?.release();
    throw error;
  });
  try {
    await database.migrate();
    return await work(database);
  } finally {
    await database.close();
    lock?.release();
  }
}

/** Runs a command's main and exits: 0 done, 2 a usage or configuration mistake, 3 the embedded database is in use, 1 anything else. */
export function runCli(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      const inUse = error instanceof DatabaseInUseError;
      const known =
        inUse ||
        error instanceof UsageError ||
        // Typed errors (ConfigError, a missing or wrong master key, …): their message says what to set, never a secret.
        error instanceof SwitchboardError ||
        (error instanceof Error && error.name === 'ConfigError') ||
        (error as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS');
      console.error(`${name}: ${known ? (error as Error).message : 'failed'}`);
      if (!known) console.error(error);
      process.exit(inUse ? 3 : known ? 2 : 1);
    },
  );
}
