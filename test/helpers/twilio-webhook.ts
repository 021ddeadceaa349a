import { createHmac, randomBytes } from 'node:crypto';
import { FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN } from '../fakes/fake-twilio-api.js';
import { postWebhook, type WebhookAnswer } from './post-webhook.js';

/** Signs as Twilio documents it (HMAC-SHA1 over URL + sorted key/value pairs, base64), independently of the SDK. */
export function signTwilio(url: string, params: Record<string, string>, authToken = FAKE_TWILIO_AUTH_TOKEN): string {
  return createHmac('sha1', authToken)
    .update(url + Object.keys(params).sort().map((key) => key + params[key]).join(''))
    .digest('base64');
}

/** A fresh message SID (`SM` + 32 hex digits), as Twilio gives each message. */
export const twilioMessageSid = () => `SM${randomBytes(16).toString('hex')}`;

/**
 * POSTs an inbound message (SMS, or WhatsApp between `whatsapp:` addresses) to `${baseUrl}/twilio/${route}`
 * with the form fields Twilio sends, signed for `${publicUrl}/twilio/${route}`: Twilio signs the public
 * URL it calls, not the test server's own host.
 */
export function postTwilioMessage(
  baseUrl: string,
  message: { publicUrl: string; route: 'sms' | 'whatsapp'; from: string; to: string; body: string },
): Promise<WebhookAnswer> {
  const params: Record<string, string> = {
    ToCountry: 'US',
    SmsMessageSid: twilioMessageSid(),
    NumMedia: '0',
    SmsStatus: 'received',
    Body: message.body,
    To: message.to,
    NumSegments: '1',
    MessageSid: twilioMessageSid(),
    AccountSid: FAKE_TWILIO_ACCOUNT_SID,
    From: message.from,
    ApiVersion: '2010-04-01',
  };
  const path = `/twilio/${message.route}`;
  return postWebhook(`${baseUrl}${path}`, new URLSearchParams(params).toString(), {
    'content-type': 'application/x-www-form-urlencoded',
    'x-twilio-signature': signTwilio(`${message.publicUrl}${path}`, params),
  });
}
