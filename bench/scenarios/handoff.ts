import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { stackOptions, startEmbeddedStack, startStack } from '../bench-stack.js';
import { CpuMeter, cpuPerMessage, type CpuUsage } from '../cpu-meter.js';
import { HandoffVisitor } from '../handoff-visitor.js';
import { OperatorApi } from '../operator-api.js';
import type { BenchOptions } from '../options.js';
import { distribution } from '../percentiles.js';
import { loadAverage1m } from '../proc-stats.js';
import type { ScenarioResult } from '../report.js';
import { CONNECT_TIMEOUT_MS, LATE_REPLY_MS, MESSAGE_TIMEOUT_MS } from '../visitor.js';

/** More failures than this and the run is broken, not slow: stop instead of waiting out every timeout. */
const MAX_ERRORS = 10;
/** Unmeasured: one operator reply per visitor, and this many floor requests, before the measured windows. */
const WARMUP_FLOOR_REQUESTS = 50;

interface MeasuredReply {
  /** POST issued → the visitor's `reply.done` with that message id. */
  deliveredMs: number;
  /** POST issued → response parsed. */
  apiMs: number;
  arrivedBeforeResponse: boolean;
}

/**
 * Operator replies (issue 16): `--visitors` web visitors each ask one question (a web conversation
 * is stored with its first message) and are taken over by the ADMIN_TOKEN holder ("Support");
 * then `--replies` rounds of one operator reply per visitor, one request in flight at a time.
 * Measured per reply: API POST issued → that message's `reply.done` at the visitor, and the API
 * response alone. The floor, in its own window of as many requests: `GET /api/admin/me`, the
 * cheapest authenticated admin round trip over the same keep-alive HTTP client.
 */
export async function runHandoff(options: BenchOptions, runId: string): Promise<ScenarioResult> {
  const token = `bench-${randomBytes(16).toString('hex')}`;
  const settings = { ...stackOptions(options, 0), serverEnv: { ADMIN_TOKEN: token, ...options.serverEnv } };
  const stack = options.embedded ? await startEmbeddedStack(settings) : await startStack(settings);
  const atStart = stack.server.sampleMemory();
  // Embedded, no PostgreSQL process serves the server: a name that matches none reads 0.
  const cpuDatabase = 'database' in stack ? stack.database.name : basename(stack.dataDir);
  const api = new OperatorApi(stack.server.url, token);
  const label = `handoff-${runId}`;
  const visitors: HandoffVisitor[] = [];
  const errors: string[] = [];
  const takeoverMs: number[] = [];
  const floorMs: number[] = [];
  const replies: MeasuredReply[] = [];
  const loadAverage = loadAverage1m();
  let floorCpu: CpuUsage | undefined;
  let replyCpu: CpuUsage | undefined;
  let sequence = 0;
  let providerRequestsDuringReplies = NaN;

  const operatorReply = async (visitor: HandoffVisitor): Promise<MeasuredReply> => {
    const text = `${label} operator reply ${++sequence}: a person here, let me check that for you.`;
    const response = await api.reply(visitor.conversationId, text);
    const arrival = await visitor.arrivalOf(response.body.messageId, MESSAGE_TIMEOUT_MS);
    if (response.body.delivery !== 'sent') throw new Error(`delivery ${response.body.delivery}`);
    if (arrival.author !== 'operator' || arrival.operatorName !== 'Support') {
      throw new Error(`reply.done from ${arrival.author}/${arrival.operatorName}, expected operator/Support`);
    }
    const deliveredMs = arrival.at - response.startedAt;
    return { deliveredMs, apiMs: response.ms, arrivedBeforeResponse: deliveredMs < response.ms };
  };

  try {
    for (let i = 0; i < options.visitors; i++) {
      const visitor = await HandoffVisitor.connect(stack.server.url, CONNECT_TIMEOUT_MS);
      visitors.push(visitor);
      await visitor.ask(`${label} visitor ${i}: can I talk to a person?`, `${label}-${i}`, MESSAGE_TIMEOUT_MS);
      const takeover = await api.takeover(visitor.conversationId);
      if (takeover.body.status !== 'active') throw new Error(`takeover left the handoff ${takeover.body.status}`);
      takeoverMs.push(takeover.ms);
    }
    for (const visitor of visitors) await operatorReply(visitor);
    for (let i = 0; i < WARMUP_FLOOR_REQUESTS; i++) await api.me();

    const total = options.visitors * options.replies;
    const floorMeter = new CpuMeter({ server: stack.server.pid, fakeProvider: stack.provider.pid, database: cpuDatabase, ...('proxy' in stack && stack.proxy && { pgProxy: stack.proxy.pid }) });
    for (let i = 0; i < total; i++) floorMs.push((await api.me()).ms);
    floorCpu = floorMeter.stop();

    // Cleared here, read after: an operator reply should call no model.
    await stack.provider.takeTimings();
    const replyMeter = new CpuMeter({ server: stack.server.pid, fakeProvider: stack.provider.pid, database: cpuDatabase, ...('proxy' in stack && stack.proxy && { pgProxy: stack.proxy.pid }) });
    for (let round = 0; round < options.replies && errors.length < MAX_ERRORS; round++) {
      for (const visitor of visitors) {
        if (errors.length >= MAX_ERRORS) break;
        try {
          replies.push(await operatorReply(visitor));
        } catch (error) {
          errors.push(String(error));
        }
      }
    }
    replyCpu = replyMeter.stop();
    const during = await stack.provider.takeTimings();
    providerRequestsDuringReplies = during.untagged + [...during.timings.values()].reduce((sum, timing) => sum + timing.requests, 0);
  } finally {
    for (const visitor of visitors) visitor.close();
  }
  const memory = stack.server.sampleMemory();
  const serverLogLines = stack.server.logLines;
  const exitCode = await stack.stop();

  const delivered = distribution(replies.map((reply) => reply.deliveredMs));
  const apiResponse = distribution(replies.map((reply) => reply.apiMs));
  const floor = distribution(floorMs);
  const perReply = cpuPerMessage(replyCpu, replies.length);
  const perFloorRequest = cpuPerMessage(floorCpu, floorMs.length);
  const lateReplies = replies.filter((reply) => reply.deliveredMs > LATE_REPLY_MS).length;
  return {
    scenario: options.embedded ? 'handoff (embedded)' : 'handoff',
    rows: [
      { metric: 'operator reply delivered p50', value: delivered.p50, unit: 'ms' },
      { metric: 'operator reply delivered p99', value: delivered.p99, unit: 'ms' },
      { metric: 'operator reply delivered max', value: delivered.max, unit: 'ms' },
      { metric: 'operator reply API response p50', value: apiResponse.p50, unit: 'ms' },
      { metric: 'operator reply API response p99', value: apiResponse.p99, unit: 'ms' },
      { metric: 'floor: GET /api/admin/me p50', value: floor.p50, unit: 'ms' },
      { metric: 'floor: GET /api/admin/me p99', value: floor.p99, unit: 'ms' },
      { metric: 'delivered p50 / floor p50', value: Math.round((delivered.p50 / floor.p50) * 100) / 100, unit: '×' },
      { metric: 'takeover API response p50', value: distribution(takeoverMs).p50, unit: 'ms' },
      { metric: 'server CPU per reply', value: perReply?.server ?? NaN, unit: 'ms' },
      { metric: 'PostgreSQL CPU per reply', value: perReply?.postgres ?? NaN, unit: 'ms' },
      { metric: 'Redis CPU per reply', value: perReply?.redis ?? NaN, unit: 'ms' },
      { metric: 'server CPU per floor request', value: perFloorRequest?.server ?? NaN, unit: 'ms' },
      { metric: 'replies measured', value: delivered.count, unit: '' },
      { metric: 'errors (failed, or reply > 10 s)', value: errors.length + lateReplies, unit: '' },
    ],
    details: {
      parameters: { visitors: options.visitors, replies: options.replies, embedded: options.embedded, inFlight: 1 },
      deliveredMs: delivered,
      apiResponseMs: apiResponse,
      floorMs: floor,
      takeoverMs: distribution(takeoverMs),
      providerRequestsDuringReplies,
      arrivedBeforeResponse: replies.filter((reply) => reply.arrivedBeforeResponse).length,
      repliesPerSecond: replyCpu ? Math.round((replies.length / (replyCpu.wallMs / 1000)) * 10) / 10 : NaN,
      cpu: replyCpu,
      cpuMsPerReply: perReply,
      floorCpu,
      cpuMsPerFloorRequest: perFloorRequest,
      serverRssAtStartBytes: atStart.rss,
      serverPeakRssAtStartBytes: atStart.peakRss,
      serverRssBytes: memory.rss,
      serverPeakRssBytes: memory.peakRss,
      failures: errors.length,
      lateReplies,
      errorSamples: [...new Set(errors)].slice(0, 5),
      serverLogLines,
      serverExitCode: exitCode,
      loadAverage1mAtStart: loadAverage,
    },
  };
}
