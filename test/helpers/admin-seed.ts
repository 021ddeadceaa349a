import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { AdminStore } from '../../src/admin/admin-store.js';
import { hashPassword } from '../../src/admin/passwords.js';
import type { Db } from '../../src/store/database.js';
import { conversations, messages, toolCalls, type AdminRole, type ToolCallStatus } from '../../src/store/schema.js';

/**
 * Rows as the pipeline writes them, inserted directly so admin tests can place
 * calls at chosen times, channels and statuses (the pipeline itself is exercised
 * end to end by the live-feed tests).
 */
export interface SeedConversation {
  id: string;
  channel: string;
  externalUserId: string;
}

/** An account (an admin of the default workspace unless `profile` says otherwise); its id (undefined: the email was taken). */
export async function createAdmin(
  db: Db,
  email: string,
  password: string,
  profile: { role?: AdminRole; name?: string; workspaceId?: string } = {},
): Promise<string | undefined> {
  const user = await new AdminStore(db).createUser(email, await hashPassword(password), profile);
  return user?.id;
}

/** A conversation of the default workspace, or of `options.workspaceId` (its rows inherit it). */
export async function seedConversation(
  db: Db,
  channel: string,
  externalUserId: string,
  updatedAt = new Date(),
  options: { workspaceId?: string } = {},
): Promise<SeedConversation> {
  const id = randomUUID();
  await db.insert(conversations).values({ id, channel, externalUserId, createdAt: updatedAt, updatedAt, ...(options.workspaceId && { workspaceId: options.workspaceId }) });
  return { id, channel, externalUserId };
}

export async function seedTurn(
  db: Db,
  conversation: SeedConversation,
  turn: {
    text: string;
    reply?: string;
    at: Date;
    provider?: string | null;
    latencyMs?: number;
    fallback?: boolean;
    cached?: boolean;
    attempts?: unknown;
    status?: 'answered' | 'fallback' | 'failed';
  },
): Promise<{ userMessageId: string; replyId: string }> {
  const userMessageId = randomUUID();
  const replyId = randomUUID();
  const common = {
    conversationId: conversation.id,
    provider: turn.provider === undefined ? 'openai' : turn.provider,
    model: turn.provider === null ? null : 'gpt-test',
    cached: turn.cached ?? false,
    fallback: turn.fallback ?? false,
    fallbackReason: turn.fallback ? 'all_providers_failed' : null,
    attempts: turn.attempts ?? [{ provider: turn.provider ?? 'openai', model: 'gpt-test', step: 0, outcome: 'ok', ms: 10 }],
    latencyMs: turn.latencyMs ?? 100,
  };
  const status = turn.status ?? (turn.fallback ? 'fallback' : 'answered');
  await db.insert(messages).values([
    { id: userMessageId, role: 'user', text: turn.text, status, createdAt: turn.at, updatedAt: turn.at, ...common },
    { id: replyId, role: 'assistant', text: turn.reply ?? 'ok', status, replyToId: userMessageId, createdAt: new Date(turn.at.getTime() + 1), updatedAt: turn.at, ...common },
  ]);
  return { userMessageId, replyId };
}

export async function seedToolCall(
  db: Db,
  conversation: SeedConversation,
  messageId: string,
  call: {
    toolName: string;
    status: ToolCallStatus;
    at: Date;
    arguments?: unknown;
    result?: unknown;
    error?: string | null;
    provider?: string | null;
    durationMs?: number;
  },
): Promise<string> {
  const id = randomUUID();
  const callId = `call_${id.slice(0, 8)}`;
  await db.insert(toolCalls).values({
    id,
    conversationId: conversation.id,
    messageId,
    callId,
    toolName: call.toolName,
    arguments: call.arguments ?? {},
    result: call.result ?? null,
    status: call.status,
    error: call.error ?? null,
    durationMs: call.durationMs ?? 12,
    provider: call.provider === undefined ? 'openai' : call.provider,
    model: 'gpt-test',
    idempotencyKey: `${conversation.id}:${callId}`,
    createdAt: call.at,
    completedAt: call.at,
  });
  return id;
}

/** Sets created_at with microseconds (JavaScript Dates stop at milliseconds). */
export async function setToolCallTime(db: Db, id: string, timestamp: string): Promise<void> {
  await db.execute(sql`update tool_calls set created_at = ${timestamp}::timestamptz where id = ${id}`);
}
