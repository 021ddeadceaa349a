import type { Config } from '../../config/config.js';
import type { ProviderSettings } from '../../config/provider-settings.js';
import type { Secret } from '../../config/secret.js';
import { ConfigError } from '../../errors/index.js';
import type { ChatModel } from '../chat-model.js';

/** What a provider's model is built from, with the key revealed for its SDK. */
export interface ModelConnection {
  apiKey: string;
  baseURL: string | undefined;
  model: string;
}

/**
 * One LLM provider as the rest of Switchboard sees it. Each provider folder exports one;
 * ./index.ts lists them. Shared code iterates over that list and never names a provider.
 */
export interface ChatModelPlugin<Name extends string = string> {
  readonly name: Name;
  readonly settings: ProviderSettings<Name>;
  /** How this provider's API keys begin: anything shaped like one is scrubbed from error text. */
  readonly keyPrefixes: readonly string[];
  apiKey(config: Config): Secret | undefined;
  model(config: Config): string;
  /** Loads the provider's module, and with it its SDK (megabytes of resident memory), only now. */
  create(config: Config): Promise<ChatModel>;
}

export function defineChatModelPlugin<const Name extends string>(spec: {
  settings: ProviderSettings<Name>;
  /** A lazy `import()` inside, so a provider outside the chain never loads its SDK. */
  load(connection: ModelConnection): Promise<ChatModel>;
}): ChatModelPlugin<Name> {
  const { settings } = spec;
  return {
    name: settings.name,
    settings,
    keyPrefixes: settings.keyPrefixes,
    apiKey: (config) => settings.connection(config).apiKey,
    model: (config) => settings.connection(config).model,
    async create(config) {
      const { apiKey, baseURL, model } = settings.connection(config);
      if (apiKey === undefined) throw new ConfigError(`${settings.name} is configured without an API key (${settings.variables.apiKey})`);
      return spec.load({ apiKey: apiKey.reveal(), baseURL, model });
    },
  };
}
