import { z } from 'zod';
import { defineTool } from '../../src/tools/tool.js';

/**
 * A sensitive tool (list it in SENSITIVE_TOOLS) for the channel confirmation tests.
 * `refunds` records when it really runs, so a test can tell "asked" from "done".
 */
export function createRefundTool() {
  const refunds: number[] = [];
  const tool = defineTool({
    name: 'issue_refund',
    description: 'Refund an amount to the customer.',
    input: z.object({ amount: z.number().positive() }),
    confirmation: { summary: (input) => `Refund ${input.amount} USD to the customer.` },
    execute: async (input) => {
      refunds.push(input.amount);
      return { refunded: input.amount };
    },
    describeResult: (output) => `Refunded ${output.refunded} USD.`,
  });
  return { tool, refunds };
}
