import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { SwitchboardError } from '../errors/index.js';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { Db } from './database.js';
import { toConversation, type ConversationIdentity, type ConversationRecords, type NewConversation } from './conversations.js';
import { trimHistory, type HistoryEntry } from './history.js';
import { prepareMessageStatements } from './message-statements.js';
import { conversations, messages, type Conversation, type FollowUpStatus, type Message, type MessageAuthor, type MessageStatus } from './schema.js';

export interface AcceptedMessage {
  message: Message;
  /** True when this external message id was already accepted: do not answer it again. */
  duplicate: boolean;
  /** True when nothing came before it in its conversation (the reply cache answers only such messages). */
  firstInConversation: boolean;
}

/** A reply-cache hit to store as a first message's answer. */
export interface CachedAnswer {
  text: string;
  provider: string;
  model: string;
  latencyMs: number;
}

/** The reply a completed turn stored. */
export interface CompletedTurn {
  replyId: string;
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
  /** USD of the turn's model calls (agent/model-prices.ts); null or absent: unpriced, or no model call. */
  costUsd?: number | null;
  /** `pending` marks a fallback-answered message for a proper answer once a provider recovers. */
  followUp?: FollowUpStatus | null;
}

/** The user message's turn already ended (another worker finished it): nothing was written. */
export class TurnAlreadyCompletedError extends SwitchboardError {
  override readonly name = 'TurnAlreadyCompletedError';
  constructor(readonly messageId: string) {
    super('turn_already_completed', `message ${messageId} already has its reply`);
  }
}

/**
 * The message ledger: a user message is accepted (`received`), its turn opened (`processing`)
 * and closed with its reply (`answered` / `fallback` / `failed`), each in one statement on the hot path.
 */
export class MessageLedger {
  readonly #hot: ReturnType<typeof prepareMessageStatements>;

  constructor(
    private readonly db: Db,
    private readonly conversations: ConversationRecords,
  ) {
    this.#hot = prepareMessageStatements(db);
  }


  /**
   * First contact and message in one round trip, for channels that know a person by
   * identity (Slack, SMS, WhatsApp), and a web visitor's first message (`created` carries the
   * id and token hash the web channel chose): finds or creates the conversation and stores the
   * message as `received`, as findOrCreateConversation then acceptMessage would.
   *
   * With `cachedAnswer` (a reply-cache hit for this text), a message that turns out to be
   * the first of its conversation is stored already answered, with that answer as its
   * reply, in the same statement: one commit for the whole turn. Any other message is
   * stored as `received` and the cached answer is not used. One statement, so a message the
   * database refuses leaves no conversation row behind.
   */
  async acceptInbound(
    identity: ConversationIdentity,
    input: { text: string; externalMessageId?: string; turnOwner?: string | null },
    cachedAnswer?: CachedAnswer,
    /** The id and token hash to create the conversation with, when the channel chose them (web). */
    created?: NewConversation,
  ): Promise<{ conversation: Conversation; accepted: AcceptedMessage; answeredFromCache: boolean }> {
    const threadKey = identity.threadKey ?? '';
    const now = new Date();
    const at = now.toISOString();
    const workspaceId = identity.workspaceId ?? DEFAULT_WORKSPACE_ID;
    const message: Message = {
      id: randomUUID(),
      workspaceId,
      conversationId: '',
      role: 'user',
      text: input.text,
      status: 'received',
      externalMessageId: input.externalMessageId ?? null,
      replyToId: null,
      provider: null,
      model: null,
      cached: false,
      fallback: false,
      fallbackReason: null,
      attempts: null,
      latencyMs: null,
      inputTokens: null,
      outputTokens: null,
      costUsd: null,
      followUp: null,
      author: null,
      authorId: null,
      authorName: null,
      turnOwner: input.turnOwner ?? null,
      createdAt: now,
      updatedAt: now,
    };
    const answer = cachedAnswer ?? null;
    const [row] = await this.#hot.acceptInbound({
      conversationId: created?.id ?? randomUUID(),
      tokenHash: created?.tokenHash ?? null,
      workspaceId,
      channel: identity.channel,
      externalUserId: identity.externalUserId,
      threadKey,
      messageId: message.id,
      text: message.text,
      externalMessageId: message.externalMessageId,
      turnOwner: message.turnOwner,
      at,
      hasAnswer: answer !== null,
      answerId: randomUUID(),
      answerText: answer?.text ?? null,
      answerProvider: answer?.provider ?? null,
      answerModel: answer?.model ?? null,
      answerLatencyMs: answer?.latencyMs ?? null,
    });
    if (!row) {
      // Another transaction created this identity's conversation after this statement's
      // snapshot was taken: it is visible to the next one (and the cache is not used).
      const conversation = await this.conversations.findOrCreateConversation(identity, created);
      const accepted = await this.acceptMessage({ conversationId: conversation.id, ...input });
      return { conversation, accepted, answeredFromCache: false };
    }
    const conversation = toConversation(row);
    if (row.inserted) {
      const stored: Message = row.answered
        ? {
            ...message,
            conversationId: conversation.id,
            status: 'answered',
            provider: answer!.provider,
            model: answer!.model,
            cached: true,
            attempts: [],
            latencyMs: answer!.latencyMs,
          }
        : { ...message, conversationId: conversation.id, status: conversation.mode === 'human' ? 'human' : 'received' };
      return {
        conversation,
        accepted: { message: stored, duplicate: false, firstInConversation: !row.has_earlier },
        answeredFromCache: row.answered,
      };
    }
    const existing = await this.findByExternalId(conversation.id, input.externalMessageId!);
    return { conversation, accepted: { message: existing!, duplicate: true, firstInConversation: false }, answeredFromCache: false };
  }


  /**
   * Stores an inbound user message as `received`. A repeated external id in the
   * same conversation returns the first row, flagged duplicate, and stores nothing.
   * `turnOwner`: the instance answerable for its turn (see messages.turn_owner).
   */
  async acceptMessage(input: { conversationId: string; text: string; externalMessageId?: string; turnOwner?: string | null }): Promise<AcceptedMessage> {
    const [inserted] = await this.#hot.acceptMessage.execute({
      id: randomUUID(),
      conversationId: input.conversationId,
      text: input.text,
      externalMessageId: input.externalMessageId ?? null,
      turnOwner: input.turnOwner ?? null,
      // The app clock orders a turn's rows (see completeTurn), so both sides use it.
      createdAt: new Date(),
    });
    if (inserted) {
      const { hasEarlier, ...message } = inserted;
      return { message, duplicate: false, firstInConversation: !hasEarlier };
    }
    const [existing] = await this.db
      .select()
      .from(messages)
      .where(
        and(eq(messages.conversationId, input.conversationId), eq(messages.externalMessageId, input.externalMessageId!)),
      );
    return { message: existing!, duplicate: true, firstInConversation: false };
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

  /**
   * Opens the turn of a stored user message (`processing`) and returns it with its
   * conversation (one statement) and its history (as loadHistory trims it; read alongside, in
   * the same round trip time); undefined when it is not an open user message (its turn already
   * ended, e.g. a redelivered job). `turnOwner`: this instance when the turn runs in its own
   * process, null when BullMQ runs it.
   */
  async startTurn(
    messageId: string,
    historyCharBudget: number,
    turnOwner: string | null = null,
  ): Promise<{ message: Message; conversation: Conversation; history: HistoryEntry[]; resumed: boolean } | undefined> {
    // Both at once (two pooled connections): the history read does not wait for the start's
    // commit, and the start only touches this message, which is not part of its own history.
    const [[row], history] = await Promise.all([
      this.#hot.startTurn.execute({ id: messageId, turnOwner, now: new Date().toISOString() }),
      this.#hot.loadHistoryBefore.execute({ id: messageId }),
    ]);
    if (!row) return undefined;
    const {
      conversationWorkspaceId,
      conversationChannel,
      conversationExternalUserId,
      conversationThreadKey,
      conversationTokenHash,
      conversationMode,
      conversationCreatedAt,
      conversationUpdatedAt,
      resumed,
      ...message
    } = row;
    return {
      message,
      conversation: {
        id: message.conversationId,
        workspaceId: conversationWorkspaceId,
        channel: conversationChannel,
        externalUserId: conversationExternalUserId,
        threadKey: conversationThreadKey,
        tokenHash: conversationTokenHash,
        mode: conversationMode,
        createdAt: conversationCreatedAt,
        updatedAt: conversationUpdatedAt,
      },
      history: trimHistory(history, historyCharBudget),
      resumed: resumed === true,
    };
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
   * The conversation before `beforeMessage`, trimmed to `charBudget` characters and
   * returned oldest first (see trimHistory).
   */
  async loadHistory(conversationId: string, beforeMessage: Message, charBudget: number): Promise<HistoryEntry[]> {
    const rows = await this.#hot.loadHistory.execute({ conversationId, before: beforeMessage.createdAt.toISOString() });
    return trimHistory(rows, charBudget);
  }

  /**
   * Writes the reply and closes the ledger entry of the user message, atomically: one
   * statement (data-modifying CTEs), so one round trip instead of a transaction's six.
   * Only an open entry (received / processing) can be closed, so a turn that ran twice
   * (a redelivered queue job) stores one reply: the second gets TurnAlreadyCompletedError.
   */
  async completeTurn(userMessage: Message, outcome: TurnOutcome): Promise<CompletedTurn> {
    const now = new Date().toISOString();
    const attempts = outcome.attempts === undefined || outcome.attempts === null ? null : JSON.stringify(outcome.attempts);
    const [reply] = await this.#hot.completeTurn({
      messageId: userMessage.id,
      replyId: randomUUID(),
      status: outcome.status,
      text: outcome.text,
      provider: outcome.provider,
      model: outcome.model,
      cached: outcome.cached,
      fallback: outcome.fallback,
      fallbackReason: outcome.fallbackReason,
      attempts,
      latencyMs: outcome.latencyMs,
      inputTokens: outcome.inputTokens,
      outputTokens: outcome.outputTokens,
      costUsd: outcome.costUsd ?? null,
      followUp: outcome.followUp ?? null,
      now,
    });
    if (!reply) throw new TurnAlreadyCompletedError(userMessage.id);
    return { replyId: reply.id };
  }

  /**
   * A message of the assistant's side that answers no user message (replyToId stays null, so
   * the reply of the turn that asked is still what a resent message gets back): the outcome of
   * a confirmed call, a handoff notice, an operator's reply.
   */
  async appendAssistantMessage(input: {
    conversationId: string;
    text: string;
    author?: MessageAuthor;
    authorId?: string | null;
    authorName?: string | null;
    /** A sender's own id for the message (an operator's retried reply): the same id stores once. */
    externalMessageId?: string | null;
  }): Promise<{ message: Message; duplicate: boolean }> {
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
          author: input.author ?? 'agent',
          authorId: input.authorId ?? null,
          authorName: input.authorName ?? null,
          externalMessageId: input.externalMessageId ?? null,
          createdAt: now,
        })
        .onConflictDoNothing({ target: [messages.conversationId, messages.externalMessageId], where: sql`${messages.externalMessageId} is not null` })
        .returning();
      if (!row) {
        const [earlier] = await tx
          .select()
          .from(messages)
          .where(and(eq(messages.conversationId, input.conversationId), eq(messages.externalMessageId, input.externalMessageId!)));
        return { message: earlier!, duplicate: true };
      }
      await tx.update(conversations).set({ updatedAt: now }).where(eq(conversations.id, input.conversationId));
      return { message: row, duplicate: false };
    });
  }

  /**
   * A turn opened for a conversation that went to a person meanwhile: the message is kept for
   * the operator (`human`) and no turn runs. False when its turn had already ended.
   */
  async holdForHuman(messageId: string): Promise<boolean> {
    const rows = await this.db
      .update(messages)
      .set({ status: 'human', updatedAt: new Date() })
      .where(and(eq(messages.id, messageId), inArray(messages.status, ['received', 'processing'])))
      .returning({ id: messages.id });
    return rows.length > 0;
  }
}
