import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { readCommits } from '../bench-database.js';
import { stackOptions, startEmbeddedStack, startStack } from '../bench-stack.js';
import { CpuMeter, cpuPerMessage } from '../cpu-meter.js';
import { OperatorApi } from '../operator-api.js';
import type { BenchOptions } from '../options.js';
import { sendPaced, type PacedResult } from '../paced-requests.js';
import { distribution } from '../percentiles.js';
import { loadAverage1m } from '../proc-stats.js';
import type { ScenarioResult } from '../report.js';
import { StripeDeliveries, type Delivery, type DeliveryKind } from '../stripe-deliveries.js';

/** After the last answer, handling (claim, outcome) has this long before the store is checked. */
const DRAIN_MS = 1_000;
/** Events still `received` after the drain: polled until handled or this long has passed. */
const DRAIN_LIMIT_MS = 10_000;
const PAGE_SIZE = 200;
/**
 * PostgreSQL transactions each delivery should commit (src/payments): the insert (on conflict do
 * nothing, also for a redelivery); a checkout event is then claimed and finished (two updates).
 */
const EXPECTED_COMMITS: Record<DeliveryKind, number> = { checkout: 3, ignored: 1, redelivery: 1 };

interface Sent extends Delivery {
  result: PacedResult;
}

/**
 * Signed Stripe webhooks (issue 17): `--rate` events/s, open loop, for `--duration` s after
 * `--warmup-seconds` of unmeasured ones. New events alternate between checkout.session.completed
 * for unknown sessions and types we do not act on; every 20th delivery redelivers an acknowledged
 * event. Measured: request issued → 200 read. The floor, in its own window at the same rate and
 * count: `GET /health`. Afterwards the store must hold every event id once, none left `received`.
 */
export async function runWebhook(options: BenchOptions, runId: string): Promise<ScenarioResult> {
  const token = `bench-${randomBytes(16).toString('hex')}`;
  const secret = `whsec_bench${randomBytes(16).toString('hex')}`;
  const settings = { ...stackOptions(options, 0), serverEnv: { ADMIN_TOKEN: token, STRIPE_WEBHOOK_SECRET: secret, ...options.serverEnv } };
  const stack = options.embedded ? await startEmbeddedStack(settings) : await startStack(settings);
  // Embedded, PGlite runs inside the server: no backends to meter (a name that matches none reads 0), no commits to count.
  const databaseName = 'database' in stack ? stack.database.name : undefined;
  const pids = {
    server: stack.server.pid,
    fakeProvider: stack.provider.pid,
    database: 'database' in stack ? stack.database.name : basename(stack.dataDir),
    ...('proxy' in stack && stack.proxy && { pgProxy: stack.proxy.pid }),
  };
  const url = stack.server.url;
  const rate = options.webhookRate;
  const count = rate * options.webhookDuration;
  const deliveries = new StripeDeliveries(`bench${runId}`, secret);
  const loadAverage = loadAverage1m();

  const sendEvents = async (events: number): Promise<Sent[]> => {
    const built: Delivery[] = [];
    const results = await sendPaced(url, {
      rate,
      count: events,
      build: (i) => (built[i] = deliveries.next()).request,
      onResult: (i, result) => {
        const delivery = built[i]!;
        if (delivery.kind !== 'redelivery' && answer(result) === 'new') deliveries.acknowledge(delivery.eventId);
      },
    });
    return results.map((result, i) => ({ ...built[i]!, result }));
  };
  const sendHealth = (requests: number) => sendPaced(url, { rate, count: requests, build: () => ({ method: 'GET', path: '/health' }) });

  // Before any event, so the server's start-up transactions are not counted; its pool reconnects during the warm-up.
  const commitsAtStart = databaseName ? await readCommits(databaseName) : NaN;
  const warmup = await sendEvents(rate * options.warmupSeconds);
  await sendHealth(rate);

  let meter = new CpuMeter(pids);
  const floor = await sendHealth(count);
  const floorCpu = meter.stop();

  meter = new CpuMeter(pids);
  const measured = await sendEvents(count);
  const eventCpu = meter.stop();

  await new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
  const commitsAtEnd = databaseName ? await readCommits(databaseName) : NaN;
  const api = new OperatorApi(url, token);
  const drainedAfterMs = await waitUntilHandled(api);
  const stored = await verifyStore(api, deliveries.sent());

  const memory = stack.server.sampleMemory();
  const serverLogLines = stack.server.logLines;
  const exitCode = await stack.stop();

  const all = [...warmup, ...measured];
  const failures = all.filter((sent) => answer(sent.result) === 'failed');
  const wrongAnswers = all.filter((sent) => {
    const got = answer(sent.result);
    return got !== 'failed' && got !== (sent.kind === 'redelivery' ? 'duplicate' : 'new');
  }).length;
  const answered = measured.filter((sent) => answer(sent.result) !== 'failed');
  const ack = distribution(answered.map((sent) => sent.result.ackMs));
  const redeliveryAck = distribution(answered.filter((sent) => sent.kind === 'redelivery').map((sent) => sent.result.ackMs));
  const late = distribution(measured.map((sent) => sent.result.lateMs));
  const floorOk = floor.filter((result) => result.status === 200);
  const floorAck = distribution(floorOk.map((result) => result.ackMs));
  const perEvent = cpuPerMessage(eventCpu, measured.length);
  const perFloorRequest = cpuPerMessage(floorCpu, floorOk.length);
  const commitsPerEvent = round2((commitsAtEnd - commitsAtStart) / all.length);
  const expectedCommitsPerEvent = round2(all.reduce((sum, sent) => sum + EXPECTED_COMMITS[sent.kind], 0) / all.length);
  const kinds = (list: Sent[]) => ({
    checkout: list.filter((sent) => sent.kind === 'checkout').length,
    ignored: list.filter((sent) => sent.kind === 'ignored').length,
    redelivery: list.filter((sent) => sent.kind === 'redelivery').length,
  });

  return {
    scenario: options.embedded ? 'webhook (embedded)' : 'webhook',
    rows: [
      { metric: 'ack (issued → 200) p50', value: ack.p50, unit: 'ms' },
      { metric: 'ack p99', value: ack.p99, unit: 'ms' },
      { metric: 'ack max', value: ack.max, unit: 'ms' },
      { metric: 'ack p50, redeliveries only', value: redeliveryAck.p50, unit: 'ms' },
      { metric: 'floor: GET /health p50', value: floorAck.p50, unit: 'ms' },
      { metric: 'floor: GET /health p99', value: floorAck.p99, unit: 'ms' },
      { metric: 'ack p50 / floor p50', value: round2(ack.p50 / floorAck.p50), unit: '×' },
      { metric: 'server CPU per event', value: perEvent?.server ?? NaN, unit: 'ms' },
      { metric: 'PostgreSQL CPU per event', value: perEvent?.postgres ?? NaN, unit: 'ms' },
      { metric: 'server CPU per floor request', value: perFloorRequest?.server ?? NaN, unit: 'ms' },
      // At the same rate both pay the same HTTP handling, wake-ups and background work: the rest is the webhook's.
      { metric: 'server CPU per event above the floor', value: round2((perEvent?.server ?? NaN) - (perFloorRequest?.server ?? NaN)), unit: 'ms' },
      { metric: 'PostgreSQL commits per event', value: commitsPerEvent, unit: '' },
      { metric: 'commits per event expected from the code', value: databaseName ? expectedCommitsPerEvent : NaN, unit: '' },
      { metric: 'events measured', value: measured.length, unit: '' },
      { metric: 'sender late p99', value: late.p99, unit: 'ms' },
      { metric: 'errors (non-200, failed)', value: failures.length, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'wrong answers (duplicate flag)', value: wrongAnswers, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'event ids sent', value: deliveries.sent().size, unit: '' },
      { metric: 'event ids stored', value: stored.distinct, unit: '' },
      { metric: 'ids missing or stored twice', value: stored.missing + stored.storedTwice + stored.unexpected, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'left received after drain', value: stored.received, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'wrong status or outcome', value: stored.wrongOutcome, unit: '', target: { op: '<=', value: 0 } },
    ],
    details: {
      parameters: { rate, duration: options.webhookDuration, warmupSeconds: options.warmupSeconds, embedded: options.embedded, drainMs: DRAIN_MS },
      sent: { warmup: kinds(warmup), measured: kinds(measured) },
      ackMs: ack,
      redeliveryAckMs: redeliveryAck,
      floorMs: floorAck,
      floorFailures: floor.length - floorOk.length,
      sendLateMs: late,
      eventsPerSecond: round2(answered.length / (eventCpu.wallMs / 1000)),
      commits: { atStart: commitsAtStart, atEnd: commitsAtEnd, events: all.length, perEvent: commitsPerEvent, expectedPerEvent: expectedCommitsPerEvent },
      store: stored,
      drainedAfterMs,
      cpu: eventCpu,
      cpuMsPerEvent: perEvent,
      floorCpu,
      cpuMsPerFloorRequest: perFloorRequest,
      serverRssBytes: memory.rss,
      serverPeakRssBytes: memory.peakRss,
      failures: failures.length,
      wrongAnswers,
      errorSamples: [...new Set(failures.map((sent) => sent.result.error ?? `${sent.result.status} ${sent.result.body.slice(0, 200)}`))].slice(0, 5),
      serverLogLines,
      serverExitCode: exitCode,
      loadAverage1mAtStart: loadAverage,
    },
  };
}

/** How the webhook answered: 200 `{ received: true }` for a new event, with `duplicate: true` for one already stored. */
function answer(result: PacedResult): 'new' | 'duplicate' | 'failed' {
  if (result.status !== 200) return 'failed';
  try {
    const body = JSON.parse(result.body) as { received?: unknown; duplicate?: unknown };
    if (body.received !== true) return 'failed';
    return body.duplicate === true ? 'duplicate' : 'new';
  } catch {
    return 'failed';
  }
}

/** Ms after the drain until no stored event is left `received` (0: none was); NaN if some still were after DRAIN_LIMIT_MS. */
async function waitUntilHandled(api: OperatorApi): Promise<number> {
  const started = performance.now();
  while ((await api.payments('status=received&limit=1')).body.items.length > 0) {
    if (performance.now() - started > DRAIN_LIMIT_MS) return NaN;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return Math.round(performance.now() - started);
}

/** Every stored event through the admin API, against what was sent: each id once, handled as its type says. */
async function verifyStore(api: OperatorApi, sent: ReadonlyMap<string, Exclude<DeliveryKind, 'redelivery'>>) {
  const rows: { id: string; status: string; outcome: string | null }[] = [];
  const maxPages = Math.ceil(sent.size / PAGE_SIZE) + 5;
  let cursor: string | null = null;
  for (let page = 0; page < maxPages; page++) {
    const query: string = `limit=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const { body } = await api.payments(query);
    rows.push(...body.items);
    cursor = body.nextCursor;
    if (!cursor) break;
  }
  const ids = new Set(rows.map((row) => row.id));
  const expected = { checkout: { status: 'processed', outcome: 'unknown_session' }, ignored: { status: 'ignored', outcome: 'ignored' } };
  return {
    rows: rows.length,
    distinct: ids.size,
    storedTwice: rows.length - ids.size,
    missing: [...sent.keys()].filter((id) => !ids.has(id)).length,
    unexpected: [...ids].filter((id) => !sent.has(id)).length,
    received: rows.filter((row) => row.status === 'received').length,
    wrongOutcome: rows.filter((row) => {
      const kind = sent.get(row.id);
      return kind !== undefined && row.status !== 'received' && (row.status !== expected[kind].status || row.outcome !== expected[kind].outcome);
    }).length,
    morePages: cursor !== null,
  };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
