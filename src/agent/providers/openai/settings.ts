import { z } from 'zod';
import { optionalSecret, optionalUrl } from '../../../config/env-fields.js';
import { defineProviderSettings } from '../../../config/provider-settings.js';

/** OpenAI's slice of the environment (zod only: the config reads it without loading the SDK). */
export const openaiSettings = defineProviderSettings({
  name: 'openai',
  env: {
    OPENAI_API_KEY: optionalSecret,
    OPENAI_BASE_URL: optionalUrl,
    OPENAI_MODEL: z.string().default('gpt-4o-mini'),
  },
  variables: { apiKey: 'OPENAI_API_KEY', baseUrl: 'OPENAI_BASE_URL' },
  keyPrefixes: ['sk-'],
  connection: (env) => ({ apiKey: env.OPENAI_API_KEY, baseURL: env.OPENAI_BASE_URL, model: env.OPENAI_MODEL }),
});
