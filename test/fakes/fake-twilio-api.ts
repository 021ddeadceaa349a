/**
 * A fake Twilio REST API on 127.0.0.1 (port 0) for the real `twilio` SDK, reached
 * through a RequestClient that rewrites https://api.twilio.com to it:
 *
 * - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded (`To`, `From`, and `Body`
 *   or a content template: `ContentSid` with `ContentVariables`, a JSON object of the template's
 *   variables), HTTP Basic auth `AccountSid:AuthToken`; answers 201 with a Message resource
 *   (`sid` SM + 32 hex, `status: "queued"`, `num_segments`, …) as Twilio documents.
 * - Errors as Twilio's JSON `{ code, message, more_info, status }`: 401 (20003), 400 for a
 *   missing To, or neither Body nor ContentSid (21604 / 21602), malformed ContentVariables (21656),
 *   and scripted 429 (20429) and 5xx.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_TWILIO_ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
export const FAKE_TWILIO_AUTH_TOKEN = 'fake-twilio-auth-token-0001';

export interface TwilioSentMessage {
  sid: string;
  /** Set when one of the other accounts (`options.accounts`) sent it: its SID. */
  accountSid?: string;
  to: string;
  from: string;
  /** '' when a content template was sent. */
  body: string;
  /** A content template (WhatsApp outside the 24-hour window): its SID and the raw ContentVariables. */
  contentSid?: string;
  contentVariables?: string;
}

export interface FakeTwilioApi {
  readonly url: string;
  readonly messages: TwilioSentMessage[];
  /** Every Messages create call with the status answered. */
  readonly calls: number[];
  failNext(status: 429 | 500 | 503, count?: number): void;
  waitForMessages(count: number, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

export async function startFakeTwilioApi(
  options: {
    accountSid?: string;
    authToken?: string;
    /** More accounts the fake serves (other workspaces' own Twilio accounts). */
    accounts?: { accountSid: string; authToken: string }[];
  } = {},
): Promise<FakeTwilioApi> {
  const accountSid = options.accountSid ?? FAKE_TWILIO_ACCOUNT_SID;
  const authToken = options.authToken ?? FAKE_TWILIO_AUTH_TOKEN;
  const messages: TwilioSentMessage[] = [];
  const calls: number[] = [];
  const failures: number[] = [];

  const error = (res: ServerResponse, status: number, code: number, message: string) => {
    calls.push(status);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const path = (req.url ?? '/').split('?')[0]!;
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
    if (!match || req.method !== 'POST') return error(res, 404, 20404, 'The requested resource was not found');
    const account = [{ accountSid, authToken }, ...(options.accounts ?? [])].find((candidate) => candidate.accountSid === match[1]);
    const expected = account && `Basic ${Buffer.from(`${account.accountSid}:${account.authToken}`).toString('base64')}`;
    if (!account || req.headers.authorization !== expected) return error(res, 401, 20003, 'Authenticate');
    const failure = failures.shift();
    if (failure === 429) return error(res, 429, 20429, 'Too Many Requests');
    if (failure !== undefined) return error(res, failure, 20500, 'Internal Server Error');
    const to = form.get('To');
    const from = form.get('From');
    const body = form.get('Body') ?? '';
    const contentSid = form.get('ContentSid');
    const contentVariables = form.get('ContentVariables');
    if (!to) return error(res, 400, 21604, "A 'To' phone number is required.");
    if (!from) return error(res, 400, 21603, "A 'From' phone number is required.");
    if (!body && !contentSid) return error(res, 400, 21602, 'Message body is required.');
    if (contentVariables !== null && !isJsonObject(contentVariables)) return error(res, 400, 21656, 'The ContentVariables Parameter is invalid.');
    const sid = `SM${randomBytes(16).toString('hex')}`;
    messages.push({
      sid,
      ...(account.accountSid !== accountSid && { accountSid: account.accountSid }),
      to,
      from,
      body,
      ...(contentSid !== null && { contentSid }),
      ...(contentVariables !== null && { contentVariables }),
    });
    const now = new Date().toUTCString();
    calls.push(201);
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        account_sid: account.accountSid,
        api_version: '2010-04-01',
        body,
        date_created: now,
        date_sent: null,
        date_updated: now,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from,
        messaging_service_sid: null,
        num_media: '0',
        num_segments: String(Math.max(1, Math.ceil(body.length / 153))),
        price: null,
        price_unit: 'USD',
        sid,
        status: 'queued',
        subresource_uris: { media: `/2010-04-01/Accounts/${account.accountSid}/Messages/${sid}/Media.json` },
        to,
        uri: `/2010-04-01/Accounts/${account.accountSid}/Messages/${sid}.json`,
      }),
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    messages,
    calls,
    failNext(status, count = 1) {
      for (let i = 0; i < count; i++) failures.push(status);
    },
    async waitForMessages(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} Twilio messages, got ${messages.length}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    reset() {
      messages.length = 0;
      calls.length = 0;
      failures.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
