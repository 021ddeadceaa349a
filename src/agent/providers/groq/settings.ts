import { z } from 'zod';
import { optionalSecret, optionalUrl } from '../../../config/env-fields.js';
import { defineProviderSettings } from '../../../config/provider-settings.js';

/** Groq's slice of the environment (zod only: the config reads it without loading the SDK). */
export const groqSettings = defineProviderSettings({
  name: 'groq',
  env: {
    GROQ_API_KEY: optionalSecret,
    GROQ_BASE_URL: optionalUrl,
    GROQ_MODEL: z.string().default('llama-3.3-70b-versatile'),
  },
  variables: { apiKey: 'GROQ_API_KEY', baseUrl: 'GROQ_BASE_URL' },
  keyPrefixes: ['gsk_'],
  connection: (env) => ({ apiKey: env.GROQ_API_KEY, baseURL: env.GROQ_BASE_URL, model: env.GROQ_MODEL }),
});
