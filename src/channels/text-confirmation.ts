import type { ConfirmationDecision } from '../turn/confirmations.js';
import { SwitchboardError } from '../errors/index.js';
import type { ConversationRecords } from '../store/conversations.js';
import type { ConfirmationAnswerer } from './confirmation-answerer.js';

/** A whole-message YES or NO (any case, trailing punctuation ignored). */
export function textDecision(body: string): ConfirmationDecision | undefined {
  const word = body.trim().replace(/[.!]+$/, '').toUpperCase();
  if (word === 'YES') return 'confirm';
  if (word === 'NO') return 'decline';
  return undefined;
}

/**
 * For text-only channels (SMS, WhatsApp): a YES or NO answers the conversation's
 * newest pending confirmation. Returns false when there is none, so the text goes
 * to the agent as an ordinary message. The outcome reaches the person as a reply.
 */
export async function answerConfirmationByText(
  confirmations: ConfirmationAnswerer | undefined,
  conversations: Pick<ConversationRecords, 'findConversation'>,
  identity: { channel: string; externalUserId: string },
  body: string,
): Promise<boolean> {
  const decision = textDecision(body);
  if (!confirmations || !decision) return false;
  const conversation = await conversations.findConversation(identity);
  if (!conversation) return false;
  try {
    await confirmations.answer(conversation.id, 'latest', decision);
    return true;
  } catch (error) {
    if (error instanceof SwitchboardError && error.code === 'not_found') return false;
    throw error;
  }
}
