import type { ConversationRecords } from '../store/conversations.js';

/**
 * WhatsApp's customer-service window: a business may send free-form messages to a person for
 * 24 hours after the person's last message; after that only an approved template is delivered
 * (Meta error 131047, Twilio 63016). Applies to the Business API transports (Cloud, Twilio), not
 * to whatsapp-web.js, which drives an ordinary WhatsApp account.
 */
export const CUSTOMER_SERVICE_WINDOW_MS = 24 * 3600_000;

export const OUTSIDE_WINDOW_REASON = 'undeliverable: outside_24h_window';

/** Whether the person wrote within the last 24 hours (from their last stored message). */
export async function insideCustomerServiceWindow(conversations: ConversationRecords, conversationId: string, now: Date): Promise<boolean> {
  const lastInbound = await conversations.lastInboundAt(conversationId);
  return lastInbound !== undefined && now.getTime() - lastInbound.getTime() < CUSTOMER_SERVICE_WINDOW_MS;
}

/** A template's body parameter has a length limit: the text, cut on a word with an ellipsis. */
export function templateParameter(text: string, limit = 1024): string {
  if (text.length <= limit) return text;
  const cut = text.slice(0, limit - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > limit / 2 ? cut.slice(0, space) : cut}…`;
}
