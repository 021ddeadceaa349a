import { randomUUID } from 'node:crypto';
import { and, desc, eq, lte } from 'drizzle-orm';
import type { Db } from './database.js';
import { conversations, messages, toolCalls, type Message, type ToolCall, type ToolCallStatus } from './schema.js';

export interface PendingCallRecord {
  conversationId: string;
  messageId: string;
  callId: string;
  toolName: string;
  arguments: unknown;
  provider: string | null;
  model: string | null;
  step: number;
  idempotencyKey: string;
  summary: string;
  expiresAt: Date;
}

/** The reads and conditional writes of pending (awaiting confirmation) tool calls. */
export class ConfirmationStore {
  constructor(private readonly db: Db) {}

  /** Stores the call as pending; undefined when the same idempotency key is already recorded. */
  async insertPending(record: PendingCallRecord): Promise<ToolCall | undefined> {
    const { summary, expiresAt, ...rest } = record;
    const [row] = await this.db
      .insert(toolCalls)
      .values({ id: randomUUID(), ...rest, status: 'pending', confirmationSummary: summary, confirmationExpiresAt: expiresAt })
      .onConflictDoNothing({ target: toolCalls.idempotencyKey })
      .returning();
    return row;
  }

  /** A confirmation of this conversation by id, or its newest pending one for 'latest'. */
  async find(conversationId: string, confirmationId: string | 'latest'): Promise<ToolCall | undefined> {
    if (confirmationId === 'latest') {
      const [row] = await this.db
        .select()
        .from(toolCalls)
        .where(and(eq(toolCalls.conversationId, conversationId), eq(toolCalls.status, 'pending')))
        .orderBy(desc(toolCalls.createdAt))
        .limit(1);
      return row;
    }
    const [row] = await this.db
      .select()
      .from(toolCalls)
      .where(and(eq(toolCalls.id, confirmationId), eq(toolCalls.conversationId, conversationId)));
    return row?.confirmationSummary === null ? undefined : row;
  }

  async get(id: string): Promise<ToolCall | undefined> {
    const [row] = await this.db.select().from(toolCalls).where(eq(toolCalls.id, id));
    return row;
  }

  /**
   * Moves a pending call to its decision. Conditional on it still being pending, so
   * of two answers racing (two tabs, a double click) exactly one wins.
   */
  async decide(
    id: string,
    update: { status: ToolCallStatus; decision: 'confirmed' | 'declined' | 'expired'; at: Date; error?: string },
  ): Promise<boolean> {
    const rows = await this.db
      .update(toolCalls)
      .set({
        status: update.status,
        confirmationDecision: update.decision,
        confirmationDecidedAt: update.at,
        ...(update.error !== undefined && { error: update.error, completedAt: update.at }),
      })
      .where(and(eq(toolCalls.id, id), eq(toolCalls.status, 'pending')))
      .returning({ id: toolCalls.id });
    return rows.length === 1;
  }

  async finish(id: string, outcome: { status: ToolCallStatus; result?: unknown; error?: string; durationMs: number }): Promise<void> {
    await this.db
      .update(toolCalls)
      .set({ status: outcome.status, result: outcome.result ?? null, error: outcome.error ?? null, durationMs: outcome.durationMs, completedAt: new Date() })
      .where(eq(toolCalls.id, id));
  }

  /** Confirmed calls still `running` although they were decided before `decidedBefore`: their process died mid-run. */
  async listInterrupted(decidedBefore: Date, limit = 100): Promise<ToolCall[]> {
    return this.db
      .select()
      .from(toolCalls)
      .where(and(eq(toolCalls.status, 'running'), eq(toolCalls.confirmationDecision, 'confirmed'), lte(toolCalls.confirmationDecidedAt, decidedBefore)))
      .limit(limit);
  }

  /** Claims an interrupted call for a new run (moves its decision time), so two sweepers never both resume it. */
  async reclaim(row: ToolCall, at: Date): Promise<boolean> {
    const rows = await this.db
      .update(toolCalls)
      .set({ confirmationDecidedAt: at })
      .where(and(eq(toolCalls.id, row.id), eq(toolCalls.status, 'running'), eq(toolCalls.confirmationDecidedAt, row.confirmationDecidedAt!)))
      .returning({ id: toolCalls.id });
    return rows.length === 1;
  }

  async listOverdue(now: Date, limit = 100): Promise<ToolCall[]> {
    return this.db
      .select()
      .from(toolCalls)
      .where(and(eq(toolCalls.status, 'pending'), lte(toolCalls.confirmationExpiresAt, now)))
      .limit(limit);
  }

  /**
   * The outcome of a confirmed call as a new assistant message of the conversation.
   * It answers no user message (replyToId stays null), so the reply of the turn that
   * asked is still what a resent message gets back.
   */
  async appendAssistantMessage(input: { conversationId: string; text: string }): Promise<Message> {
    return this.db.transaction(async (tx) => {
      const now = new Date();
      const [row] = await tx
        .insert(messages)
        .values({
          id: randomUUID(),
          conversationId: input.conversationId,
          role: 'assistant',
          text: input.text,
          status: 'answered',
          createdAt: now,
        })
        .returning();
      await tx.update(conversations).set({ updatedAt: now }).where(eq(conversations.id, input.conversationId));
      return row!;
    });
  }
}
