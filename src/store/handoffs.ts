import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { Db } from './database.js';
import {
  conversationNotes,
  conversations,
  handoffs,
  messages,
  type Conversation,
  type ConversationNote,
  type Handoff,
  type HandoffReason,
  type HandoffStatus,
} from './schema.js';

/** Who acts on a handoff: an admin account (id) or the ADMIN_TOKEN holder (no id). */
export interface HandoffOperator {
  id: string | null;
  /** Email or 'admin-token'. */
  actor: string;
  /** The name the person is shown. */
  name: string;
}

/** How a request for a person ended: a new handoff, or the open one it joined. */
export interface OpenedHandoff {
  handoff: Handoff;
  /** False when the conversation already had an open handoff (nothing changed). */
  started: boolean;
}

/** How a takeover ended. `held`: another operator holds it (the caller loses the race). */
export type TakeoverResult =
  | { outcome: 'claimed' | 'started' | 'already_yours'; handoff: Handoff }
  | { outcome: 'held'; handoff: Handoff };

/** An inbox row: the handoff and its conversation. */
export interface InboxEntry {
  handoff: Handoff;
  conversation: Conversation;
}

const OPEN: HandoffStatus[] = ['waiting', 'active'];
const openTarget = { target: handoffs.conversationId, where: sql`${handoffs.status} in ('waiting', 'active')` };

/**
 * Handoffs, the conversation's mode they switch, and operators' notes. Opening or claiming a
 * handoff and switching the mode happen in one transaction; the partial unique index on open
 * handoffs decides every race (two requests, two takeovers) with exactly one winner.
 */
export class HandoffRecords {
  constructor(private readonly db: Db) {}

  /**
   * The conversation goes to a person (`waiting`), unless it already is with one. Pending
   * follow-ups are dropped (a person answers from here), and with `holdMessage` the user
   * message that asked is marked `human` (a keyword: no turn runs for it).
   */
  async request(input: { conversationId: string; reason: HandoffReason; summary?: string | null; messageId?: string | null; holdMessage?: boolean }): Promise<OpenedHandoff> {
    return this.db.transaction(async (tx) => {
      const [created] = await tx
        .insert(handoffs)
        .values({
          id: randomUUID(),
          conversationId: input.conversationId,
          status: 'waiting',
          reason: input.reason,
          summary: input.summary ?? null,
          messageId: input.messageId ?? null,
        })
        .onConflictDoNothing(openTarget)
        .returning();
      if (input.holdMessage && input.messageId) {
        await tx
          .update(messages)
          .set({ status: 'human', updatedAt: new Date() })
          .where(and(eq(messages.id, input.messageId), inArray(messages.status, ['received', 'processing'])));
      }
      if (!created) {
        const [existing] = await tx.select().from(handoffs).where(and(eq(handoffs.conversationId, input.conversationId), inArray(handoffs.status, OPEN)));
        return { handoff: existing!, started: false };
      }
      // request_human: the asking turn goes on to deliver the notice; a keyword's message is held above.
      await enterHumanMode(tx, input.conversationId, input.messageId ?? null);
      return { handoff: created, started: true };
    });
  }

  /**
   * An operator takes the conversation: a waiting handoff is claimed, a conversation with the
   * agent gets a new active one (reason `operator`). Concurrent takeovers: one wins, the others get `held`.
   */
  async takeover(conversationId: string, operator: HandoffOperator): Promise<TakeoverResult> {
    return this.db.transaction(async (tx) => {
      const now = new Date();
      const holder = { operatorId: operator.id, operator: operator.actor, operatorName: operator.name };
      // Twice at most: the open handoff may be released between the insert and the read.
      for (let attempt = 0; ; attempt++) {
        const [claimed] = await tx
          .update(handoffs)
          .set({ status: 'active', claimedAt: now, ...holder })
          .where(and(eq(handoffs.conversationId, conversationId), eq(handoffs.status, 'waiting')))
          .returning();
        if (claimed) return { outcome: 'claimed' as const, handoff: claimed };
        const [started] = await tx
          .insert(handoffs)
          .values({ id: randomUUID(), conversationId, status: 'active', reason: 'operator', requestedAt: now, claimedAt: now, ...holder })
          .onConflictDoNothing(openTarget)
          .returning();
        if (started) {
          await enterHumanMode(tx, conversationId, null);
          return { outcome: 'started' as const, handoff: started };
        }
        const [open] = await tx.select().from(handoffs).where(and(eq(handoffs.conversationId, conversationId), inArray(handoffs.status, OPEN)));
        if (open) return { outcome: open.operator === operator.actor ? ('already_yours' as const) : ('held' as const), handoff: open };
        if (attempt > 0) throw new Error('takeover did not settle: the handoff kept changing');
      }
    });
  }

  /** Back to the agent; undefined when no handoff was open. */
  async release(conversationId: string): Promise<Handoff | undefined> {
    return this.db.transaction(async (tx) => {
      const [released] = await tx
        .update(handoffs)
        .set({ status: 'released', releasedAt: new Date() })
        .where(and(eq(handoffs.conversationId, conversationId), inArray(handoffs.status, OPEN)))
        .returning();
      if (released) await tx.update(conversations).set({ mode: 'agent' }).where(eq(conversations.id, conversationId));
      return released;
    });
  }

  async findOpen(conversationId: string): Promise<Handoff | undefined> {
    const [row] = await this.db.select().from(handoffs).where(and(eq(handoffs.conversationId, conversationId), inArray(handoffs.status, OPEN)));
    return row;
  }

  /** The conversation's handoffs, newest first (the console's history of who held it). */
  async listForConversation(conversationId: string): Promise<Handoff[]> {
    return this.db.select().from(handoffs).where(eq(handoffs.conversationId, conversationId)).orderBy(desc(handoffs.requestedAt)).limit(50);
  }

  /** One workspace's inbox: waiting first, longest waiting first; then active, oldest claim first. */
  async inbox(statuses: HandoffStatus[], limit: number, workspaceId: string = DEFAULT_WORKSPACE_ID): Promise<InboxEntry[]> {
    const rows = await this.db
      .select({ handoff: handoffs, conversation: conversations })
      .from(handoffs)
      .innerJoin(conversations, eq(conversations.id, handoffs.conversationId))
      .where(and(eq(handoffs.workspaceId, workspaceId), inArray(handoffs.status, statuses)))
      .orderBy(sql`case ${handoffs.status} when 'waiting' then 0 when 'active' then 1 else 2 end`, sql`coalesce(${handoffs.claimedAt}, ${handoffs.requestedAt})`)
      .limit(limit);
    return rows;
  }

  /**
   * Waiting handoffs asked for before `before` whose person has not had the "everyone is busy"
   * notice: marked as notified in the same statement, so exactly one sweeper (of any instance) sends it.
   */
  async claimWaitNotices(before: Date, limit = 100): Promise<InboxEntry[]> {
    const claimed = await this.db
      .update(handoffs)
      .set({ waitNoticeAt: new Date() })
      .where(
        and(
          eq(handoffs.status, 'waiting'),
          isNull(handoffs.waitNoticeAt),
          lt(handoffs.requestedAt, before),
          sql`${handoffs.id} in (select id from handoffs where status = 'waiting' and wait_notice_at is null order by requested_at limit ${limit})`,
        ),
      )
      .returning();
    if (claimed.length === 0) return [];
    const rows = await this.db.select().from(conversations).where(inArray(conversations.id, claimed.map((handoff) => handoff.conversationId)));
    const byId = new Map(rows.map((row) => [row.id, row]));
    return claimed.flatMap((handoff) => {
      const conversation = byId.get(handoff.conversationId);
      return conversation ? [{ handoff, conversation }] : [];
    });
  }

  async addNote(input: { conversationId: string; author: string; text: string }): Promise<ConversationNote> {
    const [row] = await this.db.insert(conversationNotes).values({ id: randomUUID(), ...input }).returning();
    return row!;
  }

  async listNotes(conversationId: string): Promise<ConversationNote[]> {
    return this.db.select().from(conversationNotes).where(eq(conversationNotes.conversationId, conversationId)).orderBy(asc(conversationNotes.createdAt)).limit(500);
  }

}

type Transaction = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * The conversation is with a person from now on. Turns still running for it (received or
 * processing, except `keepTurn`: the turn whose request_human call is handing it over) are kept
 * for the operator: their completion finds the message no longer open and delivers nothing, so
 * the agent never answers over the person who took over.
 */
async function enterHumanMode(tx: Transaction, conversationId: string, keepTurn: string | null): Promise<void> {
  await tx.update(conversations).set({ mode: 'human' }).where(eq(conversations.id, conversationId));
  await tx
    .update(messages)
    .set({ status: 'human', updatedAt: new Date() })
    .where(
      and(
        eq(messages.conversationId, conversationId),
        eq(messages.role, 'user'),
        inArray(messages.status, ['received', 'processing']),
        ...(keepTurn ? [sql`${messages.id} <> ${keepTurn}`] : []),
      ),
    );
  // A fallback answer waiting for a recovered provider is not sent over a person.
  await tx
    .update(messages)
    .set({ followUp: 'skipped' })
    .where(and(eq(messages.conversationId, conversationId), eq(messages.followUp, 'pending')));
}
