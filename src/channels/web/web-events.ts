import { z } from 'zod';
import type { FinishedReply } from '../../conversation/reply-transport.js';

/** The socket.io contract of the web channel (documented in the README). */

export const clientMessageSchema = z.object({
  text: z.string({ error: 'text must be a string' }),
  clientMessageId: z
    .string({ error: 'clientMessageId must be a string' })
    .min(1, 'clientMessageId must not be empty')
    .max(128, 'clientMessageId must be at most 128 characters'),
});

export type MessageAck =
  | { ok: true; messageId: string; duplicate?: true }
  | { ok: false; error: { code: string; message: string } };

export interface ServerToClientEvents {
  session: (payload: { conversationId: string; token: string }) => void;
  'reply.delta': (payload: { messageId: string; delta: string }) => void;
  'reply.discard': (payload: { messageId: string }) => void;
  'reply.done': (payload: FinishedReply) => void;
  'reply.error': (payload: { messageId: string; code: string; message: string }) => void;
}

export interface ClientToServerEvents {
  message: (payload: unknown, ack?: (response: MessageAck) => void) => void;
}

export interface SocketData {
  conversationId: string;
  tokenHash: string;
  /** False until the first message: idle visitors never write a row. */
  persisted: boolean;
}

export function conversationRoom(conversationId: string): string {
  return `conversation:${conversationId}`;
}
