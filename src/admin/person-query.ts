import { and, count, eq, max, min } from 'drizzle-orm';
import type { Db } from '../store/database.js';
import { conversations } from '../store/schema.js';
import type { ConversationFilters } from './admin-filters.js';
import { listConversations, type ConversationListItem } from './conversation-query.js';
import { channelName, identityCondition, personIdentity, personLabel } from './person-identity.js';
import type { Page } from './tool-call-query.js';

export interface PersonView extends Page<ConversationListItem> {
  person: {
    /** Channel-neutral and masked: "Phone ***67", "Slack U024BE7LH", "Web visitor 3f2a…". */
    label: string;
    kind: 'phone' | 'slack' | 'web' | 'other';
    /** Where this person has written, most conversations first. */
    channels: { channel: string; name: string; conversations: number; firstSeenAt: string; lastActiveAt: string }[];
    conversationCount: number;
    firstSeenAt: string;
    lastActiveAt: string;
  };
}

/**
 * The person a conversation is with and every conversation of theirs across channels
 * (person-identity.ts says who counts as the same person), most recently active first, in
 * pages like the conversation list. Masked as list views are. Undefined for an id that is not a
 * conversation of this workspace. The same number in another workspace is another business's
 * customer: only this workspace's conversations count.
 */
export async function getPersonOfConversation(
  db: Db,
  conversationId: string,
  workspaceId: string,
  page: Pick<ConversationFilters, 'limit' | 'cursor'>,
): Promise<PersonView | undefined> {
  const [anchor] = await db
    .select({ channel: conversations.channel, externalUserId: conversations.externalUserId })
    .from(conversations)
    .where(and(eq(conversations.id, conversationId), eq(conversations.workspaceId, workspaceId)));
  if (!anchor) return undefined;
  const identity = personIdentity(anchor.channel, anchor.externalUserId);
  const scope = identityCondition(identity);
  const [perChannel, list] = await Promise.all([
    db
      .select({
        channel: conversations.channel,
        conversations: count(),
        firstSeenAt: min(conversations.createdAt),
        lastActiveAt: max(conversations.updatedAt),
      })
      .from(conversations)
      .where(and(eq(conversations.workspaceId, workspaceId), scope))
      .groupBy(conversations.channel),
    listConversations(db, workspaceId, page, [scope]),
  ]);
  const channels = perChannel
    .map((row) => ({
      channel: row.channel,
      name: channelName(row.channel),
      conversations: Number(row.conversations),
      firstSeenAt: new Date(row.firstSeenAt!).toISOString(),
      lastActiveAt: new Date(row.lastActiveAt!).toISOString(),
    }))
    .sort((a, b) => b.conversations - a.conversations || a.channel.localeCompare(b.channel));
  const times = (key: 'firstSeenAt' | 'lastActiveAt') => channels.map((channel) => channel[key]).sort();
  return {
    person: {
      label: personLabel(anchor.channel, anchor.externalUserId, { across: true }),
      kind: identity.kind,
      channels,
      conversationCount: channels.reduce((sum, channel) => sum + channel.conversations, 0),
      firstSeenAt: times('firstSeenAt')[0]!,
      lastActiveAt: times('lastActiveAt').at(-1)!,
    },
    ...list,
  };
}
