import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import { createCheckoutLinkTool, createStripeClient } from './create-checkout-link.js';
import type { AnyTool } from './tool.js';

/** The integrations that are configured become tools; an unconfigured one is not offered to the model. */
export function buildTools(config: Config, logger: Logger): AnyTool[] {
  const tools: AnyTool[] = [];
  if (config.STRIPE_SECRET_KEY) {
    const publicUrl = config.PUBLIC_URL ?? `http://localhost:${config.PORT}`;
    tools.push(
      createCheckoutLinkTool({
        stripe: createStripeClient({ secretKey: config.STRIPE_SECRET_KEY.reveal(), apiUrl: config.STRIPE_API_URL }),
        successUrl: config.CHECKOUT_SUCCESS_URL ?? `${publicUrl}/?checkout=success`,
        cancelUrl: config.CHECKOUT_CANCEL_URL ?? `${publicUrl}/?checkout=cancelled`,
        maxAmount: config.CHECKOUT_MAX_AMOUNT,
      }) as AnyTool,
    );
  }
  logger.debug({ tools: tools.map((tool) => tool.name) }, 'tools offered to the model');
  return tools;
}
