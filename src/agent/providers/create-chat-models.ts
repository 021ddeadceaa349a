import { configuredProviders, providerKey, type Config, type ProviderName } from '../../config/config.js';
import type { ChatModel } from '../chat-model.js';

/**
 * One model per configured provider, in fallback order. Each provider's module, and with
 * it its SDK (megabytes of resident memory each), is loaded only when that provider is in
 * the chain.
 */
export async function createChatModels(config: Config): Promise<ChatModel[]> {
  return Promise.all(configuredProviders(config).map((name) => createChatModel(config, name)));
}

async function createChatModel(config: Config, name: ProviderName): Promise<ChatModel> {
  const key = providerKey(config, name);
  if (key === undefined) throw new Error(`${name} is configured without an API key`);
  const apiKey = key.reveal();
  switch (name) {
    case 'anthropic': {
      const { AnthropicChatModel } = await import('./anthropic-model.js');
      return new AnthropicChatModel({ apiKey, baseURL: config.ANTHROPIC_BASE_URL, model: config.ANTHROPIC_MODEL });
    }
    case 'openai': {
      const { OpenAIChatModel } = await import('./openai-model.js');
      return new OpenAIChatModel({ apiKey, baseURL: config.OPENAI_BASE_URL, model: config.OPENAI_MODEL });
    }
    case 'groq': {
      const { GroqChatModel } = await import('./groq-model.js');
      return new GroqChatModel({ apiKey, baseURL: config.GROQ_BASE_URL, model: config.GROQ_MODEL });
    }
  }
}
