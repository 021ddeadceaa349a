import { defineChatModelPlugin } from '../chat-model-plugin.js';
import { openaiSettings } from './settings.js';

export const openai = defineChatModelPlugin({
  settings: openaiSettings,
  load: async (connection) => {
    const { OpenAIChatModel } = await import('./openai-model.js');
    return new OpenAIChatModel(connection);
  },
});
