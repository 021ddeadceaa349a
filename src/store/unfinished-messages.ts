import { and, asc, eq, inArray, isNotNull, lt, sql } from 'drizzle-orm';
import type { Db } from './database.js';
import { messages, type Message } from './schema.js';

/** A proper answer to a fallback-answered message. */
export interface FollowUpAnswer {
  text: string;
  provider: string;
  model: string;
  attempts: unknown;
  latencyMs: number;
  inputTokens: number;
  outputTokens: number;
  /** USD of the answer's model calls; null: unpriced. */
  costUsd?: number | null;
}

/**
 * The ledger queries behind "nothing accepted is lost" and "fallback answers are
 * followed up": which user messages never finished, and which still wait for a
 * proper answer.
 */
export class UnfinishedMessages {
  constructor(private readonly db: Db) {}

  /** User messages still `received` / `processing` and untouched since `before`: their turn was lost. */
  async listStuck(before: Date, limit = 500): Promise<Message[]> {
    return this.db
      .select()
      .from(messages)
      .where(and(eq(messages.role, 'user'), inArray(messages.status, ['received', 'processing']), lt(messages.updatedAt, before)))
      .orderBy(asc(messages.createdAt))
      .limit(limit);
  }

  /** The instances that own an open turn (messages.turn_owner): what the orphan sweep asks Redis about. */
  async listTurnOwners(): Promise<string[]> {
    const rows = await this.db
      .selectDistinct({ owner: messages.turnOwner })
      .from(messages)
      .where(and(eq(messages.role, 'user'), inArray(messages.status, ['received', 'processing']), isNotNull(messages.turnOwner)));
    return rows.map((row) => row.owner!);
  }

  /**
   * Takes the open turns of `deadOwners` over for `newOwner`, in one statement, and returns their
   * ids: of several instances sweeping at once, each message goes to one. The new owner stays
   * answerable until a worker opens the turn, so a sweeper that dies right after is swept too.
   */
  async claimOrphans(deadOwners: string[], newOwner: string): Promise<string[]> {
    if (deadOwners.length === 0) return [];
    const rows = await this.db
      .update(messages)
      .set({ turnOwner: newOwner, updatedAt: new Date() })
      .where(and(eq(messages.role, 'user'), inArray(messages.status, ['received', 'processing']), inArray(messages.turnOwner, deadOwners)))
      .returning({ id: messages.id });
    return rows.map((row) => row.id);
  }

  async listPendingFollowUps(limit: number): Promise<Message[]> {
    return this.db
      .select()
      .from(messages)
      .where(and(eq(messages.followUp, 'pending'), eq(messages.role, 'user')))
      .orderBy(asc(messages.createdAt))
      .limit(limit);
  }

  /**
   * Stores the proper answer to a fallback-answered message and closes its follow-up,
   * in one transaction. Returns undefined when another instance answered it first.
   */
  async completeFollowUp(userMessage: Message, answer: FollowUpAnswer): Promise<Message | undefined> {
    return this.db.transaction(async (tx) => {
      const now = new Date();
      const [claimed] = await tx
        .update(messages)
        .set({ followUp: 'answered', status: 'answered', provider: answer.provider, model: answer.model, updatedAt: now })
        .where(
          and(
            eq(messages.id, userMessage.id),
            eq(messages.followUp, 'pending'),
            // Handed to a person while the provider was answering: the agent does not talk over them.
            sql`not exists (select 1 from conversations c where c.id = ${messages.conversationId} and c.mode = 'human')`,
          ),
        )
        .returning({ id: messages.id });
      if (!claimed) return undefined;
      const [reply] = await tx
        .insert(messages)
        .values({
          id: crypto.randomUUID(),
          conversationId: userMessage.conversationId,
          role: 'assistant',
          text: answer.text,
          status: 'answered',
          replyToId: userMessage.id,
          provider: answer.provider,
          model: answer.model,
          attempts: answer.attempts,
          latencyMs: answer.latencyMs,
          inputTokens: answer.inputTokens,
          outputTokens: answer.outputTokens,
          costUsd: answer.costUsd ?? null,
          createdAt: now,
        })
        .returning();
      return reply;
    });
  }

  /** Gives up on a follow-up (the setting is off, or the conversation is gone). */
  async skipFollowUp(messageId: string): Promise<void> {
    await this.db.update(messages).set({ followUp: 'skipped', updatedAt: new Date() }).where(eq(messages.id, messageId));
  }
}
