import type { AnswerOptions, ConfirmationDecision, ConfirmationStates } from '../turn/confirmations.js';

/** The part of the ConfirmationService (src/turn/confirmations.ts) a channel needs to pass on the person's answer. */
export interface ConfirmationAnswerer {
  answer(
    conversationId: string,
    confirmationId: string | 'latest',
    decision: ConfirmationDecision,
    options?: AnswerOptions,
  ): Promise<{ confirmationId: string; status: string; alreadyAnswered: boolean }>;
  /** What a person coming back is shown again: pending questions, and the outcome of those their client still shows as waiting. */
  statesFor(conversationId: string, shownIds: readonly string[]): Promise<ConfirmationStates>;
}
