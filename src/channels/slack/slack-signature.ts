import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack documents five minutes: older (or future) timestamps are replays. */
export const SLACK_SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

export type SlackSignatureProblem = 'missing' | 'stale' | 'invalid';

export function slackSignature(signingSecret: string, timestamp: string, rawBody: Buffer | string): string {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestamp}:`);
  hmac.update(rawBody);
  return `v0=${hmac.digest('hex')}`;
}

/**
 * Slack's v0 request signing: HMAC-SHA256 over `v0:{X-Slack-Request-Timestamp}:{raw body}`,
 * hex, in `X-Slack-Signature`. Returns undefined when the request is authentic, else
 * why not. `nowMs` is injectable so tests can check the window without waiting.
 */
export function checkSlackSignature(input: {
  signingSecret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: Buffer;
  nowMs: number;
}): SlackSignatureProblem | undefined {
  const { timestamp, signature } = input;
  if (!timestamp || !signature) return 'missing';
  if (!/^\d{1,12}$/.test(timestamp)) return 'invalid';
  if (Math.abs(input.nowMs / 1000 - Number(timestamp)) > SLACK_SIGNATURE_TOLERANCE_SECONDS) return 'stale';
  const expected = Buffer.from(slackSignature(input.signingSecret, timestamp, input.rawBody));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  return undefined;
}
