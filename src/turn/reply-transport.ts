import type { ToolCallSummary } from '../agent/agent.js';
import type { Conversation } from '../store/schema.js';

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
}

/**
 * How a channel delivers replies. The pipeline finds the transport by the
 * conversation's channel, so a turn can run anywhere (in-process or on a queue
 * worker) and still reach the person.
 */
export interface ReplyTransport {
  readonly channel: string;
  /** Streaming channels show text as it arrives; others ignore deltas and send at the end. */
  delta?(target: ReplyTarget, delta: string): void;
  /** Throw away streamed text for this message (the turn moved to another provider). */
  discard?(target: ReplyTarget): void;
  done(target: ReplyTarget, reply: FinishedReply): Promise<void>;
  /** The turn could not produce even the fallback reply (e.g. the database is gone). */
  failed?(target: ReplyTarget, error: { code: string; message: string }): Promise<void>;
}
