import { randomUUID } from 'node:crypto';
import type { ToolCallSummary } from '../agent/agent.js';
import type { ResponseCache } from '../infra/response-cache.js';
import type { PipelineEvents } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import { TurnAlreadyCompletedError } from '../store/messages.js';
import { outcomeMessageKey } from '../store/tool-calls.js';
import type { Conversation, DeliveryStatus, Message, MessageAuthor, ToolCallStatus } from '../store/schema.js';
import type { FollowUpAnswer } from '../store/unfinished-messages.js';
import type { ApprovalRequest } from '../tools/approval.js';
import type { TurnResult } from './outcomes.js';
import type { FinishedReply, HandoffState, ReplyTarget } from './reply-transport.js';
import type { TransportRegistry } from './transports.js';

export interface ReplyDeliveryDeps {
  store: Store;
  transports: TransportRegistry;
  events: PipelineEvents;
  cache?: ResponseCache | undefined;
  logger: Logger;
}

/**
 * What became of one delivery: the channel's recorded outcome, `failed` when the transport threw,
 * `no_transport` when this deployment has no transport for the conversation's channel.
 */
export type DeliveryResult = DeliveryStatus | 'no_transport';

/** A message of the assistant's side that answers no user message: a notice, an operator's reply, a tool outcome. */
export interface AppendedMessage {
  text: string;
  author: MessageAuthor;
  authorId?: string | null;
  authorName?: string | null;
  /** The sender's own id for it (an operator reply's clientMessageId): a retry is not stored or sent twice. */
  externalMessageId?: string | null;
}

/** A turn's user message and its conversation. */
export interface TurnSubject {
  message: Message;
  conversation: Conversation;
}

/**
 * The one path by which anything the assistant says reaches a person: store the assistant
 * message, tell observers, call the channel's transport, and cache what may be replayed.
 * Turns, cached answers, fallback replies, follow-ups after recovery and the outcomes of
 * confirmed, declined or expired tool calls all end here. Storing comes first and happens
 * once; delivery problems are logged, never retried into a second answer.
 */
export class ReplyDelivery {
  constructor(private readonly deps: ReplyDeliveryDeps) {}

  /** Stores a turn's outcome (once) and delivers it. */
  async finishTurn(turn: TurnSubject, outcome: TurnResult, log: Logger): Promise<void> {
    if (await this.recordTurn(turn, outcome, log)) await this.deliverTurn(turn, outcome, log);
  }

  /** Stores a turn's outcome; false when another run of the same turn already stored one. */
  async recordTurn(turn: TurnSubject, outcome: TurnResult, log: Logger): Promise<boolean> {
    try {
      await this.deps.store.messages.completeTurn(turn.message, outcome.record);
    } catch (error) {
      if (error instanceof TurnAlreadyCompletedError) {
        await this.afterClosedElsewhere(turn, log);
        return false;
      }
      throw error;
    }
    this.announceTurn(turn, outcome, log);
    return true;
  }

  /**
   * The turn's message was closed by someone else: another run of the turn answered it, or an
   * operator took the conversation over while it ran (the message is then `human`, and what was
   * streamed of the agent's answer is taken back).
   */
  private async afterClosedElsewhere(turn: TurnSubject, log: Logger): Promise<void> {
    const now = await this.deps.store.messages.getMessage(turn.message.id);
    if (now?.status !== 'human') {
      log.info('turn already completed elsewhere; not answering twice');
      return;
    }
    log.info('conversation taken over by a person while the turn ran: the answer is not sent');
    this.deps.transports.get(turn.conversation.channel)?.discard?.({ conversation: turn.conversation, messageId: turn.message.id });
    this.deps.events.emit('message.held', { message: now, conversation: { ...turn.conversation, mode: 'human' } });
  }

  /** A turn's outcome is stored (here, or by the statement that accepted it): observers and the log hear of it. */
  announceTurn(turn: TurnSubject, outcome: TurnResult, log: Logger): void {
    this.deps.events.emit('turn.finished', { message: turn.message, conversation: turn.conversation, outcome: outcome.record });
    log.info({ status: outcome.record.status, provider: outcome.record.provider, latencyMs: outcome.record.latencyMs }, 'turn finished');
  }

  /** Sends a stored turn outcome, then caches it (only once stored, and after the person has it). */
  async deliverTurn(turn: TurnSubject, outcome: TurnResult, log: Logger): Promise<void> {
    const { record } = outcome;
    await this.send(
      { conversation: turn.conversation, messageId: turn.message.id },
      { text: record.text, fallback: record.fallback, cached: record.cached, toolCalls: outcome.toolCalls, author: 'agent' },
      log,
      'reply stored but not delivered',
    );
    if (outcome.cacheEntry) await this.deps.cache?.set(outcome.cacheEntry.key, outcome.cacheEntry.reply);
  }

  /**
   * Stores the proper answer to a fallback-answered message and delivers it to the same
   * conversation (a second `done` for the same message id). False when another instance answered it first.
   */
  async deliverFollowUp(turn: TurnSubject, answer: FollowUpAnswer, toolCalls: ToolCallSummary[], log: Logger): Promise<boolean> {
    const reply = await this.deps.store.unfinished.completeFollowUp(turn.message, answer);
    if (!reply) return false;
    log.info({ provider: answer.provider }, 'follow-up answered');
    await this.send(
      { conversation: turn.conversation, messageId: turn.message.id },
      { text: reply.text, fallback: false, cached: false, toolCalls, author: 'agent' },
      log,
      'follow-up stored but not delivered',
    );
    return true;
  }

  /**
   * The outcome of a held tool call (confirmed and run, declined, expired) as a new assistant
   * message of the conversation: the question is marked resolved, then the outcome is sent.
   */
  async deliverToolOutcome(
    conversation: Conversation,
    call: { confirmationId: string; toolName: string; status: ToolCallStatus },
    text: string,
    log: Logger,
  ): Promise<void> {
    const messages = this.deps.store.messages;
    const outcome = { conversationId: conversation.id, text, author: 'agent' as const };
    const key = outcomeMessageKey(call.confirmationId);
    let { message } = await messages.appendAssistantMessage({ ...outcome, externalMessageId: key });
    // A web client names its own messages: one that took the key first does not keep the outcome out.
    if (message.role !== 'assistant') ({ message } = await messages.appendAssistantMessage({ ...outcome, externalMessageId: `${key}:${randomUUID()}` }));
    const target: ReplyTarget = { conversation, messageId: message.id };
    const transport = this.deps.transports.get(conversation.channel);
    await transport
      ?.confirmationResolved?.(target, { confirmationId: call.confirmationId, status: call.status })
      .catch((error: unknown) => log.warn({ err: error }, 'confirmation resolution not shown'));
    this.deps.events.emit('message.appended', { message, conversation });
    await this.send(
      target,
      { text, fallback: false, cached: false, toolCalls: [{ name: call.toolName, status: call.status }], author: 'agent' },
      log,
      'confirmation outcome not delivered',
    );
  }

  /**
   * Stores a message of the assistant's side (a handoff notice, an operator's reply) and
   * delivers it like any reply: the same transport, retries and delivery record.
   */
  async deliverMessage(conversation: Conversation, input: AppendedMessage, log: Logger): Promise<{ message: Message; delivery: DeliveryResult | 'duplicate' }> {
    const { message, duplicate } = await this.deps.store.messages.appendAssistantMessage({ conversationId: conversation.id, ...input });
    // The same sender id again (an operator retrying after a lost answer): stored and sent once.
    if (duplicate) return { message, delivery: 'duplicate' };
    this.deps.events.emit('message.appended', { message, conversation });
    const delivery = await this.send(
      { conversation, messageId: message.id },
      {
        text: message.text,
        fallback: false,
        cached: false,
        toolCalls: [],
        author: input.author,
        ...(input.author === 'operator' && input.authorName && { operatorName: input.authorName }),
      },
      log,
      `${input.author} message stored but not delivered`,
    );
    return { message, delivery };
  }

  /** Tells the person's channel where the handoff stands (channels that show it: the web widget). */
  async showHandoff(conversation: Conversation, state: HandoffState, log: Logger): Promise<void> {
    await this.deps.transports
      .get(conversation.channel)
      ?.handoffChanged?.(conversation, state)
      .catch((error: unknown) => log.warn({ err: error }, 'handoff state not shown'));
  }

  /** Shows a held sensitive call's question on the conversation's channel (if it can show one). */
  async showApproval(target: ReplyTarget, request: ApprovalRequest, log: Logger): Promise<void> {
    await this.deps.transports
      .get(target.conversation.channel)
      ?.requestConfirmation?.(target, request)
      .catch((error: unknown) => log.warn({ err: error, confirmationId: request.confirmationId }, 'confirmation request not delivered'));
  }

  /** Nothing could be stored, not even the fallback: the person is told to try again. */
  async deliverFailure(target: ReplyTarget, error: { code: string; message: string }, log: Logger): Promise<void> {
    await this.deps.transports
      .get(target.conversation.channel)
      ?.failed?.(target, error)
      .catch((deliveryError: unknown) => log.error({ err: deliveryError }, 'failure notice not delivered'));
  }

  private async send(target: ReplyTarget, reply: Omit<FinishedReply, 'messageId'>, log: Logger, failure: string): Promise<DeliveryResult> {
    const transport = this.deps.transports.get(target.conversation.channel);
    if (!transport) {
      log.error({ channel: target.conversation.channel }, `${failure}: no transport for this channel here`);
      return 'no_transport';
    }
    try {
      const status = (await transport.done(target, { messageId: target.messageId, ...reply })) ?? 'sent';
      // Kept but not sent (WhatsApp outside its 24-hour window, no template): a person should follow up.
      if (status === 'undeliverable') this.deps.events.emit('delivery.undeliverable', { conversation: target.conversation, messageId: target.messageId });
      return status;
    } catch (error) {
      log.error({ err: error }, failure);
      return 'failed';
    }
  }
}
