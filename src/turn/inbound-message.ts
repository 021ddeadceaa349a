import { z } from 'zod';

/**
 * The one shape every channel turns its input into. Everything after a channel
 * hands this over is channel-agnostic.
 */
export const inboundMessageSchema = z.object({
  channel: z.string().min(1).max(32),
  /** Who is talking, in the channel's own terms (phone number, Slack team:user, web visitor id). */
  externalUserId: z.string().min(1).max(256),
  /** A sub-conversation inside that identity, e.g. a Slack thread. */
  threadKey: z.string().max(256).optional(),
  /** Set by channels that resolve the conversation themselves (the web channel, by resume token). */
  conversationId: z.uuid().optional(),
  /** The channel's id for this message: a repeat of it is never answered twice. */
  externalMessageId: z.string().min(1).max(256).optional(),
  text: z.string(),
});

export type InboundMessage = z.infer<typeof inboundMessageSchema>;
