import { SwitchboardError } from '../errors/index.js';
import type { ChannelContact, ChannelRecords } from '../store/channel-records.js';

/**
 * A channel's wording for a refused message: the text to send, `null` to say nothing, or
 * undefined when the error is not a refusal and is thrown on (the platform retries, or the
 * request fails).
 */
export type RefusalWording = (error: SwitchboardError) => string | null | undefined;

/** Wording by error code: a string (or a function of the error), `null` for silence; codes not listed are thrown on. */
export function wordingByCode(texts: Partial<Record<string, string | ((error: SwitchboardError) => string) | null>>): RefusalWording {
  return (error) => {
    const wording = texts[error.code];
    return typeof wording === 'function' ? wording(error) : wording;
  };
}

/**
 * The refusal policy shared by the channels that answer in a message (Slack, SMS,
 * WhatsApp): what to tell a person whose message the intake refused. A rate-limit notice
 * goes out once per limit window, whichever process refuses (claimed in `channel_contacts`);
 * the ones after it in the window stay silent. Returns the text to send, or undefined. The
 * claim is the person's in the workspace the message was routed to (`person.workspaceId`): a
 * notice from one business never silences another's.
 */
export async function refusalNotice(
  error: unknown,
  person: ChannelContact,
  records: ChannelRecords,
  wording: RefusalWording,
): Promise<string | undefined> {
  if (!(error instanceof SwitchboardError)) throw error;
  const text = wording(error);
  if (text === undefined) throw error;
  if (text === null) return undefined;
  if (error.code === 'rate_limited') {
    const until = new Date(Date.now() + (error.retryAfterMs ?? 60_000));
    if (!(await records.claimLimitNotice(person, until))) return undefined;
  }
  return text;
}

/** "Please wait N min": whole minutes, at least one. */
export function waitMinutes(error: SwitchboardError): number {
  return Math.max(1, Math.ceil((error.retryAfterMs ?? 60_000) / 60_000));
}

/** The texts SMS and WhatsApp use: short, plain, no markup. */
export const SHORT_MESSAGE_REFUSALS = {
  rate_limited: (error: SwitchboardError) => `Too many messages. Please wait ${waitMinutes(error)} min before writing again.`,
  message_too_long: 'That message is too long. Please send a shorter one.',
};
