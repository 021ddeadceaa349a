import { INTEGRATIONS, type CredentialValues, type IntegrationName } from './integrations.js';

/**
 * `sk_live_…4f2a`-style: enough to tell two keys apart in the console, never enough to use one.
 * Short values show only their last two characters, very short ones nothing.
 */
function maskOne(value: string): string {
  if (value.length >= 16) return `${value.slice(0, 4)}…${value.slice(-4)}`;
  if (value.length >= 8) return `…${value.slice(-2)}`;
  return '…';
}

/** A secret field's console text. Webhook secrets mask each of old,new; a key file shows only its account's email. */
export function maskSecret(value: unknown): string {
  if (typeof value === 'string' && value.trimStart().startsWith('{')) {
    try {
      const email = (JSON.parse(value) as { client_email?: unknown }).client_email;
      return typeof email === 'string' ? `key file for ${email}` : 'key file';
    } catch {
      return 'key file';
    }
  }
  if (typeof value === 'string') return value.split(',').map((part) => maskOne(part.trim())).join(',');
  // An object (Slack's installation): nothing of it but the ids of where it was installed.
  const { team, enterprise } = (value ?? {}) as { team?: { id?: unknown }; enterprise?: { id?: unknown } };
  const where = [team?.id, enterprise?.id].filter((id): id is string => typeof id === 'string');
  return where.length > 0 ? `installed for ${where.join(', ')}` : 'stored';
}

/** What listings show of stored values: secret fields masked, the others (model, SID, base URL) as stored. */
export function maskValues(integration: IntegrationName, values: CredentialValues): Record<string, string> {
  const secret = INTEGRATIONS[integration].secretFields;
  return Object.fromEntries(
    Object.entries(values)
      .filter(([, value]) => value !== undefined)
      .map(([field, value]) => [field, secret.has(field) ? maskSecret(value) : String(value)]),
  );
}
