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
}

export interface PipelineEventMap {
  'message.accepted': [{ message: Message; conversation: Conversation }];
  'turn.finished': [{ message: Message; conversation: Conversation; outcome: TurnOutcome }];
  'tool-call.finished': [ToolCallEvent];
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
