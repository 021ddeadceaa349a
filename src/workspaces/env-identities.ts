import type { Config } from '../config/config.js';

/**
 * The receiving identities the environment configures: they belong to the default workspace,
 * which is the deployment as configured by environment. Twilio numbers are kept without the
 * `whatsapp:` prefix, as the Twilio channel routes by the bare `To` number.
 */
export function envIdentitiesFrom(config: Config): Map<string, string[]> {
  const identities = new Map<string, string[]>();
  const bare = (address: string) => address.replace(/^whatsapp:/, '');
  if (config.TWILIO_SMS_FROM) identities.set('sms', [bare(config.TWILIO_SMS_FROM)]);
  if (config.TWILIO_WHATSAPP_FROM) identities.set('whatsapp', [bare(config.TWILIO_WHATSAPP_FROM)]);
  if (config.WHATSAPP_PHONE_NUMBER_ID) identities.set('whatsapp-cloud', [config.WHATSAPP_PHONE_NUMBER_ID]);
  return identities;
}
