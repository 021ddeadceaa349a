import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The file in DATA_DIR that says which process has the embedded database open. */
const LOCK_FILE = 'switchboard.lock';

export interface LockHolder {
  pid: number;
  /** What holds it: the server (`npm start`) or `admin:create`. */
  holder: string;
  startedAt: string;
  /** The server's address once it listens, for the message another process shows. */
  url?: string;
}

/** Another live process has the embedded database open. */
export class EmbeddedDatabaseBusyError extends Error {
  override readonly name = 'EmbeddedDatabaseBusyError';
  constructor(
    readonly lockPath: string,
    readonly holder: LockHolder,
  ) {
    super(`the embedded database in ${lockPath.replace(/\/[^/]+$/, '')} is open in another process (${holder.holder}, pid ${holder.pid})`);
  }
}

export interface EmbeddedDatabaseLock {
  readonly path: string;
  /** Adds the server's address to the lock file, so a refused `admin:create` can name it. */
  setUrl(url: string): Promise<void>;
  /** Removes the lock file (idempotent; also run at process exit). */
  release(): void;
}

/**
 * PGlite is PostgreSQL in this process: two processes that open the same DATA_DIR do not see
 * each other's writes and can corrupt the files. So the server and `admin:create` take this lock
 * first: a file created exclusively, holding the pid. A file whose pid is not alive (a process
 * killed with SIGKILL, a container restarted with the same pid 1) is stale and taken over.
 */
export async function lockEmbeddedDatabase(dataDir: string, holder: string): Promise<EmbeddedDatabaseLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  const mine: LockHolder = { pid: process.pid, holder, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, JSON.stringify(mine));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const current = readHolder(path);
    if (current && isAlive(current.pid)) throw new EmbeddedDatabaseBusyError(path, current);
    if (current) {
      removeIfHeldBy(path, current.pid); // stale: its process is gone
    } else if (attempt < 2) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // empty: another process is writing it right now
    } else {
      unlinkSafely(path); // still unreadable: not a lock anyone holds
    }
    if (attempt === 4) throw new Error(`could not take the lock ${path}`);
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    removeIfHeldBy(path, process.pid);
  };
  process.on('exit', release);
  return {
    path,
    async setUrl(url) {
      if (released) return;
      // Written aside and renamed over: a reader never sees a half-written file.
      await writeFile(`${path}.${process.pid}`, JSON.stringify({ ...mine, url }));
      await rename(`${path}.${process.pid}`, path);
    },
    release,
  };
}

/** The live process that has the embedded database in `dataDir` open, if any. */
export async function embeddedDatabaseHolder(dataDir: string): Promise<LockHolder | undefined> {
  const text = await readFile(join(dataDir, LOCK_FILE), 'utf8').catch(() => undefined);
  const holder = text === undefined ? undefined : parseHolder(text);
  return holder && isAlive(holder.pid) ? holder : undefined;
}

function readHolder(path: string): LockHolder | undefined {
  try {
    return parseHolder(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    return Number.isInteger(value.pid) && typeof value.holder === 'string' ? (value as LockHolder) : undefined;
  } catch {
    return undefined;
  }
}

/** `kill(pid, 0)` sends nothing: it only asks whether the process exists (EPERM: it does, as another user). */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return false; // our own pid in an old file: a restarted container's pid 1
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeIfHeldBy(path: string, pid: number): void {
  if (readHolder(path)?.pid === pid) unlinkSafely(path);
}

function unlinkSafely(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
