import { z } from 'zod';
import { optionalSecret, optionalUrl } from '../../../config/env-fields.js';
import { defineProviderSettings } from '../../../config/provider-settings.js';

/** Anthropic's slice of the environment (zod only: the config reads it without loading the SDK). */
export const anthropicSettings = defineProviderSettings({
  name: 'anthropic',
  env: {
    ANTHROPIC_API_KEY: optionalSecret,
    ANTHROPIC_BASE_URL: optionalUrl,
    ANTHROPIC_MODEL: z.string().default('claude-sonnet-5-5'),
  },
  variables: { apiKey: 'ANTHROPIC_API_KEY', baseUrl: 'ANTHROPIC_BASE_URL' },
  keyPrefixes: ['sk-ant-'],
  connection: (env) => ({ apiKey: env.ANTHROPIC_API_KEY, baseURL: env.ANTHROPIC_BASE_URL, model: env.ANTHROPIC_MODEL }),
});
