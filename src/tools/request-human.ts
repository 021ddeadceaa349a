import { z } from 'zod';
import { defineTool, type ToolContext } from './tool.js';

export const REQUEST_HUMAN_TOOL = 'request_human';

/** Hands the conversation to a person; the spine implements it (turn/handoffs.ts). */
export interface HumanRequester {
  /** Resolves to the notice the person is given (the turn ends with it). */
  requestHuman(context: ToolContext, input: { reason: string | undefined }): Promise<{ status: 'waiting' | 'active'; notice: string }>;
}

/**
 * The model's way to hand a conversation to a person, decided in code: calling it puts the
 * conversation in `human` mode and ends the turn with the handoff notice, so the agent never
 * "says it is transferring" without anything happening, and never talks over the operator.
 */
export function requestHumanTool(requester: HumanRequester) {
  return defineTool({
    name: REQUEST_HUMAN_TOOL,
    description:
      'Hand this conversation to a person on our team. Call it when the person asks for a human, or when you cannot help ' +
      'them. After the call the team answers; you stop answering this conversation.',
    input: z
      .object({
        reason: z.string().max(500).optional().describe('In a sentence: what the person needs, for the team member who takes over.'),
      })
      .strict(),
    execute: (input, context) => requester.requestHuman(context, { reason: input.reason }),
    endsTurn: (output) => output.notice,
  });
}
