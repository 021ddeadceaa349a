import { ChannelRecords } from './channel-records.js';
import { ConversationRecords } from './conversations.js';
import type { Db } from './database.js';
import { HandoffRecords } from './handoffs.js';
import { MessageLedger } from './messages.js';
import { PaymentEventRecords } from './payment-events.js';
import { SessionLookup } from './sessions.js';
import { SpendRecords } from './spend.js';
import { ToolCallRecords } from './tool-calls.js';
import { TurnSteps } from './turn-steps.js';
import { UnfinishedMessages } from './unfinished-messages.js';

/**
 * Every statement over the domain tables, one class per table (or per job over `messages`).
 * Built once per process by `createStore`; the statements each class prepares are built with it.
 */
export interface Store {
  readonly conversations: ConversationRecords;
  /** The message ledger: accept, open and close turns, history. */
  readonly messages: MessageLedger;
  /** Messages whose turn was lost, and fallback answers waiting for a proper one. */
  readonly unfinished: UnfinishedMessages;
  readonly toolCalls: ToolCallRecords;
  /** The turn journal: model steps replayed when a turn is retried. */
  readonly turnSteps: TurnSteps;
  /** Deliveries, opt-outs, limit notices and reply routes of the channels. */
  readonly channels: ChannelRecords;
  /** The web handshake's resume-token lookup. */
  readonly sessions: SessionLookup;
  /** Handoffs to people, the conversation mode they switch, operators' notes. */
  readonly handoffs: HandoffRecords;
  /** Stripe webhook events and the payment state of checkout links. */
  readonly payments: PaymentEventRecords;
  /** What model calls cost so far, per conversation, person and day: the budgets' one statement. */
  readonly spend: SpendRecords;
}

export function createStore(db: Db): Store {
  const conversations = new ConversationRecords(db);
  return {
    conversations,
    messages: new MessageLedger(db, conversations),
    unfinished: new UnfinishedMessages(db),
    toolCalls: new ToolCallRecords(db),
    turnSteps: new TurnSteps(db),
    channels: new ChannelRecords(db),
    sessions: new SessionLookup(db),
    handoffs: new HandoffRecords(db),
    payments: new PaymentEventRecords(db),
    spend: new SpendRecords(db),
  };
}

export type { ConversationIdentity } from './conversations.js';
export type { AcceptedMessage, CachedAnswer, TurnOutcome } from './messages.js';
export { TurnAlreadyCompletedError } from './messages.js';
export type { HistoryEntry } from './history.js';
export type { ToolCallRecord, PendingCallRecord } from './tool-calls.js';
export type { DeliveryRecord } from './channel-records.js';
export type { HandoffOperator, InboxEntry, OpenedHandoff, TakeoverResult } from './handoffs.js';
export type { RecordedStep } from './turn-steps.js';
export type { AppliedPayment, NewPaymentEvent } from './payment-events.js';
export type { Spend, SpendScopes } from './spend.js';
