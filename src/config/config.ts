import { z } from 'zod';
import { PROVIDER_SETTINGS } from '../agent/providers/settings.js';
import { ConfigError } from '../errors/config-error.js';
import { credentialModesSetting } from './credential-modes.js';
import { booleanFlag, emptyAsUndefined, integer, optionalSecret, optionalString, optionalUrl } from './env-fields.js';
import { modelPricesSetting, usdLimit } from './cost-settings.js';
import { Secret } from './secret.js';
import { ssoConfigProblem, ssoEnv } from './sso-settings.js';
import {
  currencyAmountsSetting,
  currencySetting,
  nameListSetting,
  timeZoneSetting,
  toolPolicySetting,
  workingDaysSetting,
  workingHoursSetting,
} from './tool-settings.js';

export { ConfigError };

/** Every provider's name, in the default fallback order (from each provider's settings slice). */
export const PROVIDER_NAMES = PROVIDER_SETTINGS.map((settings) => settings.name);
export type ProviderName = (typeof PROVIDER_SETTINGS)[number]['name'];

type UnionToIntersection<Union> = (Union extends unknown ? (value: Union) => void : never) extends (value: infer Both) => void ? Both : never;
type ProviderEnv = UnionToIntersection<(typeof PROVIDER_SETTINGS)[number]['env']>;
/** The variables of every provider (ANTHROPIC_API_KEY, OPENAI_MODEL, ...), declared in each provider's folder. */
const providerEnv = Object.assign({}, ...PROVIDER_SETTINGS.map((settings) => settings.env)) as ProviderEnv;

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

/** A text told to people, with a good default (empty: the default). */
const notice = (fallback: string) => z.preprocess(emptyAsUndefined, z.string().max(1000).default(fallback));

/** A JSON object of channel → text, e.g. `{"sms":"..."}`. */
const channelTexts = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return {};
      try {
        const parsed = z.record(z.string().min(1).max(32), z.string().min(1)).safeParse(JSON.parse(value));
        if (parsed.success) return parsed.data;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'expected a JSON object of channel name to text' });
      return z.NEVER;
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
  /** Unset: pretty lines and a start-up banner when stdout is a terminal, JSON lines otherwise (pino's convention). */
  LOG_FORMAT: z.preprocess(emptyAsUndefined, z.enum(['pretty', 'json']).optional()),
  DATABASE_URL: optionalSecret,
  DATA_DIR: z.string().default('./data'),
  REDIS_URL: optionalSecret,
  LLM_PROVIDERS: providerList,
  ...providerEnv,
  SYSTEM_PROMPT: z.string().default(DEFAULT_SYSTEM_PROMPT),
  MAX_TOOL_STEPS: integer(6, 1, 50),
  MAX_MESSAGE_CHARS: integer(4000, 1, 100_000),
  TOOL_TIMEOUT_MS: integer(15_000, 100, 600_000),
  HISTORY_CHAR_BUDGET: integer(24_000, 1000, 2_000_000),
  MAX_OUTPUT_TOKENS: integer(1024, 16, 64_000),
  STREAM_COALESCE_MS: integer(40, 0, 1000),
  FALLBACK_REPLY: z
    .string()
    .min(1)
    .default("Sorry, I can't answer right now. Your message is saved and someone will follow up."),
  STRIPE_SECRET_KEY: optionalSecret,
  STRIPE_API_URL: optionalUrl,
  // Signed Stripe webhooks (src/payments): one secret, or the old and the new one, comma-separated, while rotating.
  STRIPE_WEBHOOK_SECRET: optionalSecret,
  PAYMENT_NOTICE_PAID: notice('Payment received: {description}, {amount}. Thank you!'),
  PAYMENT_NOTICE_PROCESSING: notice("Thank you! Your payment for {description} ({amount}) is being processed; I'll let you know once it is confirmed."),
  PAYMENT_NOTICE_FAILED: notice('The payment for {description} ({amount}) did not go through. You can try again, or ask me for a new link.'),
  PAYMENT_NOTICE_EXPIRED: notice('The payment link for {description} expired; ask me for a new one if you still want it.'),
  PAYMENT_NOTICE_SUBSCRIPTION_STARTED: notice('Your subscription has started. Thank you!'),
  PAYMENT_NOTICE_SUBSCRIPTION_ENDED: notice('Your subscription has ended.'),
  PAYMENT_NOTICE_INVOICE_FAILED: notice('A payment for your subscription ({amount}) did not go through; please check your payment method.'),
  CHECKOUT_SUCCESS_URL: optionalUrl,
  CHECKOUT_CANCEL_URL: optionalUrl,
  CHECKOUT_MAX_AMOUNT: z.preprocess(emptyAsUndefined, z.coerce.number().positive().default(10_000)),
  // Tools (src/tools): integrations, per-channel policy and confirmation of sensitive calls.
  CHECKOUT_CONFIRM_ABOVE: z.preprocess(emptyAsUndefined, z.coerce.number().min(0).default(500)),
  CHECKOUT_CONFIRM_CURRENCY: currencySetting('usd'),
  CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: currencyAmountsSetting,
  GOOGLE_SERVICE_ACCOUNT_JSON: optionalSecret,
  GOOGLE_DELEGATED_USER: z.preprocess(emptyAsUndefined, z.email().optional()),
  GOOGLE_CLIENT_ID: optionalString,
  GOOGLE_CLIENT_SECRET: optionalSecret,
  GOOGLE_REFRESH_TOKEN: optionalSecret,
  GOOGLE_TOKEN_URL: optionalUrl,
  GOOGLE_API_URL: optionalUrl,
  GOOGLE_CALENDAR_ID: z.preprocess(emptyAsUndefined, z.string().default('primary')),
  WORKING_HOURS: workingHoursSetting,
  WORKING_DAYS: workingDaysSetting,
  WORKING_TIME_ZONE: timeZoneSetting('UTC'),
  DRIVE_ALLOWED_DOMAINS: nameListSetting(''),
  DRIVE_OUTSIDE_SHARING: z.preprocess(emptyAsUndefined, z.enum(['read', 'off']).default('read')),
  HUBSPOT_ACCESS_TOKEN: optionalSecret,
  HUBSPOT_API_URL: optionalUrl,
  TOOL_CHANNEL_POLICY: toolPolicySetting,
  SENSITIVE_TOOLS: nameListSetting('book_meeting,share_drive_file,create_checkout_link'),
  CONFIRMATION_TTL_S: integer(900, 10, 7 * 86_400),
  INTEGRATION_TIMEOUT_MS: integer(10_000, 100, 600_000),
  INTEGRATION_RETRIES: integer(2, 0, 10),
  INTEGRATION_RETRY_BASE_MS: integer(250, 1, 60_000),
  ADMIN_TOKEN: optionalSecret,
  ADMIN_SESSION_TTL_HOURS: integer(12, 1, 24 * 30),
  ADMIN_LOGIN_MAX_ATTEMPTS: integer(5, 1, 1000),
  /** The first-run setup token (unset: a random one per start, printed in the start-up banner); set it when several instances serve /admin. */
  ADMIN_SETUP_TOKEN: z.preprocess(
    emptyAsUndefined,
    z.string().min(16, 'at least 16 characters').max(200).optional().transform((value) => (value === undefined ? undefined : new Secret(value))),
  ),
  // Console sign-in: password login on or off, single sign-on through OIDC (src/config/sso-settings.ts).
  ...ssoEnv,
  SHUTDOWN_TIMEOUT_MS: integer(15_000, 0, 600_000),
  // Channels (src/channels): each is mounted only when its credentials are set.
  SLACK_SIGNING_SECRET: optionalSecret,
  SLACK_BOT_TOKEN: optionalSecret,
  SLACK_API_URL: optionalUrl,
  SLACK_SLASH_COMMAND: z.string().regex(/^\/[a-z0-9_-]{1,31}$/, 'a slash command such as /ask').default('/ask'),
  // One Slack app installed by many Slack teams through OAuth, each bound to a workspace (src/channels/slack/slack-oauth.ts): all three turn it on.
  SLACK_CLIENT_ID: optionalString,
  SLACK_CLIENT_SECRET: optionalSecret,
  /** Signs the OAuth state and the console's short-lived install links. */
  SLACK_STATE_SECRET: optionalSecret,
  /** The bot scopes an install asks for. */
  SLACK_SCOPES: z.preprocess(emptyAsUndefined, nameListSetting('app_mentions:read,chat:write,commands,im:history')),
  TWILIO_ACCOUNT_SID: optionalString,
  TWILIO_AUTH_TOKEN: optionalSecret,
  TWILIO_SMS_FROM: optionalString,
  TWILIO_WHATSAPP_FROM: optionalString,
  TWILIO_API_URL: optionalUrl,
  SMS_HELP_TEXT: z.preprocess(
    emptyAsUndefined,
    z.string().default('Switchboard assistant: text your question and we reply here. Reply STOP to unsubscribe, START to resubscribe.'),
  ),
  // WhatsApp Business Cloud API (Meta), src/channels/whatsapp-cloud: all four set → the channel `whatsapp-cloud`.
  WHATSAPP_PHONE_NUMBER_ID: z.preprocess(emptyAsUndefined, z.string().regex(/^\d{5,30}$/, 'expected the numeric phone number id').optional()),
  WHATSAPP_ACCESS_TOKEN: optionalSecret,
  /** Signs the webhook (X-Hub-Signature-256); the old and the new, comma-separated, while rotating. */
  META_APP_SECRET: optionalSecret,
  WHATSAPP_VERIFY_TOKEN: optionalSecret,
  WHATSAPP_API_URL: z.preprocess(emptyAsUndefined, z.url().default('https://graph.facebook.com')),
  WHATSAPP_API_VERSION: z.preprocess(emptyAsUndefined, z.string().regex(/^v\d+\.\d+$/).default('v21.0')),
  // Outside WhatsApp's 24-hour customer-service window only an approved template is delivered.
  WHATSAPP_TEMPLATE_NAME: optionalString,
  WHATSAPP_TEMPLATE_LANGUAGE: z.preprocess(emptyAsUndefined, z.string().max(20).default('en_US')),
  TWILIO_WHATSAPP_CONTENT_SID: z.preprocess(emptyAsUndefined, z.string().regex(/^HX[0-9a-fA-F]{32}$/, 'expected a Twilio Content SID (HX…)').optional()),
  WHATSAPP_OPT_OUT_KEYWORDS: nameListSetting('stop,baja,unsubscribe,cancelar'),
  WHATSAPP_OPT_IN_KEYWORDS: nameListSetting('start,alta'),
  WHATSAPP_WEB_ENABLED: booleanFlag(false),
  CHROMIUM_PATH: z.string().default('/usr/bin/chromium'),
  WHATSAPP_WEB_RECONNECT_DELAY_MS: integer(5_000, 10, 600_000),
  CHANNEL_DELIVERY_ATTEMPTS: integer(4, 1, 20),
  CHANNEL_DELIVERY_BASE_DELAY_MS: integer(500, 1, 60_000),
  CHANNEL_DELIVERY_MAX_DELAY_MS: integer(30_000, 1, 600_000),
  // Resilience (src/resilience, src/queue): retries, breakers, fallback bound, cache, rate limits, durable queue.
  FALLBACK_REPLY_BY_CHANNEL: channelTexts,
  FALLBACK_AFTER_MS: integer(5000, 100, 600_000),
  LLM_RETRIES: integer(1, 0, 10),
  LLM_MAX_ATTEMPTS: integer(6, 1, 100),
  LLM_RETRY_BASE_MS: integer(200, 1, 60_000),
  LLM_RETRY_MAX_DELAY_MS: integer(2000, 1, 120_000),
  LLM_FIRST_TOKEN_TIMEOUT_MS: integer(2500, 50, 600_000),
  LLM_ATTEMPT_TIMEOUT_MS: integer(60_000, 100, 3_600_000),
  LLM_TURN_TIMEOUT_MS: integer(120_000, 100, 3_600_000),
  BREAKER_FAILURE_RATIO: z.preprocess(emptyAsUndefined, z.coerce.number().gt(0).lt(1).default(0.5)),
  BREAKER_WINDOW_MS: integer(30_000, 1000, 3_600_000),
  BREAKER_MIN_REQUESTS: integer(5, 1, 100_000),
  BREAKER_HALF_OPEN_AFTER_MS: integer(15_000, 10, 3_600_000),
  // Workspace credentials (src/workspaces): sealed with SECRETS_MASTER_KEY (32 bytes, base64 or hex: `openssl rand -base64 32`);
  // older keys, comma-separated, still open them while `npm run secrets:rotate` re-wraps them.
  SECRETS_MASTER_KEY: optionalSecret,
  SECRETS_MASTER_KEY_PREVIOUS: optionalSecret,
  /** Per integration: global, workspace or override (the default), e.g. `openai=workspace,stripe=global`. */
  WORKSPACE_CREDENTIALS: credentialModesSetting,
  // Human handoff (src/turn/handoffs.ts, README "Human handoff").
  HANDOFF_ENABLED: booleanFlag(true),
  HANDOFF_KEYWORDS: nameListSetting(''),
  HANDOFF_ON_FALLBACK: booleanFlag(true),
  HANDOFF_NOTICE: z.preprocess(
    emptyAsUndefined,
    z.string().max(1000).default("I've asked a person from our team to join. They'll answer here; you can keep writing in the meantime."),
  ),
  HANDOFF_NOTICE_BY_CHANNEL: channelTexts,
  HANDOFF_WAIT_NOTICE_S: integer(600, 0, 7 * 86_400),
  // Sent when an operator takes a conversation straight from the agent ({operator}: their name).
  HANDOFF_JOINED_NOTICE: z.preprocess(emptyAsUndefined, z.string().max(1000).default('{operator} from our team has joined the conversation.')),
  HANDOFF_BUSY_NOTICE: z.preprocess(
    emptyAsUndefined,
    z.string().max(1000).default('Everyone on our team is busy right now. Your messages are saved, and a person will answer as soon as they can.'),
  ),
  HANDOFF_CLOSED_NOTICE: z.preprocess(
    emptyAsUndefined,
    z.string().max(1000).default('Our team is away right now and back {back}. Your messages are saved, and a person will answer then.'),
  ),
  HANDOFF_SLACK_CHANNEL: optionalString,
  // Cost and budgets (src/agent/model-prices.ts, src/turn/budgets.ts, README "Cost and budgets").
  MODEL_PRICES: modelPricesSetting,
  BUDGET_CONVERSATION_USD: usdLimit,
  BUDGET_USER_DAILY_USD: usdLimit,
  BUDGET_GLOBAL_DAILY_USD: usdLimit,
  BUDGET_REPLY: notice("Sorry, I can't answer more messages right now: the assistant's usage limit has been reached. Your message is saved, and our team can follow up."),
  BUDGET_REPLY_BY_CHANNEL: channelTexts,
  HANDOFF_ON_BUDGET: booleanFlag(false),
  FOLLOW_UP_ENABLED: booleanFlag(true),
  FOLLOW_UP_INTERVAL_MS: integer(30_000, 50, 86_400_000),
  CACHE_TTL_S: integer(3600, 0, 30 * 86_400),
  CACHE_LOCAL_TTL_MS: integer(5000, 0, 60_000),
  RATE_LIMIT_USER_PER_MINUTE: integer(20, 0, 1_000_000),
  RATE_LIMIT_IP_PER_MINUTE: integer(60, 0, 1_000_000),
  RATE_LIMIT_GLOBAL_PER_SECOND: integer(200, 0, 1_000_000),
  /** Workspaces with their own `workspace` label on the per-workspace metrics; the rest share `other`. */
  METRICS_WORKSPACE_LABELS: integer(100, 1, 10_000),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits and _ . : - only').default('switchboard'),
  QUEUE_ATTEMPTS: integer(3, 1, 50),
  QUEUE_CONCURRENCY: integer(200, 1, 10_000),
  QUEUE_LOCK_MS: integer(30_000, 500, 3_600_000),
  LEDGER_RECOVERY_AFTER_MS: integer(120_000, 0, 86_400_000),
  // Scale-out (README "Scale-out"): which parts this process runs, and whether it migrates at start.
  SWITCHBOARD_ROLE: z.preprocess(emptyAsUndefined, z.enum(['all', 'web', 'worker']).default('all')),
  /** Unset: migrate when the role is `all` (the one-process default); split roles leave it to `npm run migrate`. */
  MIGRATE_ON_START: z.preprocess(
    emptyAsUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .optional()
      .transform((value) => (value === undefined ? undefined : ['true', '1', 'yes'].includes(value))),
  ),
});

export type Config = z.infer<typeof configSchema>;

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
  // A split role only makes sense over shared engines: the queue and socket.io adapter need Redis, every process one database.
  if (parsed.data.SWITCHBOARD_ROLE !== 'all' && (!parsed.data.REDIS_URL || !parsed.data.DATABASE_URL)) {
    throw new ConfigError(
      `Invalid configuration: SWITCHBOARD_ROLE: the ${parsed.data.SWITCHBOARD_ROLE} role needs REDIS_URL and DATABASE_URL (use SWITCHBOARD_ROLE=all for one process)`,
    );
  }
  const ssoProblem = ssoConfigProblem(parsed.data);
  if (ssoProblem) throw new ConfigError(`Invalid configuration: ${ssoProblem}`);
  // Twilio signs webhooks over the public URL, so the channel cannot verify anything without it.
  if (parsed.data.TWILIO_ACCOUNT_SID && parsed.data.TWILIO_AUTH_TOKEN) {
    if (!parsed.data.PUBLIC_URL) throw new ConfigError('Invalid configuration: PUBLIC_URL: required when TWILIO_ACCOUNT_SID is set');
    if (!parsed.data.TWILIO_SMS_FROM && !parsed.data.TWILIO_WHATSAPP_FROM) {
      throw new ConfigError('Invalid configuration: TWILIO_SMS_FROM: TWILIO_SMS_FROM or TWILIO_WHATSAPP_FROM is required when TWILIO_ACCOUNT_SID is set');
    }
  }
  // Installed Slack bot tokens are stored sealed: without a master key no install could be kept.
  if (parsed.data.SLACK_CLIENT_ID && !parsed.data.SECRETS_MASTER_KEY) {
    throw new ConfigError('Invalid configuration: SECRETS_MASTER_KEY: required when SLACK_CLIENT_ID is set (installed Slack bot tokens are stored sealed with it)');
  }
  return parsed.data;
}

/** Whether this process applies migrations at start: MIGRATE_ON_START, else only the all-in-one role does. */
export function migratesOnStart(config: Config): boolean {
  return config.MIGRATE_ON_START ?? config.SWITCHBOARD_ROLE === 'all';
}

/** The providers to try, in order: LLM_PROVIDERS if set, else every configured one in the default order. */
export function configuredProviders(config: Config): ProviderName[] {
  const hasKey = (name: ProviderName) => providerKey(config, name) !== undefined;
  return (config.LLM_PROVIDERS ?? [...PROVIDER_NAMES]).filter(hasKey);
}

export function providerKey(config: Config, name: ProviderName): Secret | undefined {
  return PROVIDER_SETTINGS.find((settings) => settings.name === name)?.connection(config).apiKey;
}

/** For entry points: the config, or one line naming the bad variable on stderr and exit code 1. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}
