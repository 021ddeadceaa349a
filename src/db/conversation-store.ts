import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { Db } from './database.js';
import {
  conversations,
  messages,
  toolCalls,
  type Conversation,
  type FollowUpStatus,
  type Message,
  type MessageStatus,
  type ToolCall,
  type ToolCallStatus,
} from './schema.js';

export interface ConversationIdentity {
  channel: string;
  externalUserId: string;
  threadKey?: string;
}

export interface AcceptedMessage {
  message: Message;
  /** True when this external message id was already accepted: do not answer it again. */
  duplicate: boolean;
}

export interface TurnOutcome {
  status: Extract<MessageStatus, 'answered' | 'fallback' | 'failed'>;
  text: string;
  provider: string | null;
  model: string | null;
  cached: boolean;
  fallback: boolean;
  fallbackReason: string | null;
  attempts: unknown;
  latencyMs: number;
  inputTokens: number | null;
  outputTokens: number | null;
  /** `pending` marks a fallback-answered message for a proper answer once a provider recovers. */
  followUp?: FollowUpStatus | null;
}

/** The user message's turn already ended (another worker finished it): nothing was written. */
export class TurnAlreadyCompletedError extends Error {
  override readonly name = 'TurnAlreadyCompletedError';
  constructor(readonly messageId: string) {
    super(`message ${messageId} already has its reply`);
  }
}

export interface HistoryEntry {
  role: 'user' | 'assistant';
  text: string;
}

/** Every read and write the message pipeline makes, in one place, over drizzle. */
export class ConversationStore {
  constructor(private readonly db: Db) {}

  async createConversation(identity: ConversationIdentity & { id?: string; tokenHash?: string }): Promise<Conversation> {
    const [row] = await this.db
      .insert(conversations)
      .values({
        id: identity.id ?? randomUUID(),
        channel: identity.channel,
        externalUserId: identity.externalUserId,
        threadKey: identity.threadKey ?? '',
        tokenHash: identity.tokenHash ?? null,
      })
      .returning();
    return row!;
  }

  /** One conversation per channel identity, created on first contact; safe under concurrent first messages. */
  async findOrCreateConversation(identity: ConversationIdentity): Promise<Conversation> {
    const threadKey = identity.threadKey ?? '';
    const [inserted] = await this.db
      .insert(conversations)
      .values({ id: randomUUID(), channel: identity.channel, externalUserId: identity.externalUserId, threadKey })
      .onConflictDoNothing({ target: [conversations.channel, conversations.externalUserId, conversations.threadKey] })
      .returning();
    if (inserted) return inserted;
    const [existing] = await this.db
      .select()
      .from(conversations)
      .where(
        and(
          eq(conversations.channel, identity.channel),
          eq(conversations.externalUserId, identity.externalUserId),
          eq(conversations.threadKey, threadKey),
        ),
      );
    return existing!;
  }

  async findConversationByTokenHash(tokenHash: string): Promise<Conversation | undefined> {
    const [row] = await this.db.select().from(conversations).where(eq(conversations.tokenHash, tokenHash));
    return row;
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    const [row] = await this.db.select().from(conversations).where(eq(conversations.id, id));
    return row;
  }

  /**
   * Stores an inbound user message as `received`. A repeated external id in the
   * same conversation returns the first row, flagged duplicate, and stores nothing.
   */
  async acceptMessage(input: { conversationId: string; text: string; externalMessageId?: string }): Promise<AcceptedMessage> {
    const [inserted] = await this.db
      .insert(messages)
      .values({
        id: randomUUID(),
        conversationId: input.conversationId,
        role: 'user',
        text: input.text,
        status: 'received',
        externalMessageId: input.externalMessageId ?? null,
        // The app clock orders a turn's rows (see completeTurn), so both sides use it.
        createdAt: new Date(),
      })
      .onConflictDoNothing({
        target: [messages.conversationId, messages.externalMessageId],
        where: sql`${messages.externalMessageId} is not null`,
      })
      .returning();
    if (inserted) return { message: inserted, duplicate: false };
    const [existing] = await this.db
      .select()
      .from(messages)
      .where(
        and(eq(messages.conversationId, input.conversationId), eq(messages.externalMessageId, input.externalMessageId!)),
      );
    return { message: existing!, duplicate: true };
  }

  /** The message a channel already delivered under this id, if any. */
  async findByExternalId(conversationId: string, externalMessageId: string): Promise<Message | undefined> {
    const [row] = await this.db
      .select()
      .from(messages)
      .where(and(eq(messages.conversationId, conversationId), eq(messages.externalMessageId, externalMessageId)));
    return row;
  }

  async getMessage(id: string): Promise<Message | undefined> {
    const [row] = await this.db.select().from(messages).where(eq(messages.id, id));
    return row;
  }

  async setMessageStatus(id: string, status: MessageStatus): Promise<void> {
    await this.db.update(messages).set({ status, updatedAt: new Date() }).where(eq(messages.id, id));
  }

  /** The assistant reply of a user message, if the turn has finished. */
  async findReply(userMessageId: string): Promise<Message | undefined> {
    const [row] = await this.db
      .select()
      .from(messages)
      .where(and(eq(messages.replyToId, userMessageId), eq(messages.role, 'assistant')))
      .orderBy(desc(messages.createdAt))
      .limit(1);
    return row;
  }

  /**
   * The conversation before `beforeMessage`, newest turns kept first, trimmed to
   * `charBudget` characters and returned oldest first. Fallback replies are left
   * out (the question stays): they say nothing and would only teach the model to apologise.
   */
  async loadHistory(conversationId: string, beforeMessage: Message, charBudget: number): Promise<HistoryEntry[]> {
    const rows = await this.db
      .select({ role: messages.role, text: messages.text, fallback: messages.fallback })
      .from(messages)
      .where(and(eq(messages.conversationId, conversationId), lt(messages.createdAt, beforeMessage.createdAt)))
      .orderBy(desc(messages.createdAt))
      .limit(200);
    const kept: HistoryEntry[] = [];
    let used = 0;
    for (const row of rows) {
      if (row.fallback && row.role === 'assistant') continue;
      used += row.text.length;
      if (used > charBudget) break;
      kept.push({ role: row.role, text: row.text });
    }
    kept.reverse();
    // Providers expect the history to open with a user turn.
    while (kept[0]?.role === 'assistant') kept.shift();
    return kept;
  }

  /**
   * Writes the reply and closes the ledger entry of the user message in one transaction.
   * Only an open entry (received / processing) can be closed, so a turn that ran twice
   * (a redelivered queue job) stores one reply: the second gets TurnAlreadyCompletedError.
   */
  async completeTurn(userMessage: Message, outcome: TurnOutcome): Promise<Message> {
    return this.db.transaction(async (tx) => {
      const now = new Date();
      const [open] = await tx
        .update(messages)
        .set({ status: outcome.status, updatedAt: now })
        .where(and(eq(messages.id, userMessage.id), inArray(messages.status, ['received', 'processing'])))
        .returning({ id: messages.id });
      if (!open) throw new TurnAlreadyCompletedError(userMessage.id);
      const [reply] = await tx
        .insert(messages)
        .values({
          id: randomUUID(),
          conversationId: userMessage.conversationId,
          role: 'assistant',
          text: outcome.text,
          status: outcome.status,
          replyToId: userMessage.id,
          provider: outcome.provider,
          model: outcome.model,
          cached: outcome.cached,
          fallback: outcome.fallback,
          fallbackReason: outcome.fallbackReason,
          attempts: outcome.attempts,
          latencyMs: outcome.latencyMs,
          inputTokens: outcome.inputTokens,
          outputTokens: outcome.outputTokens,
          // Strictly after the user message even when clocks tie, so history order is stable.
          createdAt: now > userMessage.createdAt ? now : new Date(userMessage.createdAt.getTime() + 1),
        })
        .returning();
      await tx
        .update(messages)
        .set({
          status: outcome.status,
          provider: outcome.provider,
          model: outcome.model,
          cached: outcome.cached,
          fallback: outcome.fallback,
          fallbackReason: outcome.fallbackReason,
          attempts: outcome.attempts,
          latencyMs: outcome.latencyMs,
          followUp: outcome.followUp ?? null,
          updatedAt: now,
        })
        .where(eq(messages.id, userMessage.id));
      await tx.update(conversations).set({ updatedAt: now }).where(eq(conversations.id, userMessage.conversationId));
      return reply!;
    });
  }

  async findToolCallByIdempotencyKey(key: string): Promise<ToolCall | undefined> {
    const [row] = await this.db.select().from(toolCalls).where(eq(toolCalls.idempotencyKey, key));
    return row;
  }

  /** Records a tool call before it runs; returns undefined when the same key is already recorded. */
  async startToolCall(input: {
    conversationId: string;
    messageId: string;
    callId: string;
    toolName: string;
    arguments: unknown;
    status: ToolCallStatus;
    provider: string | null;
    model: string | null;
    step: number;
    idempotencyKey: string;
  }): Promise<ToolCall | undefined> {
    const [row] = await this.db
      .insert(toolCalls)
      .values({ id: randomUUID(), ...input })
      .onConflictDoNothing({ target: toolCalls.idempotencyKey })
      .returning();
    return row;
  }

  async finishToolCall(
    id: string,
    outcome: { status: ToolCallStatus; result?: unknown; error?: string | null; durationMs: number },
  ): Promise<void> {
    await this.db
      .update(toolCalls)
      .set({
        status: outcome.status,
        result: outcome.result ?? null,
        error: outcome.error ?? null,
        durationMs: outcome.durationMs,
        completedAt: new Date(),
      })
      .where(eq(toolCalls.id, id));
  }

  async listMessages(conversationId: string): Promise<Message[]> {
    return this.db.select().from(messages).where(eq(messages.conversationId, conversationId)).orderBy(messages.createdAt);
  }

  async listToolCalls(conversationId: string): Promise<ToolCall[]> {
    return this.db.select().from(toolCalls).where(eq(toolCalls.conversationId, conversationId)).orderBy(toolCalls.createdAt);
  }
}
