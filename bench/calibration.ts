import OpenAI from 'openai';
import postgres from 'postgres';
import type { MeasuredExchange } from './server-added-latency.js';

/**
 * Reference costs on this machine, measured from the bench process in the same run:
 * one PostgreSQL round trip, and one streamed provider call through the official
 * OpenAI SDK. They put the server-added figures in proportion (how many round trips
 * is the server's overhead worth?).
 */
export interface Calibration {
  /** `select 1` round trips over one postgres.js connection. */
  postgresRoundTripMs: number[];
  /** The same through the bench's counting proxy, as the server reaches PostgreSQL: the proxy's cost per round trip is the difference. */
  proxiedRoundTripMs: number[];
  /** A parameterized statement as drizzle sends it (postgres.js, prepare: false): two round trips. */
  postgresUnpreparedQueryMs: number[];
  /** Streamed chat completions through the OpenAI SDK to the fake provider, call → end of stream. Keyed by text for the fake's own timings. */
  providerCalls: MeasuredExchange[];
  /** CPU of this process per SDK call (the SDK, its HTTP client and SSE parsing): the floor of a model call in the server. */
  providerCallCpuMs: number;
}

const WARMUP = 50;

export async function calibrate(options: {
  databaseUrl: string;
  proxiedDatabaseUrl?: string | undefined;
  providerUrl: string;
  samples: number;
  label: string;
}): Promise<Calibration> {
  const select1 = async (url: string) => {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const samples: number[] = [];
    try {
      for (let i = 0; i < WARMUP + options.samples; i++) {
        const started = performance.now();
        await sql`select 1`;
        if (i >= WARMUP) samples.push(performance.now() - started);
      }
    } finally {
      await sql.end({ timeout: 5 });
    }
    return samples;
  };
  const postgresRoundTripMs = await select1(options.databaseUrl);
  const proxiedRoundTripMs = options.proxiedDatabaseUrl ? await select1(options.proxiedDatabaseUrl) : [];
  const sql = postgres(options.databaseUrl, { max: 1, onnotice: () => {} });
  const postgresUnpreparedQueryMs: number[] = [];
  try {
    for (let i = 0; i < WARMUP + options.samples; i++) {
      const started = performance.now();
      await sql.unsafe('select $1::text as id', [`id-${i}`], { prepare: false });
      if (i >= WARMUP) postgresUnpreparedQueryMs.push(performance.now() - started);
    }
  } finally {
    await sql.end({ timeout: 5 });
  }

  const sdk = await providerCallsThroughSdk({ providerUrl: options.providerUrl, samples: options.samples, label: options.label });
  return { postgresRoundTripMs, proxiedRoundTripMs, postgresUnpreparedQueryMs, providerCalls: sdk.calls, providerCallCpuMs: sdk.cpuMsPerCall };
}

/**
 * Streamed chat completions through the official OpenAI SDK to the fake provider, `concurrency` at a
 * time (1: one after another), after a warm-up; each call's text is unique, so the fake's own time
 * can be subtracted. CPU per call is this process's (nothing else runs in it meanwhile).
 */
export async function providerCallsThroughSdk(options: {
  providerUrl: string;
  samples: number;
  label: string;
  concurrency?: number;
}): Promise<{ calls: MeasuredExchange[]; cpuMsPerCall: number }> {
  const client = new OpenAI({ apiKey: 'sk-bench', baseURL: options.providerUrl, maxRetries: 0 });
  const call = async (text: string): Promise<number> => {
    const started = performance.now();
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: text }],
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const _chunk of stream) {
      // Read to the end, as the server does.
    }
    return performance.now() - started;
  };
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const run = async (from: number, count: number, into?: MeasuredExchange[]) => {
    let next = from;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (next < from + count) {
          const text = `${options.label} sdk call ${next++}`;
          const rttMs = await call(text);
          into?.push({ text, rttMs });
        }
      }),
    );
  };
  await run(0, WARMUP);
  const calls: MeasuredExchange[] = [];
  const usage = process.cpuUsage();
  await run(WARMUP, options.samples, calls);
  const spent = process.cpuUsage(usage);
  return { calls, cpuMsPerCall: Math.round(((spent.user + spent.system) / 1000 / options.samples) * 1000) / 1000 };
}
