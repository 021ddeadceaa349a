import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../store/database.js';
import { rows } from '../store/rows.js';

const DEFAULT_WINDOW_MS = 24 * 3600_000;
/** The longest window the console reads at once (stats and spend). */
export const MAX_WINDOW_MS = 366 * 24 * 3600_000;

const MINUTE = 60;
const HOUR = 3600;
const DAY = 24 * HOUR;
/** Bucket widths in seconds, finest first, with the label the console shows. */
const BUCKETS = [
  [MINUTE, '1 min'],
  [5 * MINUTE, '5 min'],
  [15 * MINUTE, '15 min'],
  [30 * MINUTE, '30 min'],
  [HOUR, '1 h'],
  [3 * HOUR, '3 h'],
  [6 * HOUR, '6 h'],
  [12 * HOUR, '12 h'],
  [DAY, '1 d'],
  [7 * DAY, '7 d'],
] as const;
/** A chart of at most this many buckets: an hour in minutes, a day in 15 minutes, a week in 3 hours, a month in 6 hours. */
const MAX_BUCKETS = 120;
/** Buckets are whole multiples from here (UTC midnight on a Monday): days start at midnight UTC, weeks on Monday. */
const BUCKET_ORIGIN = Date.UTC(2000, 0, 3);

/** The finest bucket that draws `spanMs` in at most MAX_BUCKETS points. */
function bucketFor(spanMs: number): { seconds: number; label: string } {
  const [seconds, label] = BUCKETS.find(([width]) => spanMs / (width * 1000) <= MAX_BUCKETS) ?? BUCKETS.at(-1)!;
  return { seconds, label };
}

/** The start of the bucket that holds `time`. */
const bucketStart = (time: number, seconds: number) => time - ((((time - BUCKET_ORIGIN) % (seconds * 1000)) + seconds * 1000) % (seconds * 1000));

const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));

/**
 * One workspace's volume, outcome and latency figures over one window (default: the last 24
 * hours), plus a time series for charts: every bucket of the window, empty ones as zero (latency
 * null), in buckets that fit the window (`bucketFor`: one hour is 60 one-minute points).
 */
export async function loadStats(db: Db, workspaceId: string, window: { from?: Date; to?: Date }) {
  const to = window.to ?? new Date();
  const from = window.from ?? new Date(to.getTime() - DEFAULT_WINDOW_MS);
  const span = Math.min(Math.max(to.getTime() - from.getTime(), 0), MAX_WINDOW_MS);
  const bucket = bucketFor(span);
  const interval = `${bucket.seconds} seconds`;
  const origin = new Date(BUCKET_ORIGIN).toISOString();
  const bin = (column: SQL) => sql`date_bin(${interval}::interval, ${column}, ${origin}::timestamptz)`;
  // The workspace rides with the window: every statement below reads one workspace's rows.
  const inWindow = (column: SQL, workspace = sql`workspace_id`) =>
    sql`${workspace} = ${workspaceId} and ${column} >= ${from.toISOString()}::timestamptz and ${column} < ${to.toISOString()}::timestamptz`;

  const [byChannel, byTool, turns, latency, series] = await Promise.all([
    rows<{ channel: string; count: string }>(
      db,
      sql`select c.channel, count(*) as count from messages m join conversations c on c.id = m.conversation_id
          where m.role = 'user' and ${inWindow(sql`m.created_at`, sql`m.workspace_id`)} group by c.channel order by count desc`,
    ),
    rows<{ tool: string; status: string; count: string }>(
      db,
      sql`select tool_name as tool, status, count(*) as count from tool_calls
          where ${inWindow(sql`created_at`)} group by tool_name, status order by tool_name, status`,
    ),
    rows<{ finished: string; fallback: string; cached: string; failover: string }>(
      db,
      sql`select count(*) as finished,
                 count(*) filter (where fallback) as fallback,
                 count(*) filter (where cached) as cached,
                 count(*) filter (where jsonb_typeof(attempts) = 'array' and exists (
                   select 1 from jsonb_array_elements(attempts) a where a->>'outcome' = 'error')) as failover
          from messages where role = 'user' and status in ('answered', 'fallback', 'failed') and ${inWindow(sql`created_at`)}`,
    ),
    rows<{ provider: string; count: string; p50: number; p95: number }>(
      db,
      sql`select coalesce(provider, 'none') as provider, count(*) as count,
                 percentile_cont(0.5) within group (order by latency_ms) as p50,
                 percentile_cont(0.95) within group (order by latency_ms) as p95
          from messages where role = 'user' and latency_ms is not null and ${inWindow(sql`created_at`)}
          group by coalesce(provider, 'none') order by provider`,
    ),
    rows<{ bucket: Date | string; messages: string; tool_calls: string; tool_errors: string; p95: number | null }>(
      db,
      sql`with m as (
            select ${bin(sql`created_at`)} as bucket, count(*) as messages,
                   percentile_cont(0.95) within group (order by latency_ms) as p95
            from messages where role = 'user' and ${inWindow(sql`created_at`)} group by 1),
          t as (
            select ${bin(sql`created_at`)} as bucket, count(*) as tool_calls,
                   count(*) filter (where status in ('error', 'invalid')) as tool_errors
            from tool_calls where ${inWindow(sql`created_at`)} group by 1)
          select coalesce(m.bucket, t.bucket) as bucket, coalesce(m.messages, 0) as messages,
                 coalesce(t.tool_calls, 0) as tool_calls, coalesce(t.tool_errors, 0) as tool_errors, m.p95
          from m full outer join t on m.bucket = t.bucket order by 1`,
    ),
  ]);

  const totals = turns[0] ?? { finished: '0', fallback: '0', cached: '0', failover: '0' };
  const finished = Number(totals.finished);
  const rate = (count: string) => (finished === 0 ? 0 : Number(count) / finished);
  const filled = new Map(series.map((row) => [new Date(row.bucket).getTime(), row]));
  const points = [];
  const step = bucket.seconds * 1000;
  for (let at = bucketStart(from.getTime(), bucket.seconds); at < to.getTime() && points.length <= MAX_BUCKETS + 1; at += step) {
    const row = filled.get(at);
    points.push({
      at: new Date(at).toISOString(),
      messages: Number(row?.messages ?? 0),
      toolCalls: Number(row?.tool_calls ?? 0),
      toolErrors: Number(row?.tool_errors ?? 0),
      p95LatencyMs: num(row?.p95),
    });
  }
  return {
    window: { from: from.toISOString(), to: to.toISOString(), bucket: bucket.label, bucketSeconds: bucket.seconds },
    messagesByChannel: byChannel.map((row) => ({ channel: row.channel, count: Number(row.count) })),
    toolCalls: byTool.map((row) => ({ tool: row.tool, status: row.status, count: Number(row.count) })),
    turns: {
      finished,
      fallbackRate: rate(totals.fallback),
      cacheHitRate: rate(totals.cached),
      providerFailoverRate: rate(totals.failover),
    },
    latencyByProvider: latency.map((row) => ({
      provider: row.provider,
      count: Number(row.count),
      p50Ms: num(row.p50),
      p95Ms: num(row.p95),
    })),
    series: points,
  };
}

export { rows as queryRows };
