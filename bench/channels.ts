/**
 * Channel webhook benchmark (issue 5): how fast the real server acknowledges signed
 * Slack events while the model takes 10 s per answer, and whether Slack's retries
 * ever cause a second agent run.
 *
 *   node --import tsx bench/channels.ts [--rate=200] [--seconds=10] [--latency=10000] [--retry-ratio=0.1]
 *
 * Open loop: event i is sent at start + i / rate, whatever happened to the others,
 * over keep-alive connections. A share of the events is sent again as Slack retries
 * (`X-Slack-Retry-Num` 1 after 50 ms, 2 after 1 s) while the first turn still runs.
 * The server is the production entry point in its own process (bench-stack.ts) with
 * PostgreSQL, Redis and the fake OpenAI provider; the Slack Web API is the test fake.
 * Acknowledgement time is measured at the client: request written → response read.
 * BENCH_CPU_PROF=DIR writes a V8 CPU profile of the server (summarise with bench/profile-summary.ts).
 */
import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { FAKE_SLACK_BOT_TOKEN, FAKE_SLACK_BOT_USER_ID, startFakeSlackApi } from '../test/fakes/fake-slack-api.js';
import { startStack } from './bench-stack.js';
import { killAllChildren } from './child-processes.js';
import { distribution } from './percentiles.js';

const SIGNING_SECRET = 'bench-slack-signing-secret';
const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    latency: { type: 'string', default: '10000' },
    'retry-ratio': { type: 'string', default: '0.1' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const latencyMs = Number(values.latency);
const retryRatio = Number(values['retry-ratio']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sign = (timestamp: string, body: string) => `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;

async function main(): Promise<void> {
  const slack = await startFakeSlackApi();
  const stack = await startStack({
    latencyMs,
    chunkSize: 16,
    cpuProfileDir: process.env.BENCH_CPU_PROF || undefined,
    serverRoot: undefined,
    serverEntry: undefined,
    serverEnv: {
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: FAKE_SLACK_BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      // Every turn waits `latency` for the model; nothing may give up or fall back before it answers.
      FALLBACK_AFTER_MS: String(latencyMs * 3),
      LLM_FIRST_TOKEN_TIMEOUT_MS: String(latencyMs * 3),
      LLM_ATTEMPT_TIMEOUT_MS: String(latencyMs * 6),
      LLM_TURN_TIMEOUT_MS: String(latencyMs * 6),
      QUEUE_CONCURRENCY: String(Math.min(1000, Math.max(16, rate * Math.ceil(latencyMs / 1000) * 2))),
    },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const url = new URL('/slack/events', stack.server.url);

  const send = (body: string, retryNum?: number) =>
    new Promise<{ status: number; ms: number }>((resolve, reject) => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const started = performance.now();
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-slack-request-timestamp': timestamp,
            'x-slack-signature': sign(timestamp, body),
            ...(retryNum !== undefined && { 'x-slack-retry-num': String(retryNum), 'x-slack-retry-reason': 'http_timeout' }),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const total = Math.round(rate * seconds);
  const firstAcks: number[] = [];
  const retryAcks: number[] = [];
  const statuses = new Map<number, number>();
  const pending: Promise<void>[] = [];
  const record = (into: number[]) => (result: { status: number; ms: number }) => {
    into.push(result.ms);
    statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
  };
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const ts = `${1_800_000_000 + i}.000100`;
    const body = JSON.stringify({
      team_id: 'TBENCH',
      api_app_id: 'ABENCH',
      type: 'event_callback',
      event_id: `EvBENCH${i}`,
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'app_mention', user: `UBENCH${i % 500}`, text: `<@${FAKE_SLACK_BOT_USER_ID}> bench question ${i}`, ts, channel: 'CBENCH' },
    });
    pending.push(send(body).then(record(firstAcks)));
    if (i % Math.max(1, Math.round(1 / retryRatio)) === 0) {
      pending.push(sleep(50).then(() => send(body, 1)).then(record(retryAcks)));
      pending.push(sleep(1000).then(() => send(body, 2)).then(record(retryAcks)));
    }
  }
  await Promise.all(pending);
  const sendSeconds = (performance.now() - start) / 1000;

  // Every turn takes `latency`; wait for all answers (or give up after a generous margin).
  const deadline = Date.now() + latencyMs + 120_000;
  while (slack.posts.length < total && Date.now() < deadline) await sleep(250);
  await sleep(2000);

  const { timings } = await stack.provider.takeTimings();
  const modelRuns = [...timings.values()].reduce((sum, timing) => sum + timing.requests, 0);
  const duplicateRuns = [...timings.values()].filter((timing) => timing.requests > 1).length;
  const postsPerThread = new Map<string, number>();
  for (const post of slack.posts) postsPerThread.set(post.thread_ts ?? '', (postsPerThread.get(post.thread_ts ?? '') ?? 0) + 1);
  const duplicateAnswers = [...postsPerThread.values()].filter((count) => count > 1).length;
  const sql = postgres(stack.database.url, { max: 1, onnotice: () => {} });
  const [stored] = await sql<{ n: number }[]>`select count(*)::int as n from messages where role = 'user'`;
  await sql.end();

  const report = {
    rate,
    seconds,
    sendSeconds: Math.round(sendSeconds * 100) / 100,
    modelLatencyMs: latencyMs,
    events: total,
    retriesSent: retryAcks.length,
    statuses: Object.fromEntries(statuses),
    ackMs: distribution(firstAcks),
    retryAckMs: distribution(retryAcks),
    storedUserMessages: stored?.n,
    answersPosted: slack.posts.length,
    modelRuns,
    duplicateModelRuns: duplicateRuns,
    duplicateAnswers,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  agent.destroy();
  await stack.stop();
  await slack.close();
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/channels failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  killAllChildren();
  process.exitCode = 1;
});
