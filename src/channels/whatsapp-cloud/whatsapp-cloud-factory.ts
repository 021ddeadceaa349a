import type { ChannelFactory } from '../channel.js';

/** WhatsApp through Meta's Cloud API, when its phone number id, access token, app secret and verify token are all set. */
export const whatsAppCloudChannels: ChannelFactory = async (config) => {
  const { WHATSAPP_PHONE_NUMBER_ID: phoneNumberId, WHATSAPP_ACCESS_TOKEN: token, META_APP_SECRET: appSecret, WHATSAPP_VERIFY_TOKEN: verifyToken } = config;
  if (!phoneNumberId || !token || !appSecret || !verifyToken) return [];
  const [{ GraphApiClient }, { WhatsAppCloudChannel }] = await Promise.all([import('./graph-api-client.js'), import('./whatsapp-cloud-channel.js')]);
  const client = new GraphApiClient({ baseUrl: config.WHATSAPP_API_URL, version: config.WHATSAPP_API_VERSION, phoneNumberId, accessToken: token.reveal() });
  return [
    new WhatsAppCloudChannel({
      client,
      phoneNumberId,
      appSecrets: appSecret.reveal().split(',').map((secret) => secret.trim()).filter(Boolean),
      verifyToken: verifyToken.reveal(),
      template: config.WHATSAPP_TEMPLATE_NAME ? { name: config.WHATSAPP_TEMPLATE_NAME, language: config.WHATSAPP_TEMPLATE_LANGUAGE } : undefined,
      optOut: config.WHATSAPP_OPT_OUT_KEYWORDS,
      optIn: config.WHATSAPP_OPT_IN_KEYWORDS,
    }),
  ];
};
