/** Messages between the bench and its fake provider process, over the IPC channel. */

/** What the fake answers to every request (59 characters: four deltas of 16). */
export const BENCH_REPLY = 'Thanks for asking! Here is a short, fixed benchmark answer.';

export interface ProviderTiming {
  /** Time the fake spent on this message's requests: request head parsed → response end, summed. */
  ms: number;
  /** More than one means the server retried or fell back to the same provider. */
  requests: number;
}

export type ParentMessage = { type: 'take-timings' };

export type FakeProviderMessage =
  | { type: 'ready'; url: string }
  /** Keyed by the message text, which the bench makes unique; cleared once taken. */
  | { type: 'timings'; entries: [string, ProviderTiming][]; untagged: number };
