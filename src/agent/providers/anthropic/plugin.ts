import { defineChatModelPlugin } from '../chat-model-plugin.js';
import { anthropicSettings } from './settings.js';

export const anthropic = defineChatModelPlugin({
  settings: anthropicSettings,
  load: async (connection) => {
    const { AnthropicChatModel } = await import('./anthropic-model.js');
    return new AnthropicChatModel(connection);
  },
});
