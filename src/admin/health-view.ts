import { sql } from 'drizzle-orm';
import { PROVIDERS } from '../agent/providers/index.js';
import { configuredProviders, type Config } from '../config/config.js';
import type { Db } from '../store/database.js';
import type { Metrics } from '../observability/metrics.js';
import { toolAvailability } from '../tools/build-tools.js';
import { redactText } from '../observability/redaction.js';
import { queryRows } from './stats-query.js';

const RECENT_MS = 24 * 3600_000;

/**
 * Integrations and the settings that enable them. A setting that is not in the
 * running config (an integration not built yet) simply shows as not configured.
 */
const INTEGRATIONS: { name: string; settings: string[] }[] = [
  { name: 'stripe', settings: ['STRIPE_SECRET_KEY'] },
  { name: 'hubspot', settings: ['HUBSPOT_ACCESS_TOKEN'] },
  { name: 'google', settings: ['GOOGLE_SERVICE_ACCOUNT_JSON', 'GOOGLE_REFRESH_TOKEN'] },
  { name: 'slack', settings: ['SLACK_BOT_TOKEN'] },
  { name: 'twilio', settings: ['TWILIO_AUTH_TOKEN'] },
  { name: 'whatsapp-web', settings: ['WHATSAPP_WEB_ENABLED'] },
  { name: 'whatsapp-cloud', settings: ['WHATSAPP_ACCESS_TOKEN'] },
  { name: 'stripe-webhook', settings: ['STRIPE_WEBHOOK_SECRET'] },
  { name: 'redis', settings: ['REDIS_URL'] },
];

const isSet = (config: Config, key: string) => {
  const value = (config as Record<string, unknown>)[key];
  return value !== undefined && value !== null && value !== false && value !== '';
};

/**
 * Providers and integrations: configured or not, breaker state where one is registered, and the
 * recent errors of one workspace's turns, tool calls and deliveries.
 */
export async function loadHealth(db: Db, config: Config, metrics: Metrics, workspaceId: string) {
  const since = new Date(Date.now() - RECENT_MS).toISOString();
  const breakers = new Map(metrics.breakerStates().map((breaker) => [breaker.name, breaker.state]));
  const breakerFor = (name: string) =>
    breakers.get(name) ?? breakers.get(`provider:${name}`) ?? breakers.get(`integration:${name}`) ?? breakers.get(`tool:${name}`) ?? null;

  const [providerErrors, toolErrors, deliveryErrors, queues] = await Promise.all([
    queryRows<{ provider: string; kind: string; count: string; last_at: Date | string }>(
      db,
      sql`select a->>'provider' as provider, coalesce(a->>'errorKind', 'error') as kind, count(*) as count, max(m.created_at) as last_at
          from messages m, jsonb_array_elements(case when jsonb_typeof(m.attempts) = 'array' then m.attempts else '[]'::jsonb end) a
          where m.workspace_id = ${workspaceId} and m.role = 'user' and m.created_at >= ${since}::timestamptz and a->>'outcome' = 'error'
          group by 1, 2 order by 4 desc`,
    ),
    queryRows<{ tool: string; count: string; last_at: Date | string; last_error: string | null }>(
      db,
      sql`select tool_name as tool, count(*) as count, max(created_at) as last_at,
                 (array_agg(error order by created_at desc))[1] as last_error
          from tool_calls where workspace_id = ${workspaceId} and status in ('error', 'invalid') and created_at >= ${since}::timestamptz
          group by tool_name order by 3 desc`,
    ),
    // A channel whose sends fail (an expired WhatsApp token, a Slack channel gone): the newest error says why.
    queryRows<{ channel: string; count: string; last_at: Date | string; last_error: string | null }>(
      db,
      sql`select channel, count(*) as count, max(created_at) as last_at, (array_agg(error order by created_at desc))[1] as last_error
          from channel_deliveries where workspace_id = ${workspaceId} and status = 'failed' and created_at >= ${since}::timestamptz
          group by channel order by 3 desc`,
    ),
    metrics.queueDepths(),
  ]);

  const chain: string[] = configuredProviders(config);
  return {
    providers: PROVIDERS.map(({ name, apiKey, model }) => ({
      name,
      configured: apiKey(config) !== undefined,
      position: chain.indexOf(name) === -1 ? null : chain.indexOf(name) + 1,
      model: model(config),
      // The resilience layer names provider breakers `provider:model`.
      breaker: breakers.get(`${name}:${model(config)}`) ?? breakerFor(name),
      recentErrors: providerErrors
        .filter((row) => row.provider === name)
        .map((row) => ({ kind: row.kind, count: Number(row.count), lastAt: new Date(row.last_at).toISOString() })),
    })),
    integrations: INTEGRATIONS.map((integration) => ({
      name: integration.name,
      configured: integration.settings.some((key) => isSet(config, key)),
      breaker: breakerFor(integration.name),
    })),
    /** Each tool, and why it is not offered to the model when it is not. */
    tools: toolAvailability(config),
    toolErrors: toolErrors.map((row) => ({
      tool: row.tool,
      count: Number(row.count),
      lastAt: new Date(row.last_at).toISOString(),
      lastError: row.last_error === null ? null : redactText(row.last_error, 'list'),
    })),
    /** Failed outbound deliveries per channel in the last 24 hours, with the newest error. */
    deliveryErrors: deliveryErrors.map((row) => ({
      channel: row.channel,
      count: Number(row.count),
      lastAt: new Date(row.last_at).toISOString(),
      lastError: row.last_error === null ? null : redactText(row.last_error, 'list'),
    })),
    breakers: metrics.breakerStates(),
    queues,
  };
}
