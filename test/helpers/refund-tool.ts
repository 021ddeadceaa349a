import { z } from 'zod';
import { defineTool } from '../../src/tools/tool.js';

/**
 * A sensitive tool (list it in SENSITIVE_TOOLS) for the confirmation tests. `refunds` records
 * when it really runs, so a test can tell "asked" from "done". While `hold()` is in effect a
 * confirmed call stays `running` until `release()`, so a test can watch the console show it
 * running and then finished. The summary carries the request's `note` (tests put personal data
 * and card numbers there to check redaction).
 */
export function createRefundTool() {
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  const refunds: number[] = [];
  const tool = defineTool({
    name: 'issue_refund',
    description: 'Refund an amount to the customer.',
    input: z.object({ amount: z.number().positive(), note: z.string().max(200).optional() }),
    confirmation: { summary: (input) => `Refund ${input.amount} USD to the customer${input.note ? ` (${input.note})` : ''}.` },
    execute: async (input) => {
      await gate;
      refunds.push(input.amount);
      return { refunded: input.amount };
    },
    describeResult: (output) => `Refunded ${output.refunded} USD.`,
  });
  return {
    tool,
    refunds,
    /** Confirmed calls wait in `running` from now until `release()`. */
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release() {
      open();
      gate = undefined;
    },
  };
}
