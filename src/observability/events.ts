import { EventEmitter } from 'node:events';
import type { TurnOutcome } from '../store/messages.js';
import type { Conversation, Message } from '../store/schema.js';
import type { Logger } from './logger.js';

export interface ToolCallEvent {
  id: string;
  conversationId: string;
  messageId: string;
  channel: string;
  toolName: string;
  status: string;
  durationMs: number;
  provider: string | null;
  /**
   * The status the row had before, when observers heard of the call already: `pending` for a
   * held call the person declined or that expired, `running` for a confirmed call's outcome.
   * Absent for a call recorded in one go (its first event).
   */
  previousStatus?: string;
}

export interface PipelineEventMap {
  'message.accepted': [{ message: Message; conversation: Conversation }];
  'turn.finished': [{ message: Message; conversation: Conversation; outcome: TurnOutcome }];
  'tool-call.finished': [ToolCallEvent];
  /** A held call was confirmed and starts to run (`pending` → `running`); its outcome follows as `tool-call.finished`. */
  'tool-call.confirmed': [ToolCallEvent];
  /** A user message was stored for a person (the conversation is with an operator): no turn runs. */
  'message.held': [{ message: Message; conversation: Conversation }];
  /** A message of the assistant's side that answers no user message was stored (notice, operator reply, tool outcome). */
  'message.appended': [{ message: Message; conversation: Conversation }];
  /** A handoff opened, was claimed or released, or got a note: the operators' inbox changes. */
  'handoff.changed': [HandoffEvent];
  /** A reply was stored but the channel could not carry it now (WhatsApp's 24-hour window). */
  'delivery.undeliverable': [{ conversation: Conversation; messageId: string }];
  /** A Stripe webhook event was stored and handled (or ignored). */
  'payment.processed': [{ type: string; outcome: string; conversationId: string | null }];
  /** A model call finished: its tokens, and their cost at MODEL_PRICES (null: the model has no price). */
  'model.called': [{ workspaceId?: string; provider: string; model: string; inputTokens: number; outputTokens: number; costUsd: number | null }];
  /** A budget kept a turn (or a follow-up) from the model, or stopped a turn before its next model call. */
  'budget.refused': [{ workspaceId?: string; scope: string; stage: string; channel: string; conversationId: string; messageId: string }];
}

export interface HandoffEvent {
  conversationId: string;
  channel: string;
  /** What happened: requested, claimed, started (an operator took it from the agent), released, note. */
  change: 'requested' | 'claimed' | 'started' | 'released' | 'note';
  status: 'waiting' | 'active' | 'released';
  reason: string;
  operator: string | null;
}

/**
 * What happened in the pipeline, for observers (metrics, the admin console's live
 * view, audit). Observers never break a turn: a listener that throws is logged and
 * ignored.
 */
export class PipelineEvents {
  readonly #emitter = new EventEmitter();

  constructor(private readonly logger: Logger) {
    this.#emitter.setMaxListeners(50);
  }

  on<K extends keyof PipelineEventMap>(event: K, listener: (...args: PipelineEventMap[K]) => void): () => void {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return () => this.#emitter.off(event, listener as (...args: unknown[]) => void);
  }

  emit<K extends keyof PipelineEventMap>(event: K, ...args: PipelineEventMap[K]): void {
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (error) {
        this.logger.error({ err: error, event }, 'pipeline observer failed');
      }
    }
  }
}
