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
  /** A parameterized statement as drizzle sends it (postgres.js, prepare: false): two round trips. */
  postgresUnpreparedQueryMs: number[];
  /** Streamed chat completions through the OpenAI SDK to the fake provider, call → end of stream. Keyed by text for the fake's own timings. */
  providerCalls: MeasuredExchange[];
}

const WARMUP = 50;

export async function calibrate(options: { databaseUrl: string; providerUrl: string; samples: number; label: string }): Promise<Calibration> {
  const sql = postgres(options.databaseUrl, { max: 1, onnotice: () => {} });
  const postgresRoundTripMs: number[] = [];
  const postgresUnpreparedQueryMs: number[] = [];
  try {
    for (let i = 0; i < WARMUP + options.samples; i++) {
      const started = performance.now();
      await sql`select 1`;
      if (i >= WARMUP) postgresRoundTripMs.push(performance.now() - started);
    }
    for (let i = 0; i < WARMUP + options.samples; i++) {
      const started = performance.now();
      await sql.unsafe('select $1::text as id', [`id-${i}`], { prepare: false });
      if (i >= WARMUP) postgresUnpreparedQueryMs.push(performance.now() - started);
    }
  } finally {
    await sql.end({ timeout: 5 });
  }

  const client = new OpenAI({ apiKey: 'sk-bench', baseURL: options.providerUrl, maxRetries: 0 });
  const providerCalls: MeasuredExchange[] = [];
  for (let i = 0; i < WARMUP + options.samples; i++) {
    const text = `${options.label} sdk call ${i}`;
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
    if (i >= WARMUP) providerCalls.push({ text, rttMs: performance.now() - started });
  }
  return { postgresRoundTripMs, postgresUnpreparedQueryMs, providerCalls };
}
