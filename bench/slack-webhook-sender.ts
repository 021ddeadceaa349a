/**
 * The load generator of bench/channels.ts, in a process of its own so that nothing
 * else (the fake Slack Web API, result checks) competes with it for its event loop:
 * a late sender would show up as a slow server.
 *
 * It receives a `SenderPlan` over IPC, signs every request before the clock starts,
 * sends event i at start + i / rate (open loop), re-sends a share of them as Slack
 * retries, and answers with a `SenderReport`. An ack's time runs from the moment the
 * request was due, not from when it was written, so a sender that falls behind
 * counts against the figure instead of hiding it; how late it was is reported too.
 */
import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface SenderPhase {
  /** Event ids are `EvBENCH<firstIndex + i>`; phases must not overlap. */
  firstIndex: number;
  count: number;
  rate: number;
  /** Every `retryEvery`-th event is re-sent as retry 1 after 50 ms and retry 2 after 1 s (0: none). */
  retryEvery: number;
}

export interface SenderPlan {
  type: 'plan';
  url: string;
  signingSecret: string;
  botUserId: string;
  /** Excluded from the figures (JIT, connection pools); its events are still stored and answered. */
  warmup: SenderPhase;
  /** Pause between the warm-up and the measured phase. */
  pauseMs: number;
  measured: SenderPhase;
}

export interface SenderReport {
  type: 'report';
  /** Per measured first delivery: ms from due time to the end of the response. */
  firstAckMs: number[];
  retryAckMs: number[];
  statuses: Record<string, number>;
  /** Wall time from the first measured send to the last response. */
  measuredSeconds: number;
  /** How late sends started against their schedule (ms): the sender's own lag. */
  sendLateMs: { p50: number; p99: number; max: number };
  /** The sender's event-loop delay during the measured phase (ms). */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** CPU the sender used during the measured phase (user + system, ms). */
  cpuMs: number;
}

interface Prepared {
  body: string;
  headers: Record<string, string>;
}

const RETRY_DELAYS_MS = [50, 1000] as const;

function prepare(plan: SenderPlan, phase: SenderPhase): { first: Prepared[]; retries: Map<number, Prepared[]> } {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const first: Prepared[] = [];
  const retries = new Map<number, Prepared[]>();
  for (let i = 0; i < phase.count; i++) {
    const index = phase.firstIndex + i;
    const body = JSON.stringify({
      team_id: 'TBENCH',
      api_app_id: 'ABENCH',
      type: 'event_callback',
      event_id: `EvBENCH${index}`,
      event_time: Number(timestamp),
      event: {
        type: 'app_mention',
        user: `UBENCH${index % 500}`,
        text: `<@${plan.botUserId}> bench question ${index}`,
        ts: `${1_800_000_000 + index}.000100`,
        channel: 'CBENCH',
      },
    });
    const signature = `v0=${createHmac('sha256', plan.signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': signature,
    };
    first.push({ body, headers });
    if (phase.retryEvery > 0 && i % phase.retryEvery === 0) {
      retries.set(
        i,
        RETRY_DELAYS_MS.map((_delay, n) => ({
          body,
          headers: { ...headers, 'x-slack-retry-num': String(n + 1), 'x-slack-retry-reason': 'http_timeout' },
        })),
      );
    }
  }
  return { first, retries };
}

async function run(plan: SenderPlan): Promise<SenderReport> {
  const url = new URL(plan.url);
  // Keep-alive like Slack's senders; enough sockets that none waits for another's response.
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const statuses: Record<string, number> = {};
  const send = (prepared: Prepared, dueAt: number) =>
    new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent, headers: prepared.headers }, (res) => {
        res.resume();
        res.on('end', () => {
          statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
          resolve(performance.now() - dueAt);
        });
      });
      req.on('error', reject);
      req.end(prepared.body);
    });

  const sleepUntil = (at: number) => {
    const wait = at - performance.now();
    return wait > 0.5 ? new Promise((resolve) => setTimeout(resolve, wait)) : undefined;
  };

  const runPhase = async (phase: SenderPhase, late: number[] | undefined) => {
    const { first, retries } = prepare(plan, phase);
    const firstAcks: number[] = [];
    const retryAcks: number[] = [];
    const pending: Promise<void>[] = [];
    const start = performance.now() + 5;
    for (let i = 0; i < first.length; i++) {
      const dueAt = start + (i * 1000) / phase.rate;
      await sleepUntil(dueAt);
      late?.push(Math.max(0, performance.now() - dueAt));
      pending.push(send(first[i]!, dueAt).then((ms) => void firstAcks.push(ms)));
      for (const [n, retry] of (retries.get(i) ?? []).entries()) {
        const retryDue = dueAt + RETRY_DELAYS_MS[n]!;
        pending.push(
          new Promise<void>((resolve) => setTimeout(resolve, retryDue - performance.now()))
            .then(() => send(retry, retryDue))
            .then((ms) => void retryAcks.push(ms)),
        );
      }
    }
    await Promise.all(pending);
    return { firstAcks, retryAcks, seconds: (performance.now() - start) / 1000 };
  };

  await runPhase(plan.warmup, undefined);
  await new Promise((resolve) => setTimeout(resolve, plan.pauseMs));
  for (const key of Object.keys(statuses)) delete statuses[key];

  const late: number[] = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const cpuBefore = process.cpuUsage();
  const measured = await runPhase(plan.measured, late);
  const cpu = process.cpuUsage(cpuBefore);
  loopDelay.disable();
  agent.destroy();

  late.sort((a, b) => a - b);
  const at = (p: number) => round(late[Math.min(late.length - 1, Math.max(0, Math.ceil((p / 100) * late.length) - 1))] ?? 0);
  const ns = (value: number) => round(value / 1e6);
  return {
    type: 'report',
    firstAckMs: measured.firstAcks,
    retryAckMs: measured.retryAcks,
    statuses,
    measuredSeconds: round(measured.seconds),
    sendLateMs: { p50: at(50), p99: at(99), max: round(late.at(-1) ?? 0) },
    eventLoopDelayMs: { p50: ns(loopDelay.percentile(50)), p99: ns(loopDelay.percentile(99)), max: ns(loopDelay.max) },
    cpuMs: round((cpu.user + cpu.system) / 1000),
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

process.once('message', (plan: SenderPlan) => {
  run(plan).then(
    (report) => process.send?.(report, () => process.exit(0)),
    (error: unknown) => {
      process.stderr.write(`slack-webhook-sender failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
});
