import { createHmac, randomBytes } from 'node:crypto';
import { postWebhook, type WebhookAnswer } from './post-webhook.js';

/** Signs as Slack does (`v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>`), independently of the code under test. */
export function signSlack(timestamp: string, body: string, signingSecret: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

/** POSTs a raw body (an Events API JSON, or a slash command's form) to `${baseUrl}/slack/events`, timestamped now and signed. */
export function postSlackRequest(
  baseUrl: string,
  body: string,
  options: { signingSecret: string; contentType?: string },
): Promise<WebhookAnswer> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  return postWebhook(`${baseUrl}/slack/events`, body, {
    'content-type': options.contentType ?? 'application/json',
    'x-slack-request-timestamp': timestamp,
    'x-slack-signature': signSlack(timestamp, body, options.signingSecret),
  });
}

/** POSTs `event` inside an `event_callback` envelope from workspace T0TEST, with a fresh event id, as Slack's Events API does. */
export function postSlackEvent(baseUrl: string, event: Record<string, unknown>, options: { signingSecret: string }): Promise<WebhookAnswer> {
  const envelope = { token: 'deprecated', team_id: 'T0TEST', api_app_id: 'A0TEST', type: 'event_callback', event_id: `Ev${randomBytes(8).toString('hex')}`, event };
  return postSlackRequest(baseUrl, JSON.stringify(envelope), options);
}
