/**
 * Property-based fuzzing of every boundary, as a hostile user would: socket.io payloads, signed
 * Slack and Twilio webhooks (signed correctly, so the payload reaches the parser), admin queries,
 * and model output (the fake provider answers with hostile text). Seeded and bounded:
 * FUZZ_RUNS (default 100 per property, part of `.ci/run`) and FUZZ_SEED; `npm run fuzz` runs more.
 *
 * Properties: no 5xx; every socket ack present and typed, never `internal_error`; the server is
 * healthy after the run; no half-written rows; every accepted message answered exactly once.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, lastUserText, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_SLACK_BOT_TOKEN, startFakeSlackApi, type FakeSlackApi } from './fakes/fake-slack-api.js';
import { FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN, startFakeTwilioApi, type FakeTwilioApi } from './fakes/fake-twilio-api.js';
import { postMetaWebhook } from './helpers/meta-webhook.js';
import { postWebhook } from './helpers/post-webhook.js';
import { postSlackRequest } from './helpers/slack-webhook.js';
import { postStripeEvent } from './helpers/stripe-webhook.js';
import { connectClient, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { signTwilio } from './helpers/twilio-webhook.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const SEED = Number(process.env.FUZZ_SEED ?? 20261204);
const SLACK_SECRET = 'fuzz-slack-signing-secret-0001';
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdef';
const PUBLIC_URL = 'https://switchboard.example.com';
const SMS_FROM = '+15005550006';
const STRIPE_SECRET = 'whsec_fuzz_0123456789';
const META_SECRET = 'fuzz-meta-app-secret';

/** Text with what breaks storage and parsers: NUL, lone surrogates, emoji, markup, very long runs. */
const hostileChar = fc.oneof(
  fc.constantFrom('\u0000', '\ud800', '\udfff', '\ufffd', '😀', '<', '"', '\\', '%', '\n', '*', '`'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const hostileText = (maxLength = 120) => fc.string({ unit: hostileChar, maxLength });

/** A path segment from any string (a lone surrogate cannot be percent-encoded: it becomes U+FFFD, as a browser sends it). */
const safeSegment = (text: string) => encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, '\uFFFD')) || 'x';

const rows = async <T>(server: RunningApp, query: string): Promise<T[]> => {
  const result = (await server.app.database.db.execute(query as never)) as unknown as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
};

describe('fuzzing every boundary', () => {
  let provider: FakeProviderServer;
  let slack: FakeSlackApi;
  let twilioApi: FakeTwilioApi;
  let server: RunningApp;
  let socket: ClientSocket;
  const acceptedWeb: string[] = [];

  beforeAll(async () => {
    [provider, slack, twilioApi] = await Promise.all([startFakeOpenAIServer(), startFakeSlackApi(), startFakeTwilioApi()]);
    // Model output is fuzzed too: the answer repeats the person's hostile text with more of its own.
    provider.setResponder((body) => ({ text: `echo\u0000 ${lastUserText(body)} \ud800` }));
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test-fuzz',
      OPENAI_BASE_URL: provider.url,
      LLM_PROVIDERS: 'openai',
      SLACK_SIGNING_SECRET: SLACK_SECRET,
      SLACK_BOT_TOKEN: FAKE_SLACK_BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      PUBLIC_URL,
      TWILIO_ACCOUNT_SID: FAKE_TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: FAKE_TWILIO_AUTH_TOKEN,
      TWILIO_SMS_FROM: SMS_FROM,
      TWILIO_API_URL: twilioApi.url,
      ADMIN_TOKEN,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
      WHATSAPP_ACCESS_TOKEN: 'fuzz-whatsapp-token',
      META_APP_SECRET: META_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'fuzz-verify',
      // Nothing listens here: replies fail fast and are recorded, which the properties do not mind.
      WHATSAPP_API_URL: 'http://127.0.0.1:9',
      RATE_LIMIT_USER_PER_MINUTE: '0',
      RATE_LIMIT_IP_PER_MINUTE: '0',
      RATE_LIMIT_GLOBAL_PER_SECOND: '0',
      CHANNEL_DELIVERY_ATTEMPTS: '1',
    });
    ({ socket } = await connectClient(server.url));
  });

  afterAll(async () => {
    socket?.disconnect();
    await server?.stop();
    await Promise.all([provider?.close(), slack?.close(), twilioApi?.close()]);
  });

  it('socket.io: every payload gets a typed ack, never internal_error', async () => {
    const payload = fc.oneof(
      fc.record({ text: hostileText(), clientMessageId: hostileText(300) }),
      fc.record({ text: hostileText(), clientMessageId: fc.uuid() }, { requiredKeys: ['text'] }),
      fc.anything(),
    );
    await fc.assert(
      fc.asyncProperty(payload, async (sent) => {
        const ack = await socket.timeout(5000).emitWithAck('message', sent);
        expect(typeof ack?.ok).toBe('boolean');
        if (ack.ok) {
          expect(typeof ack.messageId).toBe('string');
          if (!ack.duplicate) acceptedWeb.push(ack.messageId);
        } else {
          expect(typeof ack.error?.code).toBe('string');
          expect(ack.error.code).not.toBe('internal_error');
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    expect(socket.connected).toBe(true);
  });

  it('Slack: signed events and commands of any shape never answer 5xx', async () => {
    const event = fc.oneof(
      fc.constant(null),
      fc.anything(),
      fc.record({
        type: fc.constantFrom('app_mention', 'message'),
        user: hostileText(20),
        text: hostileText(),
        ts: hostileText(20),
        channel: hostileText(12),
        channel_type: fc.constantFrom('im', 'channel'),
        thread_ts: fc.option(hostileText(20), { nil: undefined }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(event, hostileText(16), async (inner, teamId) => {
        const body = JSON.stringify({ type: 'event_callback', team_id: teamId, event_id: `Ev${randomBytes(6).toString('hex')}`, event: inner });
        const response = await postSlackRequest(server.url, body, { signingSecret: SLACK_SECRET });
        expect(response.status, body.slice(0, 200)).toBeLessThan(500);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('Twilio: signed webhooks with hostile From, Body and MessageSid never answer 5xx', async () => {
    const sid = fc.oneof(fc.constant(null), hostileText(40));
    await fc.assert(
      fc.asyncProperty(hostileText(30), hostileText(), sid, async (from, text, rawSid) => {
        const params: Record<string, string> = {
          MessageSid: rawSid ?? `SM${randomBytes(16).toString('hex')}`,
          From: from,
          To: SMS_FROM,
          Body: text,
          AccountSid: FAKE_TWILIO_ACCOUNT_SID,
        };
        // Twilio signs what it sends; a form body carries what URLSearchParams makes of the text.
        const sent = Object.fromEntries(new URLSearchParams(new URLSearchParams(params).toString()));
        const response = await postWebhook(`${server.url}/twilio/sms`, new URLSearchParams(params).toString(), {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': signTwilio(`${PUBLIC_URL}/twilio/sms`, sent),
        });
        expect(response.status).toBeLessThan(500);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('Stripe: signed events of any shape never answer 5xx, and a refused one stores nothing', async () => {
    const object = fc.record(
      {
        id: fc.oneof(hostileText(30), fc.constantFrom('cs_test_1', 'in_1', 'sub_1')),
        payment_status: fc.oneof(fc.constantFrom('paid', 'unpaid', 'no_payment_required'), hostileText(10)),
        amount_total: fc.oneof(fc.integer(), fc.double(), hostileText(10)),
        currency: fc.oneof(fc.constantFrom('usd', 'jpy'), hostileText(12)),
        metadata: fc.oneof(fc.dictionary(hostileText(20), hostileText(40), { maxKeys: 4 }), fc.jsonValue({ maxDepth: 1 })),
        subscription: fc.oneof(hostileText(20), fc.jsonValue({ maxDepth: 1 })),
      },
      { requiredKeys: [] },
    );
    const event = fc.record(
      {
        id: fc.oneof(fc.stringMatching(/^evt_[A-Za-z0-9]{1,30}$/), hostileText(30)),
        object: fc.constantFrom('event', 'other'),
        type: fc.oneof(
          fc.constantFrom('checkout.session.completed', 'checkout.session.expired', 'invoice.payment_failed', 'customer.subscription.deleted', 'charge.refunded'),
          hostileText(40),
        ),
        created: fc.oneof(fc.integer({ min: -1, max: 4_000_000_000 }), fc.double(), hostileText(10)),
        livemode: fc.oneof(fc.boolean(), hostileText(5)),
        data: fc.oneof(fc.record({ object }), fc.jsonValue({ maxDepth: 2 })),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(event, async (payload) => {
        const body = JSON.stringify(payload);
        const response = await postStripeEvent(server.url, payload, { raw: body, secrets: [STRIPE_SECRET] });
        expect(response.status, body.slice(0, 200)).toBeLessThan(500);
        if (response.status !== 200 && typeof (payload as { id?: unknown }).id === 'string') {
          const stored = await rows(server, `select 1 from payment_events where id = '${String((payload as { id: string }).id).replace(/'/g, "''").replace(/\u0000/g, '')}'`);
          expect(stored).toEqual([]);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('WhatsApp Cloud: signed deliveries of any shape never answer 5xx', async () => {
    const message = fc.record(
      {
        from: fc.oneof(fc.stringMatching(/^\d{8,15}$/), hostileText(20)),
        id: fc.oneof(fc.stringMatching(/^wamid\.[A-Za-z0-9]{4,40}$/), hostileText(30)),
        timestamp: fc.oneof(fc.integer({ min: 0, max: 2_000_000_000 }).map(String), hostileText(10)),
        type: fc.oneof(fc.constantFrom('text', 'image', 'interactive', 'button', 'location', 'unsupported'), hostileText(15)),
        text: fc.record({ body: hostileText(200) }),
        interactive: fc.record({ type: fc.constant('button_reply'), button_reply: fc.record({ id: hostileText(40), title: hostileText(20) }) }),
        button: fc.record({ payload: hostileText(20), text: hostileText(20) }),
      },
      { requiredKeys: [] },
    );
    const status = fc.record(
      { id: hostileText(30), status: fc.constantFrom('sent', 'delivered', 'read', 'failed', 'nope'), timestamp: fc.integer({ min: 0 }).map(String), recipient_id: hostileText(15) },
      { requiredKeys: [] },
    );
    const value = fc.record({
      messaging_product: fc.constantFrom('whatsapp', 'x'),
      metadata: fc.record({ phone_number_id: fc.constantFrom('106540352242922', '1'), display_phone_number: hostileText(15) }),
      messages: fc.array(message, { maxLength: 3 }),
      statuses: fc.array(status, { maxLength: 3 }),
    });
    const body = fc.oneof(
      fc.record({ object: fc.constant('whatsapp_business_account'), entry: fc.array(fc.record({ id: hostileText(10), changes: fc.array(fc.record({ field: fc.constantFrom('messages', 'other'), value }), { maxLength: 2 }) }), { maxLength: 2 }) }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        const raw = JSON.stringify(payload);
        const response = await postMetaWebhook(server.url, raw, { appSecret: META_SECRET });
        expect(response.status, raw.slice(0, 200)).toBeLessThan(500);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('admin API: any filter, cursor and id answer below 500', async () => {
    const field = fc.constantFrom('tool', 'channel', 'user', 'provider', 'q', 'from', 'to', 'cursor', 'status', 'limit', 'conversation', 'hasError');
    const value = fc.oneof(hostileText(40), fc.date({ noInvalidDate: true }).map((date) => date.toISOString()), fc.constantFrom('0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '-1', '1e9'));
    const route = fc.constantFrom('/api/admin/tool-calls', '/api/admin/conversations', '/api/admin/stats', '/api/admin/tool-calls/export');
    await fc.assert(
      fc.asyncProperty(route, fc.dictionary(field, value, { maxKeys: 4 }), hostileText(40), async (path, query, id) => {
        const list = await fetch(`${server.url}${path}?${new URLSearchParams(query)}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        await list.arrayBuffer();
        expect(list.status, `${path} ${JSON.stringify(query)}`).toBeLessThan(500);
        const detail = await fetch(`${server.url}/api/admin/tool-calls/${safeSegment(id)}`, {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        await detail.arrayBuffer();
        expect(detail.status).toBeLessThan(500);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('operator actions: any id and body answer below 500, and a refused one stores nothing', async () => {
    const conversationIds = (await rows<{ id: string }>(server, 'select id from conversations limit 5')).map((row) => row.id);
    const id = fc.oneof(fc.constantFrom(...conversationIds, '00000000-0000-4000-8000-000000000000'), hostileText(40).map(safeSegment));
    const action = fc.constantFrom('takeover', 'messages', 'notes', 'release');
    const body = fc.oneof(
      fc.record({ text: fc.oneof(hostileText(60), fc.string({ maxLength: 5 }), fc.constant(' \u0000 ')) }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    await fc.assert(
      fc.asyncProperty(id, action, body, async (conversationId, verb, payload) => {
        const before = await rows<{ n: number }>(server, "select count(*)::int as n from messages where author = 'operator'");
        const response = await fetch(`${server.url}/api/admin/conversations/${conversationId}/${verb}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        });
        await response.arrayBuffer();
        expect(response.status, `${verb} ${JSON.stringify(payload).slice(0, 80)}`).toBeLessThan(500);
        if (verb === 'messages' && response.status !== 200) {
          const after = await rows<{ n: number }>(server, "select count(*)::int as n from messages where author = 'operator'");
          expect(after[0]!.n).toBe(before[0]!.n);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // Hand every conversation back, so the property below sees the agent answer what follows.
    for (const conversationId of conversationIds) {
      await fetch(`${server.url}/api/admin/conversations/${conversationId}/release`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    }
  });

  it('afterwards: healthy, every accepted message answered exactly once (or kept for a person), no half-written rows', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const deadline = Date.now() + 20_000;
    let open: { n: number }[] = [];
    do {
      open = await rows<{ n: number }>(server, "select count(*)::int as n from messages where role = 'user' and status in ('received', 'processing')");
      if (open[0]!.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } while (Date.now() < deadline);
    expect(open[0]!.n).toBe(0);
    const twice = await rows(server, "select reply_to_id from messages where role = 'assistant' and reply_to_id is not null group by reply_to_id having count(*) > 1");
    expect(twice).toEqual([]);
    const unanswered = await rows(
      server,
      // A message kept for an operator (`human`: the conversation was with a person) is answered by them, not by a turn.
      "select id from messages u where u.role = 'user' and u.status <> 'human' and not exists (select 1 from messages a where a.reply_to_id = u.id)",
    );
    expect(unanswered).toEqual([]);
    // A conversation with no message is half-written, unless it carries a notice sent outside any turn (a WhatsApp image's "text only").
    const empty = await rows(
      server,
      'select id from conversations c where not exists (select 1 from messages m where m.conversation_id = c.id) and not exists (select 1 from channel_deliveries d where d.conversation_id = c.id)',
    );
    expect(empty).toEqual([]);
    expect(acceptedWeb.length).toBeGreaterThan(0);
  });
});
