import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Db } from './database.js';

/** Raw SQL results: postgres.js returns the rows themselves, PGlite an object holding them. */
function resultRows<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** Runs raw SQL once and returns its rows. */
export async function rows<T>(db: Db, query: SQL): Promise<T[]> {
  return resultRows<T>(await db.execute(query));
}

const dialect = new PgDialect();

/**
 * A raw statement whose values are `sql.placeholder`s, turned into SQL text once: each
 * call only fills the placeholders in. Building the SQL from drizzle's template on every
 * call made about 13 KB of garbage (sampled) for a statement that runs per message.
 */
export function prepareRows<T>(db: Db, name: string, query: SQL): (values: Record<string, unknown>) => Promise<T[]> {
  const prepared = db._.session.prepareQuery(dialect.sqlToQuery(query), undefined, name, false);
  return async (values) => resultRows<T>(await prepared.execute(values));
}
