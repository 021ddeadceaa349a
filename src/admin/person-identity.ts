import { and, eq, or, type SQL } from 'drizzle-orm';
import { conversations } from '../store/schema.js';
import { maskPhone, redactText } from '../observability/redaction.js';

/**
 * Who a conversation is with, as one person across channels. A channel stores its own user id
 * (`conversations.external_user_id`); the same person is:
 * - on the phone channels, the same number however the channel writes it (SMS `+14155550167`,
 *   Twilio WhatsApp `whatsapp:+14155550167`, WhatsApp Cloud `14155550167`, WhatsApp Web
 *   `14155550167@c.us`);
 * - on Slack, the same `TEAM:USER` in any thread;
 * - on the web, the same visitor id (one per widget session);
 * - elsewhere, the same id on the same channel.
 * The channel names are written here rather than imported: the console does not import channels/.
 */
export type PersonIdentity =
  | { kind: 'phone'; digits: string }
  | { kind: 'slack'; team: string; user: string }
  | { kind: 'web'; visitor: string }
  | { kind: 'other'; channel: string; externalUserId: string };

/** How each phone channel writes a number (E.164 digits without the `+`) as its user id. */
const PHONE_ADDRESSES: Record<string, (digits: string) => string> = {
  sms: (digits) => `+${digits}`,
  whatsapp: (digits) => `whatsapp:+${digits}`,
  'whatsapp-cloud': (digits) => digits,
  'whatsapp-web': (digits) => `${digits}@c.us`,
};

const CHANNEL_NAMES: Record<string, string> = {
  web: 'Web',
  sms: 'SMS',
  whatsapp: 'WhatsApp',
  'whatsapp-cloud': 'WhatsApp',
  'whatsapp-web': 'WhatsApp',
  slack: 'Slack',
};

export const channelName = (channel: string) => CHANNEL_NAMES[channel] ?? channel;

export function personIdentity(channel: string, externalUserId: string): PersonIdentity {
  const address = PHONE_ADDRESSES[channel];
  if (address) {
    const digits = externalUserId.replace(/\D/g, '');
    // Only an id the channel itself would have written counts as that number.
    if (digits.length >= 6 && digits.length <= 15 && address(digits) === externalUserId) return { kind: 'phone', digits };
  }
  if (channel === 'slack') {
    const [team, user, ...rest] = externalUserId.split(':');
    if (team && user && rest.length === 0) return { kind: 'slack', team, user };
  }
  if (channel === 'web' && externalUserId.startsWith('visitor:')) return { kind: 'web', visitor: externalUserId.slice('visitor:'.length) };
  return { kind: 'other', channel, externalUserId };
}

/** The conversations of this person: an index-backed match on `external_user_id` (one per way of writing it). */
export function identityCondition(identity: PersonIdentity): SQL {
  switch (identity.kind) {
    case 'phone':
      return or(
        ...Object.entries(PHONE_ADDRESSES).map(([channel, address]) =>
          and(eq(conversations.externalUserId, address(identity.digits)), eq(conversations.channel, channel)),
        ),
      )!;
    case 'slack':
      return and(eq(conversations.externalUserId, `${identity.team}:${identity.user}`), eq(conversations.channel, 'slack'))!;
    case 'web':
      return and(eq(conversations.externalUserId, `visitor:${identity.visitor}`), eq(conversations.channel, 'web'))!;
    case 'other':
      return and(eq(conversations.externalUserId, identity.externalUserId), eq(conversations.channel, identity.channel))!;
  }
}

const clip = (text: string, max = 40) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/**
 * A person as the console names them in lists, masked as list views are: "Web visitor 3f2a…",
 * "SMS ***67", "WhatsApp ***67", "Slack U024BE7LH". With `across` the channel-neutral name of the
 * person view ("Phone ***67").
 */
export function personLabel(channel: string, externalUserId: string, { across = false } = {}): string {
  const identity = personIdentity(channel, externalUserId);
  switch (identity.kind) {
    case 'phone':
      return `${across ? 'Phone' : channelName(channel)} ${maskPhone(identity.digits)}`;
    case 'slack':
      return `Slack ${clip(redactText(identity.user, 'list'))}`;
    case 'web':
      return `Web visitor ${identity.visitor.slice(0, 4)}…`;
    case 'other':
      return `${channelName(channel)} ${clip(redactText(externalUserId, 'list'))}`;
  }
}
