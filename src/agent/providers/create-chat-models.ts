import { configuredProviders, type Config } from '../../config/config.js';
import type { ChatModel } from '../chat-model.js';
import { pluginFor } from './index.js';

/**
 * One model per configured provider, in fallback order. Each plugin loads its provider's
 * module, and with it the SDK, only when that provider is in the chain.
 */
export async function createChatModels(config: Config): Promise<ChatModel[]> {
  return Promise.all(
    configuredProviders(config).map((name) => {
      const plugin = pluginFor(name);
      // configuredProviders only yields names from the settings list, which index.ts keeps equal to the plugin list.
      if (!plugin) throw new Error(`no provider plugin named ${name}`);
      return plugin.create(config);
    }),
  );
}
