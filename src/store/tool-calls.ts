import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, isNotNull, lte, or } from 'drizzle-orm';
import type { Db } from './database.js';
import { toolCalls, type ToolCall, type ToolCallStatus } from './schema.js';
import { storableJson, storableText } from './storable-text.js';

/** A tool call as the executor records it before it runs (everything but its status). */
export interface ToolCallRecord {
  conversationId: string;
  messageId: string;
  callId: string;
  toolName: string;
  arguments: unknown;
  provider: string | null;
  model: string | null;
  step: number;
  idempotencyKey: string;
}

export interface PendingCallRecord extends ToolCallRecord {
  summary: string;
  expiresAt: Date;
}

const OUTCOME_KEY_PREFIX = 'confirmation:';

/**
 * The `external_message_id` of the assistant message that told the person how a held call ended
 * (confirmed and run, declined, expired): it links that message to its call (the console shows it
 * as the call's reply). A web client names its own messages and may have taken this key first;
 * the outcome is then stored under the key followed by `:` and a random suffix.
 */
export const outcomeMessageKey = (toolCallId: string) => `${OUTCOME_KEY_PREFIX}${toolCallId}`;

/** The held call whose outcome an assistant message told (see outcomeMessageKey), or null. */
export function outcomeMessageCallId(message: { role: string; externalMessageId: string | null }): string | null {
  const key = message.role === 'assistant' ? message.externalMessageId : null;
  return key?.startsWith(OUTCOME_KEY_PREFIX) ? key.slice(OUTCOME_KEY_PREFIX.length).split(':')[0]! : null;
}

/** A call as the model asked for it is untrusted text: what the database cannot hold is cleaned (see storable-text.ts). */
function storableRecord(record: ToolCallRecord): ToolCallRecord {
  return {
    ...record,
    callId: storableText(record.callId),
    toolName: storableText(record.toolName),
    arguments: storableJson(record.arguments),
    idempotencyKey: storableText(record.idempotencyKey),
  };
}

/**
 * The tool_calls table: every call the model asked for, recorded before it runs and
 * finished after; sensitive calls wait here as `pending` until the person decides.
 * Writes that race (two answers, two sweepers) are conditional, so exactly one wins.
 */
export class ToolCallRecords {
  constructor(private readonly db: Db) {}


  async findByIdempotencyKey(key: string): Promise<ToolCall | undefined> {
    const [row] = await this.db.select().from(toolCalls).where(eq(toolCalls.idempotencyKey, storableText(key)));
    return row;
  }

  /** Records a tool call before it runs; returns undefined when the same key is already recorded. */
  async start(input: ToolCallRecord & { status: ToolCallStatus }): Promise<ToolCall | undefined> {
    const [row] = await this.db
      .insert(toolCalls)
      .values({ id: randomUUID(), ...storableRecord(input), status: input.status })
      .onConflictDoNothing({ target: toolCalls.idempotencyKey })
      .returning();
    return row;
  }

  async finish(
    id: string,
    outcome: { status: ToolCallStatus; result?: unknown; error?: string | null; durationMs: number },
  ): Promise<void> {
    await this.db
      .update(toolCalls)
      .set({
        status: outcome.status,
        // A tool's result and error text come from integrations and model output: cleaned, never a failed write.
        result: storableJson(outcome.result ?? null),
        error: outcome.error == null ? null : storableText(outcome.error),
        durationMs: outcome.durationMs,
        completedAt: new Date(),
      })
      .where(eq(toolCalls.id, id));
  }

  /** Stores the call as pending; undefined when the same idempotency key is already recorded. */
  async insertPending(record: PendingCallRecord): Promise<ToolCall | undefined> {
    const { summary, expiresAt, ...rest } = record;
    const [row] = await this.db
      .insert(toolCalls)
      .values({ id: randomUUID(), ...storableRecord(rest), status: 'pending', confirmationSummary: storableText(summary), confirmationExpiresAt: expiresAt })
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

  /**
   * The confirmations of a conversation a returning visitor needs to see again, oldest first:
   * every pending one, and those of `ids` (the ones the client still shows as waiting) whatever
   * their status. Ids of other conversations match nothing.
   */
  async confirmationsToShow(conversationId: string, ids: readonly string[], limit = 50): Promise<ToolCall[]> {
    const waiting = eq(toolCalls.status, 'pending');
    return this.db
      .select()
      .from(toolCalls)
      .where(and(eq(toolCalls.conversationId, conversationId), isNotNull(toolCalls.confirmationSummary), ids.length > 0 ? or(waiting, inArray(toolCalls.id, [...ids])) : waiting))
      .orderBy(asc(toolCalls.createdAt))
      .limit(limit);
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
}
