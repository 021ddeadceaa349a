import type { FirstRunNotice } from '../admin/first-run-setup.js';
import { PROVIDER_SETTINGS } from '../agent/providers/settings.js';
import { configuredProviders, type Config } from '../config/config.js';
import { toolAvailability } from '../tools/build-tools.js';

/** One provider, tool or channel: on, or off and what to set to turn it on. */
export interface Feature {
  name: string;
  on: boolean;
  /** On: what it runs (a model); off: why not. */
  note?: string;
}

/**
 * What a person starting the server wants to know, with no secret in it: where to open it, how
 * to get into the console, and which providers, tools and channels are on (and for those off,
 * what to set). The banner renders it on a terminal; otherwise it is one structured log line.
 */
export interface StartupFacts {
  demoUrl: string;
  adminUrl: string;
  role: Config['SWITCHBOARD_ROLE'];
  database: { kind: 'pglite'; dataDir: string } | { kind: 'postgres' };
  redis: boolean;
  accounts: { firstRun: false } | { firstRun: true; tokenFile: string | null; tokenFrom: 'banner' | 'ADMIN_SETUP_TOKEN' };
  /** Console sign-in methods: single sign-on names the provider (OIDC_PROVIDER_NAME). */
  signIn: { passwordLogin: boolean; sso: string | null };
  providers: Feature[];
  tools: Feature[];
  channels: Feature[];
}

const PROVIDER_LABELS: Record<string, string> = { anthropic: 'Anthropic', openai: 'OpenAI', groq: 'Groq' };

export function startupFacts(input: { config: Config; address: string; mountedChannels: readonly string[]; firstRun: FirstRunNotice }): StartupFacts {
  const { config } = input;
  const demoUrl = publicBase(config, input.address);
  return {
    demoUrl: `${demoUrl}/`,
    adminUrl: `${demoUrl}/admin`,
    role: config.SWITCHBOARD_ROLE,
    database: config.DATABASE_URL ? { kind: 'postgres' } : { kind: 'pglite', dataDir: config.DATA_DIR },
    redis: config.REDIS_URL !== undefined,
    accounts: input.firstRun.open
      ? { firstRun: true, tokenFile: input.firstRun.tokenFile ?? null, tokenFrom: input.firstRun.fromSetting ? 'ADMIN_SETUP_TOKEN' : 'banner' }
      : { firstRun: false },
    signIn: { passwordLogin: config.ADMIN_PASSWORD_LOGIN, sso: config.OIDC_ISSUER_URL ? config.OIDC_PROVIDER_NAME : null },
    providers: providerFeatures(config),
    tools: toolAvailability(config).map((entry) => ({ name: entry.tool, on: entry.available, ...(entry.reason && { note: entry.reason }) })),
    channels: channelFeatures(config, new Set(input.mountedChannels)),
  };
}

/** PUBLIC_URL, else the bound address, with a wildcard host shown as localhost (what a browser on this machine opens). */
function publicBase(config: Config, address: string): string {
  if (config.PUBLIC_URL) return config.PUBLIC_URL.replace(/\/+$/, '');
  const url = new URL(address);
  if (['0.0.0.0', '[::]', '::'].includes(url.hostname)) url.hostname = 'localhost';
  return url.origin;
}

function providerFeatures(config: Config): Feature[] {
  const active = configuredProviders(config);
  return PROVIDER_SETTINGS.map((settings) => {
    const name = PROVIDER_LABELS[settings.name] ?? settings.name;
    const connection = settings.connection(config);
    if (active.includes(settings.name)) return { name, on: true, note: connection.model };
    if (connection.apiKey) return { name, on: false, note: `not in LLM_PROVIDERS (${config.LLM_PROVIDERS?.join(',') ?? ''})` };
    return { name, on: false, note: `set ${settings.variables.apiKey}` };
  });
}

/** Each channel, by the name it mounts under, with the settings that turn it on. */
const CHANNELS: { name: string; label: string; needs: string[] }[] = [
  { name: 'web', label: 'Web chat', needs: [] },
  { name: 'slack', label: 'Slack', needs: ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET'] },
  { name: 'sms', label: 'SMS (Twilio)', needs: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_SMS_FROM', 'PUBLIC_URL'] },
  { name: 'whatsapp', label: 'WhatsApp (Twilio)', needs: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_WHATSAPP_FROM', 'PUBLIC_URL'] },
  {
    name: 'whatsapp-cloud',
    label: 'WhatsApp Cloud API',
    needs: ['WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_ACCESS_TOKEN', 'META_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN'],
  },
  { name: 'whatsapp-web', label: 'WhatsApp Web', needs: ['WHATSAPP_WEB_ENABLED'] },
];

function channelFeatures(config: Config, mounted: ReadonlySet<string>): Feature[] {
  const values = config as unknown as Record<string, unknown>;
  const unset = (key: string) => values[key] === undefined || values[key] === false || values[key] === '';
  return CHANNELS.map(({ name, label, needs }) => {
    if (mounted.has(name)) return name === 'web' ? { name: label, on: true, note: 'the widget on the demo page; embed /widget.js' } : { name: label, on: true };
    if (name === 'web') return { name: label, on: false, note: `not served by a ${config.SWITCHBOARD_ROLE} process` };
    const missing = needs.filter(unset).map((key) => (key === 'WHATSAPP_WEB_ENABLED' ? `${key}=true` : key));
    return { name: label, on: false, note: missing.length > 0 ? `set ${listOf(missing)}` : 'see the start-up log' };
  });
}

/** "A", "A and B", "A, B and C". */
function listOf(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
