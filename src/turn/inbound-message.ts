import { z } from 'zod';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import { storableString } from '../store/storable-text.js';

export { DEFAULT_WORKSPACE_ID };

/**
 * The one shape every channel turns its input into. Everything after a channel
 * hands this over is channel-agnostic.
 */
export const inboundMessageSchema = z.object({
  /** The business this message belongs to, decided by the channel from its own identity (never the sender's words). */
  workspaceId: z.string().min(1).max(64).default(DEFAULT_WORKSPACE_ID),
  channel: storableString({ min: 1, max: 32 }),
  /** Who is talking, in the channel's own terms (phone number, Slack team:user, web visitor id). */
  externalUserId: storableString({ min: 1, max: 256 }),
  /** A sub-conversation inside that identity, e.g. a Slack thread. */
  threadKey: storableString({ max: 256 }).optional(),
  /** Set by channels that resolve the conversation themselves (the web channel, by resume token). */
  conversationId: z.uuid().optional(),
  /** The channel's id for this message: a repeat of it is never answered twice. */
  externalMessageId: storableString({ min: 1, max: 256 }).optional(),
  /** NUL and lone surrogates are cleaned here, as everywhere text reaches the database (store/storable-text.ts). */
  text: storableString(),
});

/** What a channel hands over (`workspaceId` may be left out: the default workspace). */
export type InboundMessage = z.input<typeof inboundMessageSchema>;
