import type { Logger } from '../observability/logger.js';
import type { TransportRegistry } from '../turn/transports.js';
import type { Channel, ChannelContext, ChannelFactory, ChannelSeams } from './channel.js';
import { slackChannels } from './slack/slack-factory.js';
import { twilioChannels } from './twilio/twilio-factory.js';
import { webChannels } from './web/web-channel.js';
import { whatsAppCloudChannels } from './whatsapp-cloud/whatsapp-cloud-factory.js';
import { whatsAppWebChannels } from './whatsapp-web/whatsapp-web-factory.js';

/** Every channel there is. A new channel: its own folder with a factory, and one line here. */
export const CHANNEL_FACTORIES: readonly ChannelFactory[] = [webChannels, slackChannels, twilioChannels, whatsAppCloudChannels, whatsAppWebChannels];

/** The channels this deployment runs. */
export interface MountedChannels {
  readonly list: readonly Channel[];
  /** A mounted channel by name (e.g. 'whatsapp-web' for its pairing state). */
  get(name: string): Channel | undefined;
  close(): Promise<void>;
}

/**
 * Builds every configured channel, mounts it with the one context, and registers its
 * transport, so turns, confirmations and follow-ups can reach people on it.
 */
export async function mountChannels(
  factories: readonly ChannelFactory[],
  context: ChannelContext,
  transports: TransportRegistry,
  setup: { logger: Logger; seams: ChannelSeams },
): Promise<MountedChannels> {
  const list: Channel[] = [];
  for (const factory of factories) {
    for (const channel of await factory(context.config, setup)) {
      await channel.mount(context);
      transports.register(channel.transport);
      list.push(channel);
    }
  }
  const external = list.filter((channel) => channel.name !== 'web').map((channel) => channel.name);
  if (external.length > 0) setup.logger.info({ channels: external }, 'channels mounted');
  return {
    list,
    get: (name) => list.find((channel) => channel.name === name),
    async close() {
      await Promise.allSettled(list.map((channel) => channel.stop()));
    },
  };
}
