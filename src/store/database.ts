import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  readonly db: Db;
  readonly kind: 'postgres' | 'pglite';
  /** Applies every committed migration in ./drizzle that has not run yet. */
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

export interface DatabaseOptions {
  /** PostgreSQL connection string; when absent an embedded PGlite database lives in `dataDir`. */
  url?: string;
  dataDir: string;
  /** Connection pool size for PostgreSQL. */
  maxConnections?: number;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) return openPostgres(options.url, options.maxConnections ?? 10);
  return openPglite(options.dataDir);
}

function openPostgres(url: string, maxConnections: number): Database {
  // onnotice: silence "relation already exists, skipping" notices from the migrator.
  const client = postgres(url, { max: maxConnections, onnotice: () => {}, connect_timeout: 10 });
  preparePerConnection(client);
  const db = drizzlePostgres({ client, schema }) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    migrate: () => migratePostgres(drizzlePostgres({ client, schema }), { migrationsFolder: MIGRATIONS_FOLDER }),
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: () => client.end({ timeout: 5 }),
  };
}

/**
 * drizzle hands postgres.js every unnamed query with `prepare: false`, which postgres.js
 * sends describe-first: two round trips, and a fresh parse and plan on the server, per
 * statement. Our statements are parameterised and few, so let postgres.js name and cache
 * them per connection (one round trip, plans reused). Queries without parameters
 * (migrations, BEGIN) still go over the simple protocol.
 */
function preparePerConnection(client: postgres.Sql): void {
  const unsafe = client.unsafe.bind(client);
  client.unsafe = ((query: string, parameters?: postgres.ParameterOrJSON<never>[], options?: postgres.UnsafeQueryOptions) =>
    unsafe(query, parameters ?? [], { ...options, prepare: true })) as typeof client.unsafe;
}

/**
 * The embedded engine is loaded only here, when there is no DATABASE_URL: PGlite and its
 * WebAssembly build of PostgreSQL cost a server that talks to a real PostgreSQL memory for nothing.
 */
async function openPglite(dataDir: string): Promise<Database> {
  const [{ PGlite }, { pg_trgm }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/contrib/pg_trgm'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  await mkdir(dataDir, { recursive: true });
  // pg_trgm backs the admin console's free-text search index (migration 0005_pg_trgm).
  const client = new PGlite(`${dataDir.replace(/\/$/, '')}/pglite`, { extensions: { pg_trgm } });
  await client.waitReady;
  const pglite = drizzlePglite({ client, schema });
  const db = pglite as unknown as Db;
  return {
    db,
    kind: 'pglite',
    migrate: () => migratePglite(pglite, { migrationsFolder: MIGRATIONS_FOLDER }),
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: () => client.close(),
  };
}
