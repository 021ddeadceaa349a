import { z } from 'zod';
import { defineTool } from '../../src/tools/tool.js';

/** A harmless tool for the console tests: every order has shipped. */
export const orderStatusTool = defineTool({
  name: 'get_order_status',
  description: 'Order status by id.',
  input: z.object({ orderId: z.string() }).strict(),
  async execute({ orderId }) {
    return { orderId, status: 'shipped' };
  },
});
