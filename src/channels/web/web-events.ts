import type { Server } from 'socket.io';
import { z } from 'zod';
import type { FinishedReply } from '../../turn/reply-transport.js';
import type { ConfirmationRequest, ConfirmationResolution, HandoffState } from '../../turn/reply-transport.js';

/** The socket.io contract of the web channel (documented in the README). */

export const clientMessageSchema = z.object({
  text: z.string({ error: 'text must be a string' }),
  clientMessageId: z
    .string({ error: 'clientMessageId must be a string' })
    .min(1, 'clientMessageId must not be empty')
    .max(128, 'clientMessageId must be at most 128 characters'),
});

export const confirmationAnswerSchema = z.object({
  confirmationId: z.uuid({ error: 'confirmationId must be the id from confirmation.request' }),
  decision: z.enum(['confirm', 'decline'], { error: "decision must be 'confirm' or 'decline'" }),
});

/** At most this many ids in the handshake's `auth.confirmations`. */
const MAX_SHOWN_CONFIRMATIONS = 20;

/**
 * `auth.confirmations`: the ids of confirmations the client still shows as waiting (from its
 * own transcript), so that one decided while it was away is resolved on connect. Anything
 * else is ignored: the handshake never fails over it.
 */
export const shownConfirmationsSchema = z.array(z.uuid()).max(MAX_SHOWN_CONFIRMATIONS);

/** `auth.workspaceKey`: the widget's public key (`data-workspace-key`); anything else is no key. */
export const workspaceKeySchema = z.string().min(1).max(128);

/** Why a handshake was refused before any session (`connect_error`'s `err.data.code`): the page's setup, not the network, so clients do not retry. */
export type HandshakeRefusalCode = 'unknown_workspace' | 'origin_not_allowed' | 'workspace_suspended';

export type ConfirmationAck =
  | { ok: true; status: string; alreadyAnswered: boolean }
  | { ok: false; error: { code: string; message: string } };

export type MessageAck =
  | { ok: true; messageId: string; duplicate?: true }
  /** A typed YES / NO answered the newest pending confirmation: no turn, and no reply to wait for (the outcome arrives as one). */
  | { ok: true; confirmation: { confirmationId: string; status: string; alreadyAnswered: boolean } }
  | { ok: false; error: { code: string; message: string; retryAfterMs?: number } };

export interface ServerToClientEvents {
  /**
   * `recoveryOffset` is what socket.io itself appends to replayable events (the client keeps the
   * last one for connection state recovery); clients read only the payload.
   */
  session: (payload: { conversationId: string; token: string }, recoveryOffset?: string) => void;
  'reply.delta': (payload: { messageId: string; delta: string }) => void;
  'reply.discard': (payload: { messageId: string }) => void;
  'reply.done': (payload: FinishedReply) => void;
  'reply.error': (payload: { messageId: string; code: string; message: string }) => void;
  /** A sensitive tool call waits for the person: show `summary` with confirm / decline. */
  'confirmation.request': (payload: ConfirmationRequest) => void;
  /** A confirmation was answered (here or in another tab) or expired: retire its buttons. */
  'confirmation.resolved': (payload: ConfirmationResolution) => void;
  /** The conversation went to a person (`waiting`), one joined (`active`, with their name), or it is back with the agent (`released`). */
  handoff: (payload: HandoffState) => void;
}

export interface ClientToServerEvents {
  message: (payload: unknown, ack?: (response: MessageAck) => void) => void;
  'confirmation.answer': (payload: unknown, ack?: (response: ConfirmationAck) => void) => void;
  /** Not sent by clients: what a packet with too many binary attachments becomes (bounded-parser.ts). */
  'switchboard:too-many-attachments': (attachments: unknown, ack?: (response: MessageAck) => void) => void;
}

export interface SocketData {
  /** The workspace the handshake's widget key (and origin) routed the socket to: every message of it is that workspace's. */
  workspaceId: string;
  conversationId: string;
  tokenHash: string;
  /** False until the first message: idle visitors never write a row. */
  persisted: boolean;
}

export function conversationRoom(conversationId: string): string {
  return `conversation:${conversationId}`;
}

/** The web channel's socket.io server, typed by its event maps. */
export type WebServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
