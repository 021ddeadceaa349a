import { z } from 'zod';
import { Secret } from './secret.js';

export const PROVIDER_NAMES = ['anthropic', 'openai', 'groq'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

const emptyAsUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
const optionalUrl = z.preprocess(emptyAsUndefined, z.url().optional());
const optionalSecret = z.preprocess(
  emptyAsUndefined,
  z.string().optional().transform((value) => (value === undefined ? undefined : new Secret(value))),
);
const integer = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(emptyAsUndefined, z.coerce.number().int().min(min).max(max).default(fallback));

const providerList = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const names = value.split(',').map((name) => name.trim().toLowerCase()).filter(Boolean);
      for (const name of names) {
        if (!(PROVIDER_NAMES as readonly string[]).includes(name)) {
          ctx.addIssue({ code: 'custom', message: `unknown provider "${name}" (expected ${PROVIDER_NAMES.join(', ')})` });
          return z.NEVER;
        }
      }
      return [...new Set(names)] as ProviderName[];
    }),
);

const DEFAULT_SYSTEM_PROMPT =
  'You are Switchboard, a helpful assistant. Answer concisely. Use the tools you are given when they help the person; never invent links or prices.';

/** Every setting Switchboard reads, from the environment, in one schema. `.env.example` documents each. */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: integer(3000, 0, 65535),
  HOST: z.string().default('0.0.0.0'),
  PUBLIC_URL: optionalUrl,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: optionalSecret,
  DATA_DIR: z.string().default('./data'),
  REDIS_URL: optionalSecret,
  LLM_PROVIDERS: providerList,
  ANTHROPIC_API_KEY: optionalSecret,
  ANTHROPIC_BASE_URL: optionalUrl,
  ANTHROPIC_MODEL: z.string().default('claude-sonnet-4-5'),
  OPENAI_API_KEY: optionalSecret,
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_MODEL: z.string().default('gpt-4o-mini'),
  GROQ_API_KEY: optionalSecret,
  GROQ_BASE_URL: optionalUrl,
  GROQ_MODEL: z.string().default('llama-3.3-70b-versatile'),
  SYSTEM_PROMPT: z.string().default(DEFAULT_SYSTEM_PROMPT),
  MAX_TOOL_STEPS: integer(6, 1, 50),
  MAX_MESSAGE_CHARS: integer(4000, 1, 100_000),
  TOOL_TIMEOUT_MS: integer(15_000, 100, 600_000),
  HISTORY_CHAR_BUDGET: integer(24_000, 1000, 2_000_000),
  MAX_OUTPUT_TOKENS: integer(1024, 16, 64_000),
  FALLBACK_REPLY: z
    .string()
    .min(1)
    .default("Sorry, I can't answer right now. Your message is saved and someone will follow up."),
  STRIPE_SECRET_KEY: optionalSecret,
  STRIPE_API_URL: optionalUrl,
  CHECKOUT_SUCCESS_URL: optionalUrl,
  CHECKOUT_CANCEL_URL: optionalUrl,
  CHECKOUT_MAX_AMOUNT: z.preprocess(emptyAsUndefined, z.coerce.number().positive().default(10_000)),
  ADMIN_TOKEN: optionalSecret,
  SHUTDOWN_TIMEOUT_MS: integer(15_000, 0, 600_000),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment once. A bad value throws a ConfigError whose message is
 * one line naming the variable, never echoing its value (it may be a secret).
 */
export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The providers to try, in order: LLM_PROVIDERS if set, else every configured one in the default order. */
export function configuredProviders(config: Config): ProviderName[] {
  const hasKey = (name: ProviderName) => providerKey(config, name) !== undefined;
  return (config.LLM_PROVIDERS ?? [...PROVIDER_NAMES]).filter(hasKey);
}

export function providerKey(config: Config, name: ProviderName): Secret | undefined {
  switch (name) {
    case 'anthropic':
      return config.ANTHROPIC_API_KEY;
    case 'openai':
      return config.OPENAI_API_KEY;
    case 'groq':
      return config.GROQ_API_KEY;
  }
}
