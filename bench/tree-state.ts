import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Which code a server ran: the checkout's commit, whether its src/ had uncommitted changes, and a hash of src/ as read. */
export interface TreeState {
  root: string;
  commit: string | undefined;
  /** Files under src/ that differ from the commit (`git status --porcelain src`). */
  uncommittedSrcFiles: number | undefined;
  sourceHash: string;
  at: string;
}

export function describeTree(root: string): TreeState {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const status = git('status', '--porcelain', '--', 'src');
  return {
    root,
    commit: git('rev-parse', '--short=7', 'HEAD'),
    uncommittedSrcFiles: status === undefined ? undefined : status.split('\n').filter(Boolean).length,
    sourceHash: sourceHash(root),
    at: new Date().toISOString(),
  };
}

/** The repository may have no commit to name: a hash of src/ says which code was measured. */
export function sourceHash(root: string): string {
  const hash = createHash('sha256');
  const files = readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
    .sort();
  for (const file of files) hash.update(relative(root, file)).update(readFileSync(file));
  return hash.digest('hex').slice(0, 12);
}

export function formatTree(tree: TreeState): string {
  const dirty = tree.uncommittedSrcFiles ? ` + ${tree.uncommittedSrcFiles} uncommitted src/ file(s)` : '';
  return `${tree.commit ?? 'no commit'}${dirty} (src ${tree.sourceHash}) at ${tree.root}`;
}
