import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export const POSTGRES_ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Databases created by this run and not yet dropped: the exit path drops them. */
const created = new Set<string>();

export interface BenchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh, empty `sb_bench_<random>` database on the local PostgreSQL; the server migrates it on start. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `sb_bench_${randomBytes(6).toString('hex')}`;
  await asAdmin((admin) => admin.unsafe(`create database ${name}`));
  created.add(name);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => dropBenchDatabase(name) };
}

async function dropBenchDatabase(name: string): Promise<void> {
  await asAdmin((admin) => admin.unsafe(`drop database if exists ${name} with (force)`));
  created.delete(name);
}

/** Drops whatever this run created and has not dropped yet (used on error and Ctrl-C); returns their names. */
export async function dropAllBenchDatabases(): Promise<string[]> {
  const names = [...created];
  for (const name of names) await dropBenchDatabase(name);
  return names;
}

/**
 * Transactions committed in a bench database so far (`pg_stat_database.xact_commit`). A backend
 * publishes its counts at most once a second, and an idle one may hold them until its next
 * transaction or its exit (PostgreSQL 15). So the reading first ends the database's backends, which
 * publish as they exit; the server's pool (postgres.js) opens new connections on its next query.
 * Take it only when nothing is in flight, and not inside a measured latency window: the next
 * queries pay for the new connections.
 */
export async function readCommits(name: string): Promise<number> {
  let commits = NaN;
  await asAdmin(async (admin) => {
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;
    const deadline = performance.now() + 5_000;
    while ((await admin`select 1 from pg_stat_activity where datname = ${name}`).length > 0) {
      if (performance.now() > deadline) throw new Error(`backends of ${name} still running 5 s after pg_terminate_backend`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const [row] = await admin`select xact_commit from pg_stat_database where datname = ${name}`;
    commits = Number(row?.xact_commit);
  });
  return commits;
}

async function asAdmin(work: (admin: postgres.Sql) => Promise<unknown>): Promise<void> {
  const admin = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await work(admin);
  } finally {
    await admin.end({ timeout: 5 });
  }
}
