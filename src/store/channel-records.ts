import { randomUUID } from 'node:crypto';
import { and, desc, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { Db } from './database.js';
import {
  channelContacts,
  channelDeliveries,
  channelReplyRoutes,
  inboundReceipts,
  messages,
  type ChannelDelivery,
  type DeliveryStatus,
} from './schema.js';

export interface DeliveryRecord {
  conversationId: string;
  messageId: string | null;
  channel: string;
  kind: 'reply' | 'failure_notice' | 'limit_notice';
  status: DeliveryStatus;
  attempts: number;
  parts: number;
  error?: string | null;
  providerIds?: string[];
}


/** A person's address on a channel, in one workspace (an opt-out is from one business, not all). */
export interface ChannelContact {
  /** Default: the deployment's own workspace. */
  workspaceId?: string | undefined;
  channel: string;
  address: string;
}

const CONTACT_KEY = [channelContacts.workspaceId, channelContacts.channel, channelContacts.address];
const contactKey = (contact: ChannelContact) => ({ workspaceId: contact.workspaceId ?? DEFAULT_WORKSPACE_ID, channel: contact.channel, address: contact.address });

/**
 * The channels' own rows: delivery outcomes, opt-outs, the one-notice-per-limit
 * gate and reply routes. Kept in the database (not memory) because a turn may
 * finish in another process than the one that received the message.
 */
export class ChannelRecords {
  constructor(private readonly db: Db) {}

  async recordDelivery(record: DeliveryRecord): Promise<void> {
    await this.db.insert(channelDeliveries).values({
      id: randomUUID(),
      conversationId: record.conversationId,
      messageId: record.messageId,
      channel: record.channel,
      kind: record.kind,
      status: record.status,
      attempts: record.attempts,
      parts: record.parts,
      error: record.error ?? null,
      providerIds: record.providerIds ?? null,
    });
  }

  /** Newest first; `status: 'failed'` is what the admin view shows as permanently failed deliveries. */
  async listDeliveries(filter: { status?: DeliveryStatus; conversationId?: string; limit?: number } = {}): Promise<ChannelDelivery[]> {
    const conditions = [
      filter.status ? eq(channelDeliveries.status, filter.status) : undefined,
      filter.conversationId ? eq(channelDeliveries.conversationId, filter.conversationId) : undefined,
    ].filter((condition) => condition !== undefined);
    return this.db
      .select()
      .from(channelDeliveries)
      .where(conditions.length ? and(...conditions) : undefined)
      .orderBy(desc(channelDeliveries.createdAt))
      .limit(filter.limit ?? 100);
  }

  /**
   * Claims an inbound provider message that is answered without a message row; false when it
   * was claimed before (a redelivery). Receipts older than a week are swept on the way in:
   * providers stop redelivering long before.
   */
  async claimInbound(channel: string, externalMessageId: string): Promise<boolean> {
    await this.db.delete(inboundReceipts).where(lt(inboundReceipts.receivedAt, new Date(Date.now() - 7 * 86_400_000)));
    const rows = await this.db.insert(inboundReceipts).values({ channel, externalMessageId }).onConflictDoNothing().returning({ id: inboundReceipts.externalMessageId });
    return rows.length > 0;
  }

  /**
   * A provider's later word on a sent message (WhatsApp Cloud: sent → delivered → read, or
   * failed), found by the provider's message id (within `workspaceId` when given). Moves forward only: statuses may arrive out of order.
   */
  async updateProviderStatus(input: { workspaceId?: string; channel: string; providerId: string; status: string; at: Date; error?: string | null }): Promise<boolean> {
    const rank = (value: unknown) => sql`(case ${value} when 'sent' then 1 when 'delivered' then 2 when 'read' then 3 when 'failed' then 4 else 0 end)`;
    const rows = await this.db
      .update(channelDeliveries)
      .set({ providerStatus: input.status, providerStatusAt: input.at, providerError: input.error ?? null })
      .where(
        and(
          // A status reaches only the deliveries of the workspace its phone number routed to.
          input.workspaceId === undefined ? undefined : eq(channelDeliveries.workspaceId, input.workspaceId),
          eq(channelDeliveries.channel, input.channel),
          sql`${channelDeliveries.providerIds} @> ${JSON.stringify([input.providerId])}::jsonb`,
          sql`${rank(channelDeliveries.providerStatus)} < ${rank(input.status)}`,
        ),
      )
      .returning({ id: channelDeliveries.id });
    return rows.length > 0;
  }

  async setOptedOut(contact: ChannelContact, optedOut: boolean): Promise<void> {
    const now = new Date();
    const optedOutAt = optedOut ? now : null;
    await this.db
      .insert(channelContacts)
      .values({ ...contactKey(contact), optedOutAt })
      .onConflictDoUpdate({ target: CONTACT_KEY, set: { optedOutAt, updatedAt: now } });
  }

  async isOptedOut(contact: ChannelContact): Promise<boolean> {
    const key = contactKey(contact);
    const [row] = await this.db
      .select({ optedOutAt: channelContacts.optedOutAt })
      .from(channelContacts)
      .where(and(eq(channelContacts.workspaceId, key.workspaceId), eq(channelContacts.channel, key.channel), eq(channelContacts.address, key.address)));
    return row?.optedOutAt != null;
  }

  /**
   * True for exactly one caller per limit window: the first rate-limited message
   * gets a notice, the ones after it (from any process) stay silent until `until`.
   */
  async claimLimitNotice(contact: ChannelContact, until: Date, now = new Date()): Promise<boolean> {
    const claimed = await this.db
      .insert(channelContacts)
      .values({ ...contactKey(contact), limitNoticeUntil: until })
      .onConflictDoUpdate({
        target: CONTACT_KEY,
        set: { limitNoticeUntil: until, updatedAt: now },
        setWhere: or(isNull(channelContacts.limitNoticeUntil), lt(channelContacts.limitNoticeUntil, now)),
      })
      .returning({ channel: channelContacts.channel });
    return claimed.length > 0;
  }

  async saveReplyRoute(channel: string, externalMessageId: string, route: unknown, expiresAt: Date): Promise<void> {
    // Expired routes are useless (Slack's response_url lives 30 minutes); sweep them on the way in.
    await this.db.delete(channelReplyRoutes).where(lt(channelReplyRoutes.expiresAt, new Date()));
    await this.db
      .insert(channelReplyRoutes)
      .values({ channel, externalMessageId, route, expiresAt })
      .onConflictDoNothing();
  }

  /**
   * The route saved for the user message `messageId` (through its external id), if still valid;
   * for a message that answers none (an operator's reply, a handoff notice), the newest valid
   * route of its conversation, so it goes where the person's last question was answered.
   */
  async findReplyRoute(channel: string, messageId: string): Promise<unknown> {
    const [row] = await this.db
      .select({ route: channelReplyRoutes.route })
      .from(messages)
      .innerJoin(
        channelReplyRoutes,
        and(eq(channelReplyRoutes.channel, channel), eq(channelReplyRoutes.externalMessageId, messages.externalMessageId)),
      )
      .where(
        and(
          sql`${messages.conversationId} = (select m.conversation_id from messages m where m.id = ${messageId})`,
          eq(messages.role, 'user'),
          gt(channelReplyRoutes.expiresAt, sql`now()`),
        ),
      )
      .orderBy(sql`${messages.id} = ${messageId} desc`, desc(messages.createdAt))
      .limit(1);
    return row?.route;
  }
}
