import type { AnswerOptions, ConfirmationDecision } from '../turn/confirmations.js';
import { SwitchboardError } from '../errors/index.js';
import type { ConversationIdentity, ConversationRecords } from '../store/conversations.js';
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
  /** With the workspace the message was routed to: only that workspace's conversation is answered for. */
  identity: ConversationIdentity,
  body: string,
): Promise<boolean> {
  if (!confirmations || !textDecision(body)) return false;
  const conversation = await conversations.findConversation(identity);
  if (!conversation) return false;
  return (await answerLatestByText(confirmations, conversation.id, body)) !== undefined;
}

/**
 * A YES or NO for a known conversation (the web widget's): answers its newest pending
 * confirmation and returns the answer, or undefined when the text is no YES / NO or
 * nothing is waiting (the text is then an ordinary message).
 */
export async function answerLatestByText(
  confirmations: ConfirmationAnswerer,
  conversationId: string,
  body: string,
  options?: AnswerOptions,
): Promise<Awaited<ReturnType<ConfirmationAnswerer['answer']>> | undefined> {
  const decision = textDecision(body);
  if (!decision) return undefined;
  try {
    return await confirmations.answer(conversationId, 'latest', decision, options);
  } catch (error) {
    if (error instanceof SwitchboardError && error.code === 'not_found') return undefined;
    throw error;
  }
}
