import { eq } from 'drizzle-orm';
import type { Db } from '../../src/store/database.js';
import { messages, toolCalls, type Message, type MessageStatus, type ToolCall } from '../../src/store/schema.js';

/** Every message of a conversation, oldest first (what the tests read to check the ledger). */
export async function listMessages(db: Db, conversationId: string): Promise<Message[]> {
  return db.select().from(messages).where(eq(messages.conversationId, conversationId)).orderBy(messages.createdAt);
}

/** Every tool call of a conversation, oldest first. */
export async function listToolCalls(db: Db, conversationId: string): Promise<ToolCall[]> {
  return db.select().from(toolCalls).where(eq(toolCalls.conversationId, conversationId)).orderBy(toolCalls.createdAt);
}

/** Puts a message in a status directly (a turn "stuck" in processing, as a crashed process leaves it). */
export async function setMessageStatus(db: Db, id: string, status: MessageStatus): Promise<void> {
  await db.update(messages).set({ status, updatedAt: new Date() }).where(eq(messages.id, id));
}
