import type { Config } from '../config/config.js';
import { Secret } from '../config/secret.js';
import { parseWorkspaceSettings, WORKSPACE_SETTING_KEYS, type ParsedWorkspaceSettings, type WorkspaceSettingKey } from './workspace-settings.js';

/** One overridable setting as the console shows it: what a turn of this workspace uses, and where that comes from. */
export interface EffectiveSetting {
  key: WorkspaceSettingKey;
  /** Written as its environment variable would be ('' when unset). */
  value: string;
  source: 'workspace' | 'deployment';
  /** The deployment's value, what the workspace gets without its own ('' when unset). */
  deployment: string;
}

/** Every overridable setting, ENABLED_TOOLS with the other tool settings (the console's order). */
export const SETTING_KEYS: readonly WorkspaceSettingKey[] = WORKSPACE_SETTING_KEYS.flatMap((key) => (key === 'TOOL_CHANNEL_POLICY' ? (['ENABLED_TOOLS', key] as const) : [key]));

const DAY_NAMES = ['', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const clock = (minute: number) => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

/**
 * A parsed config value written back in its variable's syntax, so the console shows the deployment's
 * value in the form a workspace would type it. A Secret is never written out: no overridable setting
 * is one today, and one added later must not reach the console through here.
 */
export function settingText(key: string, value: unknown): string {
  if (value instanceof Secret) return '[redacted]';
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (key === 'WORKING_DAYS' && Array.isArray(value)) return value.map((day) => DAY_NAMES[Number(day)] ?? String(day)).join(',');
  if (Array.isArray(value)) return value.map(String).join(',');
  const object = value as Record<string, unknown>;
  if (typeof object.startMinute === 'number' && typeof object.endMinute === 'number') return `${clock(object.startMinute)}-${clock(object.endMinute)}`;
  const entries = Object.entries(object);
  if (entries.length === 0) return '';
  // TOOL_CHANNEL_POLICY: channel=tool,tool;channel=
  if (entries.every(([, inner]) => Array.isArray(inner))) return entries.map(([name, list]) => `${name}=${(list as unknown[]).join(',')}`).join(';');
  // CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: jpy:50000,eur:100
  if (entries.every(([, inner]) => typeof inner === 'number')) return entries.map(([code, amount]) => `${code.toLowerCase()}:${String(amount)}`).join(',');
  // *_BY_CHANNEL: a JSON object, as the variable is written.
  return JSON.stringify(object);
}

/** Stored settings as turns read them: a value a newer release no longer accepts counts as unset (as WorkspaceConfigs does). */
function parsedOrNone(stored: Record<string, unknown>): ParsedWorkspaceSettings {
  try {
    return parseWorkspaceSettings(stored);
  } catch {
    return { overrides: {}, enabledTools: undefined };
  }
}

/** Each overridable setting of a workspace: its own value where it sets one, else the deployment's. */
export function effectiveSettings(global: Config, stored: Record<string, unknown>): EffectiveSetting[] {
  const parsed = parsedOrNone(stored);
  const overrides = parsed.overrides as Record<string, unknown>;
  return SETTING_KEYS.map((key) => {
    // Workspace-only: the deployment offers every configured tool ('').
    if (key === 'ENABLED_TOOLS') {
      return parsed.enabledTools === undefined
        ? { key, value: '', source: 'deployment', deployment: '' }
        : { key, value: parsed.enabledTools.join(','), source: 'workspace', deployment: '' };
    }
    const deployment = settingText(key, global[key]);
    return Object.hasOwn(overrides, key)
      ? { key, value: settingText(key, overrides[key]), source: 'workspace', deployment }
      : { key, value: deployment, source: 'deployment', deployment };
  });
}
