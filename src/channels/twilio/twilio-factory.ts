import { ConfigError } from '../../config/config.js';
import type { Channel, ChannelFactory } from '../channel.js';

/** SMS and WhatsApp through Twilio (one channel per configured sender), when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are set. */
export const twilioChannels: ChannelFactory = async (config) => {
  if (!config.TWILIO_ACCOUNT_SID || !config.TWILIO_AUTH_TOKEN) return [];
  if (!config.PUBLIC_URL) throw new ConfigError('Invalid configuration: PUBLIC_URL is required when TWILIO_ACCOUNT_SID is set (webhook signatures are checked against it)');
  if (!config.TWILIO_SMS_FROM && !config.TWILIO_WHATSAPP_FROM) {
    throw new ConfigError('Invalid configuration: TWILIO_SMS_FROM or TWILIO_WHATSAPP_FROM is required when TWILIO_ACCOUNT_SID is set');
  }
  const [{ default: twilio }, { RewritingRequestClient }, { TwilioChannel }] = await Promise.all([
    import('twilio'),
    import('./rewriting-request-client.js'),
    import('./twilio-channel.js'),
  ]);
  // One REST client per account (the deployment's, and each workspace's own), shared by SMS and WhatsApp.
  const clients = new Map<string, ReturnType<typeof twilio>>();
  const clientFor = (accountSid: string, authToken: string) => {
    const key = `${accountSid}\u0000${authToken}`;
    let client = clients.get(key);
    if (!client) {
      client = twilio(accountSid, authToken, {
        httpClient: config.TWILIO_API_URL ? new RewritingRequestClient(config.TWILIO_API_URL) : new twilio.RequestClient({ autoRetry: false }),
      });
      clients.set(key, client);
    }
    return client;
  };
  const shared = { authToken: config.TWILIO_AUTH_TOKEN.reveal(), publicUrl: config.PUBLIC_URL, clientFor };
  const channels: Channel[] = [];
  if (config.TWILIO_SMS_FROM) channels.push(new TwilioChannel({ ...shared, channel: 'sms', from: config.TWILIO_SMS_FROM }));
  if (config.TWILIO_WHATSAPP_FROM) {
    const from = config.TWILIO_WHATSAPP_FROM.startsWith('whatsapp:') ? config.TWILIO_WHATSAPP_FROM : `whatsapp:${config.TWILIO_WHATSAPP_FROM}`;
    channels.push(new TwilioChannel({ ...shared, channel: 'whatsapp', from }));
  }
  return channels;
};
