import type { FinishedReply } from '../turn/reply-transport.js';

/**
 * The text a plain-text channel (Slack, SMS, WhatsApp) sends for a reply: an operator's reply
 * carries their name, so the person knows a human is writing; the web widget shows it itself.
 */
export function signedText(reply: Pick<FinishedReply, 'text' | 'author' | 'operatorName'>): string {
  return reply.author === 'operator' && reply.operatorName ? `${reply.operatorName}: ${reply.text}` : reply.text;
}
