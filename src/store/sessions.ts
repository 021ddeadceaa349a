import { eq, sql } from 'drizzle-orm';
import type { Db } from './database.js';
import { conversations, type Conversation } from './schema.js';

/**
 * The one database read of a web handshake: the conversation a resume token's hash belongs to.
 * The statement is built once instead of per handshake: after a web process restarts, every
 * visitor reconnects at once, and assembling the same SELECT with drizzle's query builder was
 * the largest single share (≈ 12 %) of the restarted process's CPU (bench/reconnect-storm.ts).
 */
export class SessionLookup {
  readonly #byTokenHash;

  constructor(db: Db) {
    this.#byTokenHash = db
      .select()
      .from(conversations)
      .where(eq(conversations.tokenHash, sql.placeholder('tokenHash')))
      .limit(1)
      .prepare('web_conversation_by_token_hash');
  }

  async conversationByTokenHash(tokenHash: string): Promise<Conversation | undefined> {
    const [row] = await this.#byTokenHash.execute({ tokenHash });
    return row;
  }
}
