import { anthropicSettings } from './anthropic/settings.js';
import { groqSettings } from './groq/settings.js';
import { openaiSettings } from './openai/settings.js';

/**
 * Every provider's env slice, in the default fallback order: what the config schema is
 * built from. It is kept apart from the plugin list (./index.ts) because the config may
 * import only zod-only leaves, never provider code; index.ts checks the two lists agree.
 */
export const PROVIDER_SETTINGS = [anthropicSettings, openaiSettings, groqSettings] as const;
