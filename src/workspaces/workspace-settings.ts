import { z } from 'zod';
import { configSchema, type Config } from '../config/config.js';
import { nameListSetting } from '../config/tool-settings.js';

/**
 * The settings a workspace may set over the deployment's: named and written exactly as the
 * environment variables they override (README "Configuration"), so one vocabulary serves the
 * environment, the console and `npm run workspace:create`, and each value is parsed by the same
 * rule as its variable. Deployment matters (ports, databases, queues, keys) are not here;
 * credentials are the vault's (workspaces/credential-vault.ts).
 */
export const WORKSPACE_SETTING_KEYS = [
  'SYSTEM_PROMPT',
  'LLM_PROVIDERS',
  'MAX_TOOL_STEPS',
  'MAX_OUTPUT_TOKENS',
  'TOOL_CHANNEL_POLICY',
  'SENSITIVE_TOOLS',
  'CONFIRMATION_TTL_S',
  'CHECKOUT_CONFIRM_ABOVE',
  'CHECKOUT_CONFIRM_CURRENCY',
  'CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY',
  'FALLBACK_REPLY',
  'FALLBACK_REPLY_BY_CHANNEL',
  'HANDOFF_ENABLED',
  'HANDOFF_KEYWORDS',
  'HANDOFF_ON_FALLBACK',
  'HANDOFF_NOTICE',
  'HANDOFF_NOTICE_BY_CHANNEL',
  'HANDOFF_JOINED_NOTICE',
  'HANDOFF_BUSY_NOTICE',
  'HANDOFF_CLOSED_NOTICE',
  'WORKING_HOURS',
  'WORKING_DAYS',
  'WORKING_TIME_ZONE',
  'BUDGET_CONVERSATION_USD',
  'BUDGET_USER_DAILY_USD',
  'BUDGET_GLOBAL_DAILY_USD',
  'BUDGET_REPLY',
  'BUDGET_REPLY_BY_CHANNEL',
  'HANDOFF_ON_BUDGET',
  'RATE_LIMIT_USER_PER_MINUTE',
  'RATE_LIMIT_IP_PER_MINUTE',
] as const satisfies readonly (keyof Config)[];
export type WorkspaceSettingKey = (typeof WORKSPACE_SETTING_KEYS)[number] | 'ENABLED_TOOLS';

/** Workspace-only: the tools this workspace offers at all (unset: every configured tool). */
const enabledToolsSetting = nameListSetting('');

/** A stored override: the variable's text (numbers and booleans accepted as such). */
const rawValue = z.union([z.string().max(20_000), z.number(), z.boolean()]);

export class WorkspaceSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid workspace settings: ${problems.join('; ')}`);
    this.name = 'WorkspaceSettingsError';
  }
}

/** What a workspace's stored settings mean: config values, plus the workspace-only tool list. */
export interface ParsedWorkspaceSettings {
  overrides: Partial<Config>;
  /** ENABLED_TOOLS: undefined offers every configured tool. */
  enabledTools: string[] | undefined;
}

/**
 * Validates stored or submitted settings, naming every bad key and why (never echoing the value).
 * `null` or '' for a key means "use the deployment's" and is dropped.
 */
export function parseWorkspaceSettings(raw: unknown): ParsedWorkspaceSettings {
  const object = z.record(z.string(), z.union([rawValue, z.null()])).safeParse(raw ?? {});
  if (!object.success) throw new WorkspaceSettingsError(['settings: expected an object of VARIABLE: value']);
  const problems: string[] = [];
  const overrides: Record<string, unknown> = {};
  let enabledTools: string[] | undefined;
  const shape = configSchema.shape as Record<string, z.ZodType>;
  for (const [key, value] of Object.entries(object.data)) {
    if (value === null || value === '') continue;
    const text = typeof value === 'string' ? value : String(value);
    if (key === 'ENABLED_TOOLS') {
      const parsed = enabledToolsSetting.safeParse(text);
      if (parsed.success) enabledTools = parsed.data;
      else problems.push(`${key}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      continue;
    }
    if (!(WORKSPACE_SETTING_KEYS as readonly string[]).includes(key)) {
      problems.push(`${key}: not a workspace setting (one of ${WORKSPACE_SETTING_KEYS.join(', ')}, ENABLED_TOOLS)`);
      continue;
    }
    const parsed = shape[key]!.safeParse(text);
    if (parsed.success) overrides[key] = parsed.data;
    else problems.push(`${key}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  if (problems.length > 0) throw new WorkspaceSettingsError(problems);
  return { overrides: overrides as Partial<Config>, enabledTools };
}

/** The settings as stored: the submitted keys with empty values dropped (validated first). */
export function storableSettings(raw: unknown): Record<string, string | number | boolean> {
  parseWorkspaceSettings(raw);
  const entries = Object.entries((raw ?? {}) as Record<string, unknown>).filter(([, value]) => value !== null && value !== '');
  return Object.fromEntries(entries) as Record<string, string | number | boolean>;
}
