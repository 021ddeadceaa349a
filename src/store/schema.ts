import { sql } from 'drizzle-orm';
import { boolean, doublePrecision, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';

/**
 * The single source of truth for Switchboard's tables. Migrations in ../../drizzle
 * are generated from this file (`npm run db:generate`) and committed.
 */

/** `human`: stored while the conversation is with a person (handoff); no agent turn runs for it. */
export const MESSAGE_STATUSES = ['received', 'processing', 'answered', 'fallback', 'failed', 'human'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const FOLLOW_UP_STATUSES = ['pending', 'answered', 'skipped'] as const;
export type FollowUpStatus = (typeof FOLLOW_UP_STATUSES)[number];

/** Who wrote an assistant-side message: the agent, an operator (handoff), or Switchboard itself (a notice). */
export const MESSAGE_AUTHORS = ['agent', 'operator', 'system'] as const;
export type MessageAuthor = (typeof MESSAGE_AUTHORS)[number];

/** `agent`: turns run; `human`: a person (waiting for or held by an operator) answers, the agent never runs. */
export const CONVERSATION_MODES = ['agent', 'human'] as const;
export type ConversationMode = (typeof CONVERSATION_MODES)[number];

export const HANDOFF_STATUSES = ['waiting', 'active', 'released'] as const;
export type HandoffStatus = (typeof HANDOFF_STATUSES)[number];
/**
 * `undeliverable`: a reply could not reach the person (WhatsApp's 24-hour window): a person follows up.
 * `budget`: a spent budget kept the person's message from the model (HANDOFF_ON_BUDGET).
 */
export const HANDOFF_REASONS = ['requested', 'fallback', 'operator', 'keyword', 'undeliverable', 'budget'] as const;
export type HandoffReason = (typeof HANDOFF_REASONS)[number];

/** A checkout link's payment: `processing` (completed, paid by a delayed method), then `paid`, `failed` or `expired`. */
export const PAYMENT_STATUSES = ['processing', 'paid', 'failed', 'expired'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];
/** A stored Stripe event: `received` until handled, then `processed`, `ignored` (a type we do not act on) or `failed`. */
export const PAYMENT_EVENT_STATUSES = ['received', 'processed', 'ignored', 'failed'] as const;
export type PaymentEventStatus = (typeof PAYMENT_EVENT_STATUSES)[number];

/**
 * viewer, operator and admin act inside their own workspace; `owner` is the deployment's: it
 * manages workspaces and may act in any of them.
 */
export const ADMIN_ROLES = ['viewer', 'operator', 'admin', 'owner'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export const TOOL_CALL_STATUSES = ['running', 'ok', 'error', 'invalid', 'refused', 'pending', 'declined', 'expired'] as const;
export type ToolCallStatus = (typeof TOOL_CALL_STATUSES)[number];

/**
 * The workspace a row belongs to. Rows under a conversation (messages, tool calls, handoffs,
 * notes, deliveries) get their conversation's, set by a trigger (migration 0015_workspaces), so
 * a child row can never sit in another workspace than its conversation; the default keeps
 * statements that predate workspaces writing to the default workspace.
 */
const workspaceColumn = () => text('workspace_id').notNull().default(DEFAULT_WORKSPACE_ID);

export const WORKSPACE_STATUSES = ['active', 'suspended'] as const;
export type WorkspaceStatus = (typeof WORKSPACE_STATUSES)[number];

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
};

/**
 * One business on this deployment. `default` always exists (made by the migration): a deployment
 * that configures no workspace is that one, built from the environment.
 */
export const workspaces = pgTable('workspaces', {
  /** `default`, or `ws_` + random for the ones created later. */
  id: text('id').primaryKey(),
  slug: text('slug').notNull().unique(),
  name: text('name').notNull(),
  status: text('status', { enum: WORKSPACE_STATUSES }).notNull().default('active'),
  /** The web widget's public key (`data-workspace-key`); public like a publishable key, it only routes. */
  widgetKey: text('widget_key').notNull().unique(),
  /** Origins the widget may be embedded from ([]: any). */
  allowedOrigins: jsonb('allowed_origins').$type<string[]>().notNull().default([]),
  /** Overrides of the global settings (workspaces/workspace-settings.ts), validated when written. */
  settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/**
 * How an inbound message finds its workspace: the channel's own identity of the receiving side
 * (Slack team id, Twilio `To` number, WhatsApp Cloud phone number id), never the sender's.
 */
export const workspaceChannels = pgTable(
  'workspace_channels',
  {
    channel: text('channel').notNull(),
    identity: text('identity').notNull(),
    workspaceId: text('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.channel, table.identity] }), index('workspace_channels_workspace_idx').on(table.workspaceId)],
);

/**
 * A workspace's credentials for one integration, encrypted (workspaces/secret-box.ts): the JSON is
 * sealed with its own data key (AES-256-GCM), and the data key with the master key
 * (SECRETS_MASTER_KEY) named by `key_id`. Rotation re-wraps data keys only.
 */
export const workspaceCredentials = pgTable(
  'workspace_credentials',
  {
    workspaceId: text('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    integration: text('integration').notNull(),
    /** Fingerprint of the master key that wrapped `wrapped_key` (never the key). */
    keyId: text('key_id').notNull(),
    /** The data key, sealed by the master key: base64 iv | tag | ciphertext. */
    wrappedKey: text('wrapped_key').notNull(),
    /** The credential JSON, sealed by the data key: base64 iv | tag | ciphertext. */
    ciphertext: text('ciphertext').notNull(),
    /** What the console shows: each field masked (`sk_…4f2a`), never a whole secret. */
    masked: jsonb('masked').$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.workspaceId, table.integration] })],
);

/** Inbound messages refused because their channel identity names no workspace (recorded, never routed to the default). */
export const inboundRefusals = pgTable(
  'inbound_refusals',
  {
    id: uuid('id').primaryKey(),
    channel: text('channel').notNull(),
    /** The receiving identity, masked for phone numbers (the sender is never stored). */
    identity: text('identity').notNull(),
    reason: text('reason').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [index('inbound_refusals_created_idx').on(table.createdAt)],
);

export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey(),
    workspaceId: workspaceColumn().references(() => workspaces.id),
    channel: text('channel').notNull(),
    externalUserId: text('external_user_id').notNull(),
    /** Sub-conversation inside one identity, e.g. a Slack thread; '' when the channel has none. */
    threadKey: text('thread_key').notNull().default(''),
    /** sha256 of the web resume token; the token itself is never stored. */
    tokenHash: text('token_hash'),
    /** Who answers: the agent, or a person (see `handoffs`). Checked by the statements that accept a message and open a turn. */
    mode: text('mode', { enum: CONVERSATION_MODES }).notNull().default('agent'),
    ...timestamps,
  },
  (table) => [
    // The same phone number or Slack user in two workspaces is two conversations.
    uniqueIndex('conversations_identity_uq').on(table.workspaceId, table.channel, table.externalUserId, table.threadKey),
    index('conversations_workspace_updated_idx').on(table.workspaceId, table.updatedAt),
    uniqueIndex('conversations_token_hash_uq').on(table.tokenHash),
    index('conversations_updated_at_idx').on(table.updatedAt),
    index('conversations_external_user_idx').on(table.externalUserId),
    index('conversations_channel_updated_idx').on(table.channel, table.updatedAt),
  ],
);

export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey(),
    workspaceId: workspaceColumn(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['user', 'assistant'] }).notNull(),
    text: text('text').notNull(),
    /** On user messages: the ledger of the turn (received → processing → answered / fallback / failed). */
    status: text('status', { enum: MESSAGE_STATUSES }).notNull(),
    /** The channel's own id for an inbound message (web clientMessageId, Slack event id, Twilio MessageSid): dedupe key. */
    externalMessageId: text('external_message_id'),
    /** On assistant messages: the user message this answers. */
    replyToId: uuid('reply_to_id'),
    provider: text('provider'),
    model: text('model'),
    cached: boolean('cached').notNull().default(false),
    fallback: boolean('fallback').notNull().default(false),
    fallbackReason: text('fallback_reason'),
    /** Provider attempts of the turn: [{ provider, model, outcome, error?, ms }]. */
    attempts: jsonb('attempts'),
    latencyMs: integer('latency_ms'),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    /** On assistant messages: what the turn's model calls cost in USD at MODEL_PRICES (null: unpriced model, or no model call). */
    costUsd: doublePrecision('cost_usd'),
    /** On user messages answered with the fallback reply: `pending` until a recovered provider answers it properly. */
    followUp: text('follow_up', { enum: FOLLOW_UP_STATUSES }),
    /** On assistant messages: who wrote it (null on rows older than handoffs: the agent). */
    author: text('author', { enum: MESSAGE_AUTHORS }),
    /** The operator's account, for operator messages. */
    authorId: uuid('author_id'),
    /** The name the person was shown (operators). */
    authorName: text('author_name'),
    /**
     * On user messages: the instance (InstanceHeartbeat id) answerable for an open turn — the one that
     * accepted it (and runs it, or handed it to BullMQ) or took it over; null once a BullMQ worker
     * opened it (BullMQ's lock watches it then). An open turn whose owner's heartbeat is gone is re-queued.
     */
    turnOwner: uuid('turn_owner'),
    ...timestamps,
  },
  (table) => [
    index('messages_follow_up_idx').on(table.createdAt).where(sql`${table.followUp} = 'pending'`),
    index('messages_conversation_created_idx').on(table.conversationId, table.createdAt),
    uniqueIndex('messages_external_id_uq')
      .on(table.conversationId, table.externalMessageId)
      .where(sql`${table.externalMessageId} is not null`),
    index('messages_status_idx').on(table.status, table.updatedAt).where(sql`${table.role} = 'user'`),
    // Spend reports and the global daily budget: only priced rows, newest first.
    index('messages_cost_created_idx').on(table.createdAt).where(sql`${table.costUsd} is not null`),
    index('messages_workspace_cost_created_idx').on(table.workspaceId, table.createdAt).where(sql`${table.costUsd} is not null`),
  ],
);

export const toolCalls = pgTable(
  'tool_calls',
  {
    id: uuid('id').primaryKey(),
    workspaceId: workspaceColumn(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    /** The user message whose turn made this call. */
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    /** The provider's id for the call (tool_call id / tool_use id). */
    callId: text('call_id').notNull(),
    toolName: text('tool_name').notNull(),
    arguments: jsonb('arguments'),
    result: jsonb('result'),
    status: text('status', { enum: TOOL_CALL_STATUSES }).notNull(),
    error: text('error'),
    durationMs: integer('duration_ms'),
    provider: text('provider'),
    model: text('model'),
    step: integer('step').notNull().default(0),
    /** message + step + tool + canonical arguments (tools/idempotency-key.ts): the same call never runs its side effect twice. */
    idempotencyKey: text('idempotency_key').notNull(),
    /** Sensitive calls: what the person is asked to confirm, in plain language. */
    confirmationSummary: text('confirmation_summary'),
    /** A pending call not answered by then is refused as expired. */
    confirmationExpiresAt: timestamp('confirmation_expires_at', { withTimezone: true, mode: 'date' }),
    confirmationDecision: text('confirmation_decision', { enum: ['confirmed', 'declined', 'expired'] }),
    confirmationDecidedAt: timestamp('confirmation_decided_at', { withTimezone: true, mode: 'date' }),
    /**
     * Checkout links: what Stripe's signed webhooks said of the payment (null: no event yet, the
     * link is open). Moves forward only (payments/payment-state.ts), so an event arriving late
     * never undoes a later one.
     */
    paymentStatus: text('payment_status', { enum: PAYMENT_STATUSES }),
    /** In the currency's minor units, as Stripe reports the session's total. */
    paymentAmount: integer('payment_amount'),
    paymentCurrency: text('payment_currency'),
    /** When Stripe created the event that set the status. */
    paymentAt: timestamp('payment_at', { withTimezone: true, mode: 'date' }),
    /** The event that set the status (a recovered event finds it already applied, and still tells the person). */
    paymentEventId: text('payment_event_id'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    uniqueIndex('tool_calls_idempotency_key_uq').on(table.idempotencyKey),
    index('tool_calls_created_at_idx').on(table.createdAt),
    index('tool_calls_workspace_created_idx').on(table.workspaceId, table.createdAt),
    index('tool_calls_tool_created_idx').on(table.toolName, table.createdAt),
    index('tool_calls_message_idx').on(table.messageId),
    // Admin console filters: each equality filter walks its own index newest first.
    index('tool_calls_status_created_idx').on(table.status, table.createdAt),
    // "Which calls of this tool failed?" — the most common pair, answered without a bitmap AND.
    index('tool_calls_tool_status_created_idx').on(table.toolName, table.status, table.createdAt),
    index('tool_calls_provider_created_idx').on(table.provider, table.createdAt),
    index('tool_calls_conversation_created_idx').on(table.conversationId, table.createdAt),
    // Free text over arguments (ILIKE '%…%'); needs pg_trgm (migration 0005_pg_trgm).
    index('tool_calls_arguments_trgm_idx').using('gin', sql`(${table.arguments}::text) gin_trgm_ops`),
  ],
);

/**
 * The turn journal: each model step that asked for tools, recorded before its tools run.
 * A retried or recovered turn replays these steps instead of asking the model again, so it
 * asks for the same calls (the same idempotency keys) and resumes after the last one; the
 * tools' own outcomes are in `tool_calls`. The final answer is not journaled: `completeTurn`
 * stores it.
 */
export const turnSteps = pgTable(
  'turn_steps',
  {
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    step: integer('step').notNull(),
    /** { text, toolCalls, provider, model, inputTokens, outputTokens } as the model answered. */
    output: jsonb('output').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.messageId, table.step] })],
);

/** Admin console accounts (created by `npm run admin:create`); passwords are argon2id hashes. */
export const adminUsers = pgTable('admin_users', {
  id: uuid('id').primaryKey(),
  /** The workspace the account acts in (an `owner` may act in any). */
  workspaceId: text('workspace_id')
    .notNull()
    .default(DEFAULT_WORKSPACE_ID)
    .references(() => workspaces.id),
  email: text('email').notNull().unique(),
  /** Null for accounts made by single sign-on (OIDC), which have no password. */
  passwordHash: text('password_hash'),
  /** `issuer|sub` of an account made or linked by OIDC sign-in. */
  oidcSubject: text('oidc_subject').unique(),
  /** viewer (read only), operator (inbox, take over, reply, release, notes), admin (everything). */
  role: text('role', { enum: ADMIN_ROLES }).notNull().default('admin'),
  /** Shown to the people an operator answers (default: the email's local part). */
  name: text('name'),
  ...timestamps,
});

/**
 * A conversation handed to a person: `waiting` (asked for, nobody holds it), `active` (an
 * operator holds it), `released` (back to the agent). At most one open (waiting or active)
 * handoff per conversation: the partial unique index makes a takeover race have one winner.
 */
export const handoffs = pgTable(
  'handoffs',
  {
    id: uuid('id').primaryKey(),
    workspaceId: workspaceColumn(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    status: text('status', { enum: HANDOFF_STATUSES }).notNull(),
    reason: text('reason', { enum: HANDOFF_REASONS }).notNull(),
    /** What the model or the person said they need (request_human's `reason`), if anything. */
    summary: text('summary'),
    /** The user message that asked (keyword, tool, fallback); null for an operator's takeover. */
    messageId: uuid('message_id').references(() => messages.id, { onDelete: 'set null' }),
    operatorId: uuid('operator_id').references(() => adminUsers.id, { onDelete: 'set null' }),
    /** Email or 'admin-token': who holds it, for the inbox. */
    operator: text('operator'),
    operatorName: text('operator_name'),
    requestedAt: timestamp('requested_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    claimedAt: timestamp('claimed_at', { withTimezone: true, mode: 'date' }),
    releasedAt: timestamp('released_at', { withTimezone: true, mode: 'date' }),
    /** The one "everyone is busy" notice was sent (set by the sweeper that sent it, so once across instances). */
    waitNoticeAt: timestamp('wait_notice_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    uniqueIndex('handoffs_open_uq').on(table.conversationId).where(sql`${table.status} in ('waiting', 'active')`),
    index('handoffs_status_requested_idx').on(table.status, table.requestedAt),
    index('handoffs_workspace_status_requested_idx').on(table.workspaceId, table.status, table.requestedAt),
    index('handoffs_conversation_idx').on(table.conversationId, table.requestedAt),
  ],
);

/**
 * Every Stripe webhook event, stored once by its id when its signature checks out (a redelivery
 * finds it and does nothing again), then handled from this row: a crash between the two is
 * recovered at start-up. Only the fields we act on and show are kept, not the whole payload.
 */
export const paymentEvents = pgTable(
  'payment_events',
  {
    /** Stripe's event id (`evt_…`). */
    id: text('id').primaryKey(),
    workspaceId: workspaceColumn(),
    type: text('type').notNull(),
    /** When Stripe created the event. */
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    livemode: boolean('livemode').notNull(),
    /** The object the event is about: a checkout session, invoice or subscription id. */
    objectId: text('object_id'),
    checkoutSessionId: text('checkout_session_id'),
    invoiceId: text('invoice_id'),
    subscriptionId: text('subscription_id'),
    /** As the event's metadata names them (no foreign key: an event about a conversation we do not have is kept too). */
    conversationId: uuid('conversation_id'),
    toolCallId: uuid('tool_call_id'),
    /** Minor units. */
    amount: integer('amount'),
    currency: text('currency'),
    /** For checkout session events: the payment state the event reports (paid, processing, failed, expired). */
    paymentStatus: text('payment_status', { enum: PAYMENT_STATUSES }),
    status: text('status', { enum: PAYMENT_EVENT_STATUSES }).notNull().default('received'),
    /** What handling it did: paid, processing, failed, expired, subscription_created, …, stale (a later state already applied), unknown_session, ignored. */
    outcome: text('outcome'),
    /** The person was told (a message in their conversation). */
    notified: boolean('notified').notNull().default(false),
    /** Handling attempts so far; an event that fails every time is given up (`failed`) after a few. */
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    processedAt: timestamp('processed_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    index('payment_events_received_idx').on(table.receivedAt),
    index('payment_events_workspace_received_idx').on(table.workspaceId, table.receivedAt),
    index('payment_events_pending_idx').on(table.receivedAt).where(sql`${table.status} = 'received'`),
    index('payment_events_conversation_idx').on(table.conversationId, table.receivedAt),
    index('payment_events_type_idx').on(table.type, table.receivedAt),
  ],
);

/** Operators' internal notes on a conversation: shown in the console, never sent to the person. */
export const conversationNotes = pgTable(
  'conversation_notes',
  {
    id: uuid('id').primaryKey(),
    workspaceId: workspaceColumn(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    author: text('author').notNull(),
    text: text('text').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [index('conversation_notes_conversation_idx').on(table.conversationId, table.createdAt)],
);

/** Admin login sessions: only the sha256 of the cookie value is stored. */
export const adminSessions = pgTable(
  'admin_sessions',
  {
    tokenHash: text('token_hash').primaryKey(),
    adminUserId: uuid('admin_user_id')
      .notNull()
      .references(() => adminUsers.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (table) => [index('admin_sessions_user_idx').on(table.adminUserId)],
);

/** Who read what in the admin console: every admin API read and login is recorded here. */
export const adminAudit = pgTable(
  'admin_audit',
  {
    id: uuid('id').primaryKey(),
    workspaceId: workspaceColumn(),
    /** admin email, or 'token' for the ADMIN_TOKEN bearer, or the attempted email for a failed login. */
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    /** The resource read (an id) or the filters used, already redacted. */
    detail: jsonb('detail'),
    ip: text('ip'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [index('admin_audit_created_idx').on(table.createdAt), index('admin_audit_workspace_created_idx').on(table.workspaceId, table.createdAt)],
);

/** `undeliverable`: the channel would not carry it now (WhatsApp outside the 24-hour window, no template); kept, not sent. */
export const DELIVERY_STATUSES = ['sent', 'failed', 'suppressed', 'undeliverable'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * Outbound deliveries of non-streaming channels (Slack, SMS, WhatsApp): one row per
 * reply or notice, with attempts and the last error, so a permanently failed
 * delivery is visible to admins. Addresses are not stored here; the conversation has them.
 */
export const channelDeliveries = pgTable(
  'channel_deliveries',
  {
    id: uuid('id').primaryKey(),
    workspaceId: workspaceColumn(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    /** The user message this delivery answers (null for notices not tied to a stored message). */
    messageId: uuid('message_id').references(() => messages.id, { onDelete: 'cascade' }),
    channel: text('channel').notNull(),
    /** 'reply', 'failure_notice', 'limit_notice'. */
    kind: text('kind').notNull(),
    status: text('status', { enum: DELIVERY_STATUSES }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    /** Parts the text was split into (SMS segments, Slack messages). */
    parts: integer('parts').notNull().default(1),
    error: text('error'),
    /** Provider ids of what was sent (Slack ts, Twilio MessageSid). */
    providerIds: jsonb('provider_ids'),
    /** What the provider reported since (WhatsApp Cloud statuses: sent, delivered, read, failed); moves forward only. */
    providerStatus: text('provider_status'),
    providerStatusAt: timestamp('provider_status_at', { withTimezone: true, mode: 'date' }),
    /** A failed status's error (code and title). */
    providerError: text('provider_error'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [
    index('channel_deliveries_status_created_idx').on(table.status, table.createdAt),
    index('channel_deliveries_workspace_created_idx').on(table.workspaceId, table.createdAt),
    index('channel_deliveries_message_idx').on(table.messageId),
    // A status callback finds its delivery by the provider's message id.
    index('channel_deliveries_provider_ids_idx').using('gin', table.providerIds),
  ],
);

/**
 * Per-address channel state that must survive restarts and be shared by every
 * process: SMS/WhatsApp opt-out (STOP/START) and the one rate-limit notice per window.
 */
export const channelContacts = pgTable(
  'channel_contacts',
  {
    workspaceId: workspaceColumn(),
    channel: text('channel').notNull(),
    address: text('address').notNull(),
    optedOutAt: timestamp('opted_out_at', { withTimezone: true, mode: 'date' }),
    /** While now < this, the person has already been told they are rate limited. */
    limitNoticeUntil: timestamp('limit_notice_until', { withTimezone: true, mode: 'date' }),
    ...timestamps,
  },
  // An opt-out is from one business: the same number may still hear from another workspace.
  (table) => [primaryKey({ columns: [table.workspaceId, table.channel, table.address] })],
);

/**
 * Where to deliver a reply when the identity alone is not enough (a Slack slash
 * command's response_url), keyed by the channel's message id, so any process can read it.
 */
export const channelReplyRoutes = pgTable(
  'channel_reply_routes',
  {
    channel: text('channel').notNull(),
    externalMessageId: text('external_message_id').notNull(),
    route: jsonb('route').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.channel, table.externalMessageId] }), index('channel_reply_routes_expires_idx').on(table.expiresAt)],
);

/**
 * Inbound provider messages answered without becoming a message row (a WhatsApp image gets the
 * "text only" notice): claimed here by the provider's id, so a redelivery is not answered twice.
 */
export const inboundReceipts = pgTable(
  'inbound_receipts',
  {
    channel: text('channel').notNull(),
    externalMessageId: text('external_message_id').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.channel, table.externalMessageId] }), index('inbound_receipts_received_idx').on(table.receivedAt)],
);

export type Conversation = typeof conversations.$inferSelect;
export type Message = typeof messages.$inferSelect;
export type ToolCall = typeof toolCalls.$inferSelect;
export type AdminUser = typeof adminUsers.$inferSelect;
export type ChannelDelivery = typeof channelDeliveries.$inferSelect;
export type Handoff = typeof handoffs.$inferSelect;
export type ConversationNote = typeof conversationNotes.$inferSelect;
export type PaymentEvent = typeof paymentEvents.$inferSelect;
export type Workspace = typeof workspaces.$inferSelect;
export type WorkspaceCredential = typeof workspaceCredentials.$inferSelect;
