import type { ChannelFactory } from '../channel.js';
import { rotatingSecrets } from '../../config/secret.js';

/** WhatsApp through Meta's Cloud API, when its phone number id, access token, app secret and verify token are all set. */
export const whatsAppCloudChannels: ChannelFactory = async (config) => {
  const { WHATSAPP_PHONE_NUMBER_ID: phoneNumberId, WHATSAPP_ACCESS_TOKEN: token, META_APP_SECRET: appSecret, WHATSAPP_VERIFY_TOKEN: verifyToken } = config;
  if (!phoneNumberId || !token || !appSecret || !verifyToken) return [];
  const [{ GraphApiClient }, { WhatsAppCloudChannel }] = await Promise.all([import('./graph-api-client.js'), import('./whatsapp-cloud-channel.js')]);
  // One client per phone number id and access token: the deployment's, and each workspace's own.
  const clients = new Map<string, InstanceType<typeof GraphApiClient>>();
  const clientFor = (id: string, accessToken: string) => {
    const key = `${id}\u0000${accessToken}`;
    let client = clients.get(key);
    if (!client) {
      client = new GraphApiClient({ baseUrl: config.WHATSAPP_API_URL, version: config.WHATSAPP_API_VERSION, phoneNumberId: id, accessToken });
      clients.set(key, client);
    }
    return client;
  };
  return [new WhatsAppCloudChannel({ phoneNumberId, appSecrets: rotatingSecrets(appSecret), verifyToken: verifyToken.reveal(), clientFor })];
};
