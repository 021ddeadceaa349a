import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { Db } from './database.js';
import { conversations, messages, type Conversation, type Message } from './schema.js';

/** At most this many missed replies are sent to a visitor who comes back. */
const MISSED_REPLIES_LIMIT = 50;

/**
 * The one database read of a web handshake: the conversation a resume token's hash belongs to.
 * The statement is built once instead of per handshake: after a web process restarts, every
 * visitor reconnects at once, and assembling the same SELECT with drizzle's query builder was
 * the largest single share (≈ 12 %) of the restarted process's CPU (bench/reconnect-storm.ts).
 */
export class SessionLookup {
  readonly #byTokenHash;

  constructor(private readonly db: Db) {
    this.#byTokenHash = db
      .select({
        conversation: conversations,
        // The newest reply's id as clients know it (see replyKey): a returning visitor who holds it
        // missed nothing, and the handshake needs no second read (one index probe on
        // messages_conversation_created_idx). Qualified by hand: drizzle renders a column
        // unqualified in a single-table select.
        latestReplyId: sql<string | null>`(select coalesce(m.reply_to_id, m.id) from messages m where m.conversation_id = "conversations"."id" and m.role = 'assistant' order by m.created_at desc limit 1)`,
        // Whether a sensitive call still waits for the visitor, who is then shown it again (one
        // probe on tool_calls_conversation_created_idx): a reload must not lose the question.
        pendingConfirmation: sql<boolean>`exists(select 1 from tool_calls t where t.conversation_id = "conversations"."id" and t.status = 'pending')`,
      })
      .from(conversations)
      .where(eq(conversations.tokenHash, sql.placeholder('tokenHash')))
      .limit(1)
      .prepare('web_conversation_by_token_hash');
  }

  async conversationByTokenHash(
    tokenHash: string,
  ): Promise<{ conversation: Conversation; latestReplyId: string | null; pendingConfirmation: boolean } | undefined> {
    const [row] = await this.#byTokenHash.execute({ tokenHash });
    return row;
  }

  /**
   * The assistant-side messages of a conversation stored after the reply `afterReplyId` (the
   * newest one a returning visitor holds, by its key), oldest first: replies, operators' messages
   * and notices sent while they were away. An id of another conversation finds nothing.
   */
  async repliesAfter(conversationId: string, afterReplyId: string): Promise<Message[]> {
    return this.db
      .select()
      .from(messages)
      .where(
        and(
          eq(messages.conversationId, conversationId),
          eq(messages.role, 'assistant'),
          gt(
            messages.createdAt,
            sql`(select min(seen.created_at) from messages seen
                 where seen.conversation_id = ${conversationId} and seen.role = 'assistant'
                   and (seen.id = ${afterReplyId} or seen.reply_to_id = ${afterReplyId}))`,
          ),
        ),
      )
      .orderBy(asc(messages.createdAt))
      .limit(MISSED_REPLIES_LIMIT);
  }
}

/**
 * The id a client knows a reply by: a turn's reply (and its follow-up) by the user message it
 * answers, as `reply.delta` / `reply.done` carry it; a message that answers none (an operator's,
 * a notice, a confirmed call's outcome) by its own id.
 */
export function replyKey(message: Pick<Message, 'id' | 'replyToId'>): string {
  return message.replyToId ?? message.id;
}
