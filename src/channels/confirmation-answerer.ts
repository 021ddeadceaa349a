import type { ConfirmationDecision } from '../turn/confirmations.js';

/** The part of the ConfirmationService (src/confirmations) a channel needs to pass on the person's answer. */
export interface ConfirmationAnswerer {
  answer(conversationId: string, confirmationId: string | 'latest', decision: ConfirmationDecision): Promise<{ status: string; alreadyAnswered: boolean }>;
}
