import { z } from 'zod';
import { configSchema, type Config } from '../config/config.js';
import { CREDENTIAL_MODES, DEFAULT_CREDENTIAL_MODE, INTEGRATION_NAMES, type CredentialMode, type IntegrationName } from '../config/credential-modes.js';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import { CredentialInvalidError } from '../errors/index.js';

export { CREDENTIAL_MODES, INTEGRATION_NAMES, type CredentialMode, type IntegrationName };

/*
 * What a workspace can store per integration. Field names are the environment's variable names,
 * so a workspace's effective config is the global config with them overlaid (credentialOverlay).
 * Values are kept as the environment would hold them (strings); the overlay runs each through the
 * config's own field schema, so secrets come out as Secret exactly as loadConfig makes them.
 * Endpoint overrides (STRIPE_API_URL, GOOGLE_TOKEN_URL, ...) are deployment plumbing, not here.
 */

const token = z.string().min(1, 'must not be empty').max(4096, 'at most 4096 characters').regex(/^\S+$/, 'must be one value without spaces');
const plainText = z.string().trim().min(1, 'must not be empty').max(300, 'at most 300 characters');
const url = z.url('expected a URL');

/** Webhook secrets (Stripe, Meta): one, or the old and the new comma-separated while rotating, as the environment's. */
const rotatingSecret = z.string().refine((value) => {
  const parts = value.split(',').map((part) => part.trim());
  return parts.length <= 2 && parts.every((part) => /^\S+$/.test(part));
}, 'expected one secret, or the old and the new comma-separated');

const serviceAccountJson = z.string().max(20_000, 'at most 20000 characters').refine((value) => {
  try {
    const parsed = JSON.parse(value) as { client_email?: unknown; private_key?: unknown };
    return typeof parsed.client_email === 'string' && typeof parsed.private_key === 'string';
  } catch {
    return false;
  }
}, 'expected a service account key file (JSON with client_email and private_key)');

/** Kept as Bolt's installation store hands it over; only its team/enterprise id is ever shown. */
const slackInstallation = z.looseObject({
  team: z.looseObject({ id: z.string() }).optional(),
  enterprise: z.looseObject({ id: z.string() }).optional(),
});

type ConfigKey = keyof Config;
/** Every field is a config variable, except `installation` (Slack's), which the overlay leaves out. */
type FieldShape<Shape> = { [K in keyof Shape]: K extends ConfigKey | 'installation' ? z.ZodType : never };

export interface IntegrationSpec<Schema extends z.ZodType<Record<string, unknown>> = z.ZodType<Record<string, unknown>>> {
  /** Strict: an unknown field is refused, not stored. */
  readonly schema: Schema;
  /** Masked in listings; every other field is shown as stored. */
  readonly secretFields: ReadonlySet<string>;
  /** The variables this integration sets in a workspace's config. */
  readonly configFields: readonly ConfigKey[];
}

function integration<Shape extends z.ZodRawShape & FieldShape<Shape>>(
  shape: Shape,
  secretFields: readonly (keyof Shape & string)[],
  check?: (values: z.infer<z.ZodObject<Shape, z.core.$strict>>, ctx: z.RefinementCtx) => void,
): IntegrationSpec<z.ZodObject<Shape, z.core.$strict>> {
  const strict = z.strictObject(shape);
  return {
    schema: check ? strict.superRefine(check) : strict,
    secretFields: new Set(secretFields),
    configFields: Object.keys(shape).filter((field): field is ConfigKey => field in configSchema.shape),
  };
}

export const INTEGRATIONS = {
  openai: integration({ OPENAI_API_KEY: token, OPENAI_BASE_URL: url.optional(), OPENAI_MODEL: plainText.optional() }, ['OPENAI_API_KEY']),
  anthropic: integration({ ANTHROPIC_API_KEY: token, ANTHROPIC_BASE_URL: url.optional(), ANTHROPIC_MODEL: plainText.optional() }, ['ANTHROPIC_API_KEY']),
  groq: integration({ GROQ_API_KEY: token, GROQ_BASE_URL: url.optional(), GROQ_MODEL: plainText.optional() }, ['GROQ_API_KEY']),
  stripe: integration({ STRIPE_SECRET_KEY: token, STRIPE_WEBHOOK_SECRET: rotatingSecret.optional() }, ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET']),
  google: integration(
    {
      GOOGLE_SERVICE_ACCOUNT_JSON: serviceAccountJson.optional(),
      GOOGLE_DELEGATED_USER: z.email('expected an email address').optional(),
      GOOGLE_CLIENT_ID: token.optional(),
      GOOGLE_CLIENT_SECRET: token.optional(),
      GOOGLE_REFRESH_TOKEN: token.optional(),
      GOOGLE_CALENDAR_ID: plainText.optional(),
    },
    ['GOOGLE_SERVICE_ACCOUNT_JSON', 'GOOGLE_CLIENT_SECRET', 'GOOGLE_REFRESH_TOKEN'],
    // The tools take a service account, or else an OAuth client with a refresh token (tools/build-tools.ts).
    (values, ctx) => {
      const oauth = ['GOOGLE_CLIENT_ID', 'GOOGLE_CLIENT_SECRET', 'GOOGLE_REFRESH_TOKEN'] as const;
      if (values.GOOGLE_SERVICE_ACCOUNT_JSON !== undefined) return;
      if (oauth.some((field) => values[field] !== undefined)) {
        for (const field of oauth.filter((name) => values[name] === undefined)) {
          ctx.addIssue({ code: 'custom', path: [field], message: 'required with the other OAuth fields (or set GOOGLE_SERVICE_ACCOUNT_JSON)' });
        }
        return;
      }
      ctx.addIssue({ code: 'custom', path: ['GOOGLE_SERVICE_ACCOUNT_JSON'], message: 'required, or GOOGLE_CLIENT_ID + GOOGLE_CLIENT_SECRET + GOOGLE_REFRESH_TOKEN' });
    },
  ),
  hubspot: integration({ HUBSPOT_ACCESS_TOKEN: token }, ['HUBSPOT_ACCESS_TOKEN']),
  twilio: integration(
    { TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-zA-Z]{32}$/, 'expected an Account SID (AC and 32 characters)'), TWILIO_AUTH_TOKEN: token },
    ['TWILIO_AUTH_TOKEN'],
  ),
  'whatsapp-cloud': integration({ WHATSAPP_ACCESS_TOKEN: token, META_APP_SECRET: rotatingSecret }, ['WHATSAPP_ACCESS_TOKEN', 'META_APP_SECRET']),
  slack: integration(
    { SLACK_BOT_TOKEN: token, SLACK_SIGNING_SECRET: token.optional(), installation: slackInstallation.optional() },
    ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'installation'],
  ),
} satisfies Record<IntegrationName, IntegrationSpec>;

/** What a workspace stores for one integration, as its schema gives it back. */
export type IntegrationValues<Name extends IntegrationName> = z.infer<(typeof INTEGRATIONS)[Name]['schema']>;
export type CredentialValues = Readonly<Record<string, unknown>>;

export function isIntegrationName(name: string): name is IntegrationName {
  return (INTEGRATION_NAMES as readonly string[]).includes(name);
}

export function credentialMode(config: Pick<Config, 'WORKSPACE_CREDENTIALS'>, integration: IntegrationName): CredentialMode {
  return config.WORKSPACE_CREDENTIALS[integration] ?? DEFAULT_CREDENTIAL_MODE;
}

/** The config variables a stored integration sets, each parsed by the config's own field schema (Secret where config has one). */
export function integrationConfig(integration: IntegrationName, values: CredentialValues): Partial<Config> {
  const shape = configSchema.shape as Record<ConfigKey, z.ZodType>;
  // A stored integration replaces all of its variables: those it leaves out take the config's default, never the
  // environment's (a workspace's key must not go to the deployment's base URL, nor its OAuth client beside the env's service account).
  return Object.fromEntries(INTEGRATIONS[integration].configFields.map((field) => [field, shape[field].parse(values[field])])) as Partial<Config>;
}

/**
 * The part of the global config to overlay for a workspace's turn. The default workspace is the
 * environment as it is ({}). Per integration: `global` keeps the environment's; `override` takes
 * the workspace's when it stored some; `workspace` takes the workspace's, and without them sets
 * the integration's variables to their defaults (unset) so the environment's are not used.
 */
export function credentialOverlay(config: Pick<Config, 'WORKSPACE_CREDENTIALS'>, workspaceId: string, stored: ReadonlyMap<IntegrationName, CredentialValues>): Partial<Config> {
  if (workspaceId === DEFAULT_WORKSPACE_ID) return {};
  const overlay: Partial<Config> = {};
  for (const integration of INTEGRATION_NAMES) {
    const mode = credentialMode(config, integration);
    const values = stored.get(integration);
    if (mode === 'global' || (mode === 'override' && values === undefined)) continue;
    Object.assign(overlay, integrationConfig(integration, values ?? {}));
  }
  return overlay;
}

/**
 * Validates what a workspace gives for an integration: its schema, then each config variable
 * through the config's own field schema, so the overlay can never fail on stored values.
 * Issues name fields, never values (a zod message does not echo its input).
 */
export function parseCredentials<Name extends IntegrationName>(integration: Name, input: unknown): IntegrationValues<Name> {
  const spec = INTEGRATIONS[integration];
  const given = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const parsed = spec.schema.safeParse(input);
  if (!parsed.success) {
    throw new CredentialInvalidError(
      integration,
      parsed.error.issues.map((issue) => {
        const field = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(credentials)');
        const missing = issue.code === 'invalid_type' && issue.path.length === 1 && given[String(issue.path[0])] === undefined;
        if (issue.code === 'unrecognized_keys') return { field, message: `not a field of ${integration} (expected ${Object.keys(spec.schema.shape).join(', ')})` };
        return { field, message: missing ? 'required' : issue.message };
      }),
    );
  }
  const shape = configSchema.shape as Record<ConfigKey, z.ZodType>;
  const issues = spec.configFields
    .filter((field) => !shape[field].safeParse((parsed.data as Record<string, unknown>)[field]).success)
    .map((field) => ({ field, message: 'not a value the environment would accept for this variable' }));
  if (issues.length > 0) throw new CredentialInvalidError(integration, issues);
  return parsed.data as IntegrationValues<Name>;
}
