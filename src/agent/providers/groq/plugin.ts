import { defineChatModelPlugin } from '../chat-model-plugin.js';
import { groqSettings } from './settings.js';

export const groq = defineChatModelPlugin({
  settings: groqSettings,
  load: async (connection) => {
    const { GroqChatModel } = await import('./groq-model.js');
    return new GroqChatModel(connection);
  },
});
