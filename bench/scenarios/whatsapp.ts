import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { FAKE_PHONE_NUMBER_ID } from '../../test/fakes/fake-whatsapp-cloud-api.js';
import { stackOptions, startEmbeddedStack, startStack } from '../bench-stack.js';
import { CpuMeter, cpuPerMessage } from '../cpu-meter.js';
import { GraphApiAnswerer } from '../graph-api-answerer.js';
import type { BenchOptions } from '../options.js';
import { sendPaced, type PacedResult } from '../paced-requests.js';
import { distribution } from '../percentiles.js';
import { loadAverage1m } from '../proc-stats.js';
import { toMB, type ScenarioResult } from '../report.js';
import { WhatsAppDeliveries, type WhatsAppDelivery } from '../whatsapp-deliveries.js';
import { readCheck, ReplyTracker } from '../whatsapp-replies.js';

/** Each sender writes again after this many seconds of deliveries (rate × this many senders). */
const SENDER_PERIOD_S = 5;
/** `GET /health` per second alongside the measured deliveries: the server's own responsiveness meanwhile. */
const PROBE_RATE = 20;
/** After the last expected reply, a duplicate answer would still be in flight for about the model's latency: wait this much longer. */
const SETTLE_EXTRA_MS = 2_000;

interface Sent extends WhatsAppDelivery {
  result: PacedResult;
}

/**
 * Signed WhatsApp Cloud API deliveries (issue 18) with a slow model: `--rate` text messages/s,
 * open loop, for `--duration` s after `--warmup-seconds` of unmeasured ones, from rate × 5
 * senders; every 20th delivery redelivers an acknowledged wamid. Measured: request issued → 200
 * read (the ack), and request issued → the reply's arrival at a local Graph API (the fake model
 * answers after `--latency`, 2 s). Every distinct message must get exactly one answer and one
 * read receipt, and nothing else may be sent. The floor, in its own window at the same rate and
 * count: `GET /health`; a light `GET /health` probe also runs alongside the measured deliveries.
 */
export async function runWhatsApp(options: BenchOptions, runId: string): Promise<ScenarioResult> {
  const appSecret = randomBytes(16).toString('hex');
  const accessToken = `EAABench${randomBytes(16).toString('hex')}`;
  const graph = await GraphApiAnswerer.start({ phoneNumberId: FAKE_PHONE_NUMBER_ID, token: accessToken });
  try {
    return await measure(options, runId, graph, { appSecret, accessToken });
  } finally {
    await graph.close();
  }
}

async function measure(
  options: BenchOptions,
  runId: string,
  graph: GraphApiAnswerer,
  secrets: { appSecret: string; accessToken: string },
): Promise<ScenarioResult> {
  const serverEnv = {
    WHATSAPP_PHONE_NUMBER_ID: FAKE_PHONE_NUMBER_ID,
    WHATSAPP_ACCESS_TOKEN: secrets.accessToken,
    META_APP_SECRET: secrets.appSecret,
    WHATSAPP_VERIFY_TOKEN: `bench-${randomBytes(8).toString('hex')}`,
    WHATSAPP_API_URL: graph.url,
    ...options.serverEnv,
  };
  const settings = { ...stackOptions(options, options.whatsappLatency), serverEnv };
  const stack = options.embedded ? await startEmbeddedStack(settings) : await startStack(settings);
  const pids = {
    server: stack.server.pid,
    fakeProvider: stack.provider.pid,
    database: 'database' in stack ? stack.database.name : basename(stack.dataDir),
    ...('proxy' in stack && stack.proxy && { pgProxy: stack.proxy.pid }),
  };
  const url = stack.server.url;
  const rate = options.whatsappRate;
  const count = rate * options.webhookDuration;
  const deliveries = new WhatsAppDeliveries(`bench${runId}`, secrets.appSecret, rate * SENDER_PERIOD_S);
  const replies = new ReplyTracker(graph);
  const loadAverage = loadAverage1m();

  const sendMessages = async (messages: number): Promise<Sent[]> => {
    const built: WhatsAppDelivery[] = [];
    const results = await sendPaced(url, {
      rate,
      count: messages,
      build: (i) => {
        const delivery = (built[i] = deliveries.next());
        if (delivery.kind === 'new') replies.expect(delivery.from);
        return delivery.request;
      },
      onResult: (i, result) => {
        const delivery = built[i]!;
        if (delivery.kind === 'new' && acknowledged(result)) deliveries.acknowledge(delivery.wamid);
      },
    });
    return results.map((result, i) => ({ ...built[i]!, result }));
  };
  const sendHealth = (requests: number, perSecond = rate) => sendPaced(url, { rate: perSecond, count: requests, build: () => ({ method: 'GET', path: '/health' }) });

  // The warm-up's turns must be over before the floor: /health would otherwise share the server with them.
  const warmup = await sendMessages(rate * options.warmupSeconds);
  const warmupWait = await replies.waitForAll();
  await sendHealth(rate);

  let meter = new CpuMeter(pids);
  const floor = await sendHealth(count);
  const floorCpu = meter.stop();

  // Metered until the last reply: with a slow model most of a delivery's work comes after its ack.
  meter = new CpuMeter(pids);
  // The probe tells a busy event loop (slow /health too) from waits on PostgreSQL, Redis or the pool (only the ack slow).
  const [measured, probe] = await Promise.all([sendMessages(count), sendHealth(PROBE_RATE * options.webhookDuration, PROBE_RATE)]);
  const sentAllAt = performance.now();
  // While the deliveries went out, acks shared the server's thread with the turns of earlier messages.
  const sendingCpu = meter.stop();
  const measuredWait = await replies.waitForAll();
  const deliveryCpu = meter.stop();
  // A second answer to a redelivered message would come about one model latency after the first.
  await new Promise((resolve) => setTimeout(resolve, options.whatsappLatency + SETTLE_EXTRA_MS));

  const modelCalls = await stack.provider.takeTimings();
  const memory = stack.server.sampleMemory();
  const serverLogLines = stack.server.logLines;
  const exitCode = await stack.stop();

  const all = [...warmup, ...measured];
  const failures = all.filter((sent) => !acknowledged(sent.result));
  const answered = measured.filter((sent) => acknowledged(sent.result));
  const ack = distribution(answered.map((sent) => sent.result.ackMs));
  const redeliveryAck = distribution(answered.filter((sent) => sent.kind === 'redelivery').map((sent) => sent.result.ackMs));
  const late = distribution(measured.map((sent) => sent.result.lateMs));
  // Whether acks slow down as the turn backlog grows: p50 / p99 per second of the window.
  const ackBySecond = Array.from({ length: options.webhookDuration }, (_, second) => {
    const { p50, p99 } = distribution(answered.filter((sent) => Math.floor((sent.result.issuedAt - measured[0]!.result.issuedAt) / 1000) === second).map((sent) => sent.result.ackMs));
    return [p50, p99];
  });
  const floorOk = floor.filter((result) => result.status === 200);
  const floorAck = distribution(floorOk.map((result) => result.ackMs));
  const probeAck = distribution(probe.filter((result) => result.status === 200).map((result) => result.ackMs));
  const perDelivery = cpuPerMessage(deliveryCpu, measured.length);
  const perFloorRequest = cpuPerMessage(floorCpu, floorOk.length);

  const { replyMs, replyAt, ...check } = replies.check(all.filter((sent) => sent.kind === 'new').map((sent) => ({ ...sent, issuedAt: sent.result.issuedAt })));
  const measuredNew = measured.filter((sent) => sent.kind === 'new');
  const replyTimes = distribution(measuredNew.map((sent) => replyMs.get(sent.wamid)).filter((ms): ms is number => ms !== undefined));
  const warmupReplyTimes = distribution(warmup.filter((sent) => sent.kind === 'new').map((sent) => replyMs.get(sent.wamid)).filter((ms): ms is number => ms !== undefined));
  const reads = readCheck(graph, deliveries.sent());
  const redeliveries = all.filter((sent) => sent.kind === 'redelivery').length;
  const modelRequests = [...modelCalls.timings.values()].reduce((sum, timing) => sum + timing.requests, 0);
  // Turns finished per second while the measured replies came in (their first issue → their last reply).
  const lastMeasuredReply = measuredNew.reduce((last, sent) => Math.max(last, replyAt.get(sent.wamid) ?? -Infinity), -Infinity);
  const replyThroughput = Number.isFinite(lastMeasuredReply) ? round2(measuredNew.length / ((lastMeasuredReply - measured[0]!.result.issuedAt) / 1000)) : NaN;

  return {
    scenario: options.embedded ? 'whatsapp (embedded)' : 'whatsapp',
    rows: [
      { metric: 'ack (issued → 200) p50', value: ack.p50, unit: 'ms' },
      { metric: 'ack p99', value: ack.p99, unit: 'ms' },
      { metric: 'ack max', value: ack.max, unit: 'ms' },
      { metric: 'ack p50, redeliveries only', value: redeliveryAck.p50, unit: 'ms' },
      { metric: 'floor: GET /health p50', value: floorAck.p50, unit: 'ms' },
      { metric: 'floor: GET /health p99', value: floorAck.p99, unit: 'ms' },
      { metric: 'ack p50 / floor p50', value: round2(ack.p50 / floorAck.p50), unit: '×' },
      { metric: `GET /health meanwhile (${PROBE_RATE}/s) p50`, value: probeAck.p50, unit: 'ms' },
      { metric: 'GET /health meanwhile p99', value: probeAck.p99, unit: 'ms' },
      { metric: 'reply (issued → at Graph API) p50', value: replyTimes.p50, unit: 'ms' },
      { metric: 'reply p99', value: replyTimes.p99, unit: 'ms' },
      { metric: 'reply max', value: replyTimes.max, unit: 'ms' },
      { metric: 'replies per second (measured window)', value: replyThroughput, unit: '/s' },
      { metric: 'server CPU per delivery (to last reply)', value: perDelivery?.server ?? NaN, unit: 'ms' },
      { metric: 'PostgreSQL CPU per delivery', value: perDelivery?.postgres ?? NaN, unit: 'ms' },
      { metric: 'Redis CPU per delivery', value: perDelivery?.redis ?? NaN, unit: 'ms' },
      { metric: 'server CPU per floor request', value: perFloorRequest?.server ?? NaN, unit: 'ms' },
      { metric: 'server busy while sending', value: sendingCpu.percentOfOneCore.server, unit: '% of a core' },
      { metric: 'deliveries measured', value: measured.length, unit: '' },
      { metric: 'sender late p99', value: late.p99, unit: 'ms' },
      { metric: 'errors (non-200, failed)', value: failures.length, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'distinct messages sent', value: check.messages, unit: '' },
      { metric: 'redeliveries sent', value: redeliveries, unit: '' },
      { metric: 'answers at the Graph API (model text)', value: check.answers, unit: '' },
      { metric: 'messages without an answer', value: check.unanswered, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'answers beyond one per message', value: check.extra + check.unknownRecipient, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'other messages sent (notices)', value: check.others, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'model calls', value: modelRequests, unit: '' },
      { metric: 'messages never marked read', value: reads.unread, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'read receipts beyond one per message', value: reads.extra, unit: '', target: { op: '<=', value: 0 } },
      { metric: 'Graph API calls refused', value: graph.refused, unit: '', target: { op: '<=', value: 0 } },
    ],
    details: {
      parameters: {
        rate,
        duration: options.webhookDuration,
        warmupSeconds: options.warmupSeconds,
        modelLatencyMs: options.whatsappLatency,
        senders: rate * SENDER_PERIOD_S,
        embedded: options.embedded,
      },
      sent: { warmup: warmup.length, measured: measured.length, distinct: check.messages, redeliveries },
      ackMs: ack,
      redeliveryAckMs: redeliveryAck,
      ackP50P99BySecond: ackBySecond,
      floorMs: floorAck,
      floorFailures: floor.length - floorOk.length,
      probeMs: probeAck,
      probeFailures: probe.length - probeAck.count,
      replyMs: replyTimes,
      warmupReplyMs: warmupReplyTimes,
      replyWait: { warmup: warmupWait, measured: { ...measuredWait, afterLastSentMs: Math.round(measuredWait.endedAt - sentAllAt) } },
      sendLateMs: late,
      deliveriesPerSecond: round2(answered.length / ((sentAllAt - measured[0]!.result.issuedAt) / 1000)),
      replies: check,
      reads,
      modelCalls: { requests: modelRequests, distinctTexts: modelCalls.timings.size, untagged: modelCalls.untagged },
      cpu: deliveryCpu,
      cpuWhileSending: sendingCpu,
      cpuMsPerDelivery: perDelivery,
      floorCpu,
      cpuMsPerFloorRequest: perFloorRequest,
      serverRssMB: toMB(memory.rss),
      serverPeakRssMB: toMB(memory.peakRss),
      failures: failures.length,
      errorSamples: [...new Set(failures.map((sent) => sent.result.error ?? `${sent.result.status} ${sent.result.body.slice(0, 200)}`))].slice(0, 5),
      serverLogLines,
      serverExitCode: exitCode,
      loadAverage1mAtStart: loadAverage,
    },
  };
}

/** 200 `{ received: true }`: what the webhook answers for every delivery it accepted, new or not. */
function acknowledged(result: PacedResult): boolean {
  if (result.status !== 200) return false;
  try {
    return (JSON.parse(result.body) as { received?: unknown }).received === true;
  } catch {
    return false;
  }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
