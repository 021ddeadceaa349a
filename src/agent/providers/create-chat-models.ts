import { configuredProviders, providerKey, type Config, type ProviderName } from '../../config/config.js';
import type { ChatModel } from '../chat-model.js';
import { AnthropicChatModel } from './anthropic-model.js';
import { GroqChatModel } from './groq-model.js';
import { OpenAIChatModel } from './openai-model.js';

/** One model per configured provider, in fallback order. */
export function createChatModels(config: Config): ChatModel[] {
  return configuredProviders(config).map((name) => createChatModel(config, name));
}

function createChatModel(config: Config, name: ProviderName): ChatModel {
  const key = providerKey(config, name);
  if (key === undefined) throw new Error(`${name} is configured without an API key`);
  const apiKey = key.reveal();
  switch (name) {
    case 'anthropic':
      return new AnthropicChatModel({ apiKey, baseURL: config.ANTHROPIC_BASE_URL, model: config.ANTHROPIC_MODEL });
    case 'openai':
      return new OpenAIChatModel({ apiKey, baseURL: config.OPENAI_BASE_URL, model: config.OPENAI_MODEL });
    case 'groq':
      return new GroqChatModel({ apiKey, baseURL: config.GROQ_BASE_URL, model: config.GROQ_MODEL });
  }
}
