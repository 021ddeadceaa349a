import type { ToolCallSummary } from '../agent/agent.js';
import type { Conversation, DeliveryStatus, HandoffStatus, MessageAuthor, ToolCallStatus } from '../store/schema.js';
import type { ApprovalRequest } from '../tools/approval.js';

/** Who a reply goes to: the conversation (which knows its channel and identity) and the message being answered. */
export interface ReplyTarget {
  conversation: Conversation;
  messageId: string;
}

export interface FinishedReply {
  messageId: string;
  text: string;
  fallback: boolean;
  cached: boolean;
  toolCalls: ToolCallSummary[];
  /** `agent` for turns and tool outcomes, `operator` for a person's reply, `system` for a handoff notice. */
  author: MessageAuthor;
  /** The operator's name, on operator replies. */
  operatorName?: string;
}

/** Where a conversation's handoff stands, as the person is shown it. */
export interface HandoffState {
  status: HandoffStatus;
  operatorName?: string;
}

/** The question a channel shows for a held sensitive call. */
export type ConfirmationRequest = ApprovalRequest;

export interface ConfirmationResolution {
  confirmationId: string;
  status: ToolCallStatus;
}

/**
 * How a channel delivers replies. The spine finds the transport by the conversation's
 * channel (TransportRegistry), so a turn can run anywhere (in-process or on a queue
 * worker) and still reach the person. Only `done` is required.
 */
export interface ReplyTransport {
  readonly channel: string;
  /** Streaming channels show text as it arrives; others ignore deltas and send at the end. */
  delta?(target: ReplyTarget, delta: string): void;
  /** Throw away streamed text for this message (the turn moved to another provider). */
  discard?(target: ReplyTarget): void;
  /**
   * Delivers a stored reply. Channels that record deliveries (Slack, SMS, WhatsApp) resolve to
   * the recorded outcome; a streaming channel resolves to nothing once it has emitted (sent).
   */
  done(target: ReplyTarget, reply: FinishedReply): Promise<DeliveryStatus | void>;
  /** The turn could not produce even the fallback reply (e.g. the database is gone). */
  failed?(target: ReplyTarget, error: { code: string; message: string }): Promise<void>;
  /**
   * Shows a held sensitive call as a question (web: buttons; Slack: interactive buttons). A
   * transport without it still works: the model's reply asks, and the person answers in text (SMS YES/NO).
   */
  requestConfirmation?(target: ReplyTarget, request: ConfirmationRequest): Promise<void>;
  /** The question was answered (or expired): e.g. the web widget replaces its buttons. */
  confirmationResolved?(target: ReplyTarget, resolution: ConfirmationResolution): Promise<void>;
  /** The conversation's handoff changed (web: the widget shows "waiting for a person", who joined, "back with the assistant"). */
  handoffChanged?(conversation: Conversation, state: HandoffState): Promise<void>;
}
