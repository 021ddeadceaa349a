import { and, eq, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { Db } from './database.js';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import { prepareRows } from './rows.js';
import { conversations, messages, type Conversation, type ConversationMode } from './schema.js';

export interface ConversationIdentity {
  /** The workspace the channel routed the message to (default: the deployment's own). */
  workspaceId?: string;
  channel: string;
  externalUserId: string;
  threadKey?: string;
}

/** What a conversation is created with when the channel chose its id (the web channel: one per resume token). */
export interface NewConversation {
  id: string;
  tokenHash: string;
}

/** A conversations row as raw SQL returns it (timestamps as text from postgres.js, Date from PGlite). */
export interface RawConversation {
  id: string;
  workspace_id: string;
  channel: string;
  external_user_id: string;
  thread_key: string;
  token_hash: string | null;
  mode: ConversationMode;
  created_at: string | Date;
  updated_at: string | Date;
}

export function toConversation(row: RawConversation): Conversation {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    channel: row.channel,
    externalUserId: row.external_user_id,
    threadKey: row.thread_key,
    tokenHash: row.token_hash,
    mode: row.mode,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** The conversations table: one row per channel identity (and thread), or per web session. */
export class ConversationRecords {
  readonly #findOrCreate;

  constructor(private readonly db: Db) {
    const placeholder = sql.placeholder;
    this.#findOrCreate = prepareRows<RawConversation>(
      db,
      'find_or_create_conversation',
      sql`with created as (
            insert into conversations (id, workspace_id, channel, external_user_id, thread_key, token_hash)
            values (${placeholder('id')}::uuid, ${placeholder('workspaceId')}, ${placeholder('channel')}, ${placeholder('externalUserId')}, ${placeholder('threadKey')},
                    ${placeholder('tokenHash')}::text)
            on conflict (workspace_id, channel, external_user_id, thread_key) do nothing
            returning *
          )
          select * from created
          union all
          select * from conversations
          where workspace_id = ${placeholder('workspaceId')} and channel = ${placeholder('channel')} and external_user_id = ${placeholder('externalUserId')}
            and thread_key = ${placeholder('threadKey')}
            and not exists (select 1 from created)`,
    );
  }

  /**
   * One conversation per channel identity, created on first contact; safe under concurrent
   * first messages. One statement either way: the insert, or (on conflict) the existing row.
   */
  async findOrCreateConversation(identity: ConversationIdentity, created?: NewConversation): Promise<Conversation> {
    const [row] = await this.#findOrCreate({
      id: created?.id ?? randomUUID(),
      tokenHash: created?.tokenHash ?? null,
      workspaceId: identity.workspaceId ?? DEFAULT_WORKSPACE_ID,
      channel: identity.channel,
      externalUserId: identity.externalUserId,
      threadKey: identity.threadKey ?? '',
    });
    if (row) return toConversation(row);
    // Another transaction inserted the same identity and had not committed when this
    // statement's snapshot was taken: it is visible now.
    return (await this.findConversation(identity))!;
  }


  /** The conversation of a channel identity, if it has one (no creation). */
  async findConversation(identity: ConversationIdentity): Promise<Conversation | undefined> {
    const [row] = await this.db
      .select()
      .from(conversations)
      .where(
        and(
          eq(conversations.workspaceId, identity.workspaceId ?? DEFAULT_WORKSPACE_ID),
          eq(conversations.channel, identity.channel),
          eq(conversations.externalUserId, identity.externalUserId),
          eq(conversations.threadKey, identity.threadKey ?? ''),
        ),
      );
    return row;
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    const [row] = await this.db.select().from(conversations).where(eq(conversations.id, id));
    return row;
  }

  /** When the person last wrote (WhatsApp's 24-hour customer-service window counts from it). */
  async lastInboundAt(conversationId: string): Promise<Date | undefined> {
    const [row] = await this.db
      .select({ at: sql<string | null>`max(${messages.createdAt})` })
      .from(messages)
      .where(and(eq(messages.conversationId, conversationId), eq(messages.role, 'user')));
    return row?.at ? new Date(row.at) : undefined;
  }
}
