import type { ProviderTiming } from './fake-provider-protocol.js';

export interface MeasuredExchange {
  /** The message text: unique, and the key of the fake provider's timing. */
  text: string;
  rttMs: number;
}

/**
 * Server-added latency of each exchange: the client's round trip minus the time the
 * fake provider itself spent on that message's requests (measured in its own
 * process, request head → response end). What remains is everything else on the
 * path: the server's work, PostgreSQL, the loopback hops and the client's own parsing.
 */
export function serverAddedLatencies(
  exchanges: readonly MeasuredExchange[],
  timings: ReadonlyMap<string, ProviderTiming>,
): { samples: number[]; providerMs: number[]; unmatched: number; extraRequests: number } {
  const samples: number[] = [];
  const providerMs: number[] = [];
  let unmatched = 0;
  let extraRequests = 0;
  for (const exchange of exchanges) {
    const timing = timings.get(exchange.text);
    if (!timing) {
      unmatched++;
      continue;
    }
    extraRequests += timing.requests - 1;
    providerMs.push(timing.ms);
    samples.push(exchange.rttMs - timing.ms);
  }
  return { samples, providerMs, unmatched, extraRequests };
}
