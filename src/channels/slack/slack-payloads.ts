import { z } from 'zod';
import { storableString } from '../../store/storable-text.js';

/**
 * The parts of Slack's payloads the channel reads, validated at the boundary
 * (Events API `event_callback` inner events and the slash-command form body). Text that
 * reaches the database is made storable here (store/storable-text.ts).
 */

/** `app_mention` (channels) and `message` with channel_type `im` (direct messages). */
export const slackMessageEventSchema = z.object({
  type: z.enum(['app_mention', 'message']),
  user: storableString({ min: 1, max: 64 }).optional(),
  bot_id: z.string().optional(),
  subtype: z.string().optional(),
  text: storableString().default(''),
  channel: storableString({ min: 1, max: 64 }),
  channel_type: z.string().optional(),
  ts: storableString({ min: 1, max: 64 }),
  thread_ts: storableString({ max: 64 }).optional(),
});
export type SlackMessageEvent = z.infer<typeof slackMessageEventSchema>;

export const slackCommandSchema = z.object({
  command: z.string().min(1),
  text: storableString().default(''),
  team_id: storableString({ min: 1, max: 64 }),
  user_id: storableString({ min: 1, max: 64 }),
  channel_id: storableString({ min: 1, max: 64 }),
  response_url: z.url(),
  trigger_id: storableString({ min: 1, max: 128 }),
});
export type SlackCommand = z.infer<typeof slackCommandSchema>;

/**
 * Who is talking and where, encoded into the conversation identity so any process
 * can deliver the reply from the conversation row alone:
 * externalUserId `TEAM:USER`, threadKey `CHANNEL` or `CHANNEL:THREAD_TS`.
 */
export function slackIdentity(teamId: string, userId: string, channel: string, threadTs?: string) {
  return { externalUserId: `${teamId}:${userId}`, threadKey: threadTs ? `${channel}:${threadTs}` : channel };
}

export function slackDestination(threadKey: string): { channel: string; threadTs: string | undefined } {
  const [channel, threadTs] = threadKey.split(':', 2);
  return { channel: channel ?? '', threadTs: threadTs || undefined };
}
