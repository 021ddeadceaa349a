/** Messages between the bench and its PostgreSQL counting proxy (bench/pg-proxy-process.ts), over the IPC channel. */

/** Frontend (client → server) messages seen after the startup packet, by type byte, and what the proxy did. */
export interface PgWireCounts {
  /** By frontend message type: Q simple query, P parse, B bind, D describe, E execute, S sync, C close, H flush, X terminate… */
  messages: Record<string, number>;
  /** Statements run: simple queries (Q) + executes (E). */
  statements: number;
  /** Round trips the client waited on: one ReadyForQuery per Sync or simple query (the startup's excluded). */
  roundTrips: number;
  /**
   * Transactions of the clients' that ended committed, and rolled back, as seen on the wire (a cycle
   * that did work, or closed a block, ending in ReadyForQuery 'I'): what pg_stat_database counts as
   * xact_commit / xact_rollback for these connections, without autovacuum's and available at once.
   */
  commits: number;
  rollbacks: number;
  connections: number;
  /** SSL / GSSAPI encryption requests answered 'N' (refused), so the connection stays readable. */
  encryptionRefused: number;
  /**
   * Empty queries the proxy sent into quiet connections so their backends publish statistics (never
   * counted above). Each is one transaction: subtract them from `xact_commit` deltas.
   */
  injectedQueries: number;
}

export type ToPgProxy =
  | { type: 'snapshot' }
  /**
   * Make every server backend publish its pending statistics (pg_stat_database), without ending
   * it: once a connection has been quiet for `quietMs`, send it an empty query and swallow the
   * answer. A backend publishes at the end of a transaction when its last publish is a second old
   * or more (PostgreSQL 15 dates that by the transaction's end, so a bare Sync does not do it);
   * the empty query is that transaction, and it counts one commit (`injectedQueries`).
   */
  | { type: 'flush'; quietMs: number; timeoutMs: number };

export type FromPgProxy =
  | { type: 'ready'; port: number }
  | { type: 'counts'; counts: PgWireCounts }
  /** `busy`: connections that never went quiet (in a transaction or a request) before the timeout. */
  | { type: 'flushed'; injected: number; busy: number };
