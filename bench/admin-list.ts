/**
 * Admin list benchmark: `GET /api/admin/tool-calls` with 100,000 tool calls in
 * PostgreSQL, over HTTP against the real server (auth, validation, query,
 * redaction and the audit insert included). Requirement: a filtered page in
 * ≤ 50 ms p95. Run: `npx tsx bench/admin-list.ts` (figures go in BENCHMARKS.md).
 *
 *   ADMIN_BENCH_ROWS=100000  tool calls to seed
 *   ADMIN_BENCH_REQUESTS=200 requests per filter (after 20 warm-up requests)
 *   ADMIN_BENCH_KEEP=1       keep the seeded database (its name is printed)
 */
import { cpus, loadavg } from 'node:os';
import postgres from 'postgres';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { createApp } from '../src/app/create-app.js';
import { createBenchDatabase, dropAllBenchDatabases } from './bench-database.js';
import { distribution } from './percentiles.js';

const ROWS = Number(process.env.ADMIN_BENCH_ROWS ?? 100_000);
const REQUESTS = Number(process.env.ADMIN_BENCH_REQUESTS ?? 200);
const WARMUP = 20;
const TARGET_P95_MS = 50;
const TOKEN = 'admin-bench-token-0123456789abcdef';

/** Realistic skew: most calls succeed, a few fail or are refused; web dominates; three providers. */
async function seed(url: string): Promise<{ conversationId: string; user: string; tool: string }> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const conversations = Math.max(1, Math.round(ROWS / 20));
    const messagesPerConversation = 4;
    await sql.unsafe(`
      insert into conversations (id, channel, external_user_id, created_at, updated_at)
      select gen_random_uuid(),
             (array['web','web','web','web','web','sms','sms','slack','slack','whatsapp'])[1 + (i % 10)],
             case when i % 10 in (5, 6, 9) then '+1415555' || lpad(i::text, 4, '0') else 'user-' || i end,
             now() - interval '30 days', now() - (i % 720) * interval '1 hour'
      from generate_series(1, ${conversations}) i`);
    await sql.unsafe(`
      insert into messages (id, conversation_id, role, text, status, provider, latency_ms, created_at, updated_at)
      select gen_random_uuid(), c.id, 'user', 'message ' || m, 'answered',
             (array['openai','openai','anthropic','groq'])[1 + (m % 4)], 200 + (m * 37) % 900,
             now() - random() * interval '30 days', now()
      from conversations c, generate_series(1, ${messagesPerConversation}) m`);
    await sql.unsafe(`
      insert into tool_calls (id, conversation_id, message_id, call_id, tool_name, arguments, result, status, error,
                              duration_ms, provider, model, step, idempotency_key, created_at, completed_at)
      select gen_random_uuid(), m.conversation_id, m.id, 'call_' || k, t.tool,
             jsonb_build_object('orderId', 'ord_' || (abs(hashtext(m.id::text || k)) % 100000), 'email', 'person' || k || '@example.com', 'amount', k * 3),
             jsonb_build_object('ok', true), t.status, case when t.status = 'ok' then null else 'failed: ' || t.status end,
             10 + (k * 13) % 400, m.provider, 'model-x', 0, m.id || ':call_' || k, t.at, t.at
      from (select *, row_number() over () as rn from messages) m,
           generate_series(1, ${Math.ceil(ROWS / (conversations * messagesPerConversation))}) k,
           lateral (select
             (array['create_checkout_link','get_order_status','lookup_customer','book_meeting','send_email',
                    'create_contact','issue_refund','search_docs','update_ticket','check_stock'])[1 + ((m.rn + k) % 10)] as tool,
             case when (m.rn * 7 + k) % 100 < 85 then 'ok' when (m.rn * 7 + k) % 100 < 93 then 'error'
                  when (m.rn * 7 + k) % 100 < 97 then 'invalid' when (m.rn * 7 + k) % 100 < 99 then 'refused' else 'pending' end as status,
             m.created_at + k * interval '1 second' as at) t
      limit ${ROWS}`);
    // Settle the fresh rows (visibility map, statistics) so autovacuum does not run during the measurement.
    await sql.unsafe('vacuum analyze');
    const [count] = await sql`select count(*)::int as n from tool_calls`;
    if (count!.n !== ROWS) throw new Error(`seeded ${count!.n} tool calls, expected ${ROWS}`);
    const [sample] = await sql`
      select t.conversation_id, c.external_user_id, t.tool_name from tool_calls t join conversations c on c.id = t.conversation_id
      where c.channel = 'sms' order by t.created_at desc limit 1`;
    return { conversationId: sample!.conversation_id, user: sample!.external_user_id, tool: sample!.tool_name };
  } finally {
    await sql.end();
  }
}

async function main(): Promise<void> {
  const database = await createBenchDatabase();
  const config = loadConfig({ DATABASE_URL: database.url, ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent', DATA_DIR: '/tmp/switchboard-admin-bench' });
  const app = await createApp(config, { logger: createLogger({ level: 'silent' }) });
  try {
    // Server-side time of each request (routing, auth, query, redaction, audit insert, serialisation).
    const serverTimes: number[] = [];
    app.http.addHook('onResponse', async (_request, reply) => {
      serverTimes.push(reply.elapsedTime);
    });
    const url = await app.listen(0, '127.0.0.1');
    const seeded = Date.now();
    const sample = await seed(database.url);
    console.log(`seeded ${ROWS} tool calls in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);

    const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString();
    const firstPage = await get(url, '/api/admin/tool-calls?limit=50');
    const scenarios: [string, string][] = [
      ['newest page, no filter', ''],
      ['status=error', 'status=error'],
      ['status=refused (2%)', 'status=refused'],
      ['status=refused,invalid', 'status=refused,invalid'],
      ['tool', `tool=${sample.tool}`],
      ['channel=whatsapp (10%)', 'channel=whatsapp'],
      ['user (one person)', `user=${encodeURIComponent(sample.user)}`],
      ['provider=groq', 'provider=groq'],
      ['conversation', `conversation=${sample.conversationId}`],
      ['time range (one day, 10 days ago)', `from=${day(11)}&to=${day(10)}`],
      ['tool + status + channel', `tool=${sample.tool}&status=error&channel=sms`],
      ['free text q=ord_12345', 'q=ord_12345'],
      ['free text + status=error', 'q=ord_1&status=error'],
      ['second page (cursor)', `cursor=${firstPage.nextCursor}`],
    ];

    // Round robin over the filters, so a burst of load from elsewhere on the machine spreads over all of them.
    const paths = scenarios.map(([, query]) => `/api/admin/tool-calls?limit=50${query ? `&${query}` : ''}`);
    for (let i = 0; i < WARMUP; i++) for (const path of paths) await get(url, path);
    const samples: number[][] = paths.map(() => []);
    const items: number[] = paths.map(() => 0);
    for (let i = 0; i < REQUESTS; i++) {
      for (const [index, path] of paths.entries()) {
        const started = performance.now();
        const page = await get(url, path);
        samples[index]!.push(performance.now() - started);
        items[index] = page.items.length;
      }
    }
    const all = samples.flat();
    const measuredServer = serverTimes.slice(-all.length);
    const rows = scenarios.map(([name], index) => {
      const stats = distribution(samples[index]!);
      const p95 = percentile(samples[index]!, 95);
      console.log(`${name.padEnd(36)} rows ${String(items[index]).padStart(3)}  p50 ${stats.p50.toFixed(1)} ms  p95 ${p95.toFixed(1)} ms`);
      return `| ${name} | ${items[index]} | ${stats.p50.toFixed(1)} | ${p95.toFixed(1)} | ${stats.p99.toFixed(1)} | ${stats.max.toFixed(1)} |`;
    });
    const p95 = percentile(all, 95);
    console.log('\n| filter | rows | p50 ms | p95 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- | --- |');
    console.log(rows.join('\n'));
    const perScenarioP95 = samples.map((scenario) => percentile(scenario, 95));
    console.log(`\nload average during the run: ${loadavg().map((value) => value.toFixed(1)).join(' / ')} on ${cpus().length} cores`);
    console.log(`server-side time of the same requests: p50 ${percentile(measuredServer, 50).toFixed(1)} ms, p95 ${percentile(measuredServer, 95).toFixed(1)} ms`);
    console.log(`all filters: ${all.length} requests, p95 ${p95.toFixed(1)} ms; worst filter p95 ${Math.max(...perScenarioP95).toFixed(1)} ms (target ≤ ${TARGET_P95_MS} ms)`);
    if (Math.max(...perScenarioP95) > TARGET_P95_MS) process.exitCode = 1;
  } finally {
    await app.close();
    // ADMIN_BENCH_KEEP=1 leaves the seeded database for EXPLAIN ANALYZE by hand.
    if (process.env.ADMIN_BENCH_KEEP === '1') console.log(`kept database ${database.name}`);
    else await dropAllBenchDatabases();
  }
}

async function get(base: string, path: string): Promise<{ items: unknown[]; nextCursor: string | null }> {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as { items: unknown[]; nextCursor: string | null };
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

main().catch(async (error: unknown) => {
  console.error(error);
  await dropAllBenchDatabases().catch(() => undefined);
  process.exitCode = 1;
});
