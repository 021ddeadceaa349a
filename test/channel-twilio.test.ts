import twilio from 'twilio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isGsm7, smsLength, splitSms } from '../src/channels/twilio/sms-segments.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN, startFakeTwilioApi, type FakeTwilioApi } from './fakes/fake-twilio-api.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { createRefundTool } from './helpers/refund-tool.js';
import { signTwilio, twilioMessageSid } from './helpers/twilio-webhook.js';
import { waitFor } from './helpers/wait-for.js';

const { tool: refundTool, refunds } = createRefundTool();

/** The public origin Twilio calls; deliberately not the test server's own host. */
const PUBLIC_URL = 'https://switchboard.example.com';
const SMS_FROM = '+15005550006';
const WHATSAPP_FROM = 'whatsapp:+14155238886';

let numberCounter = 0;
const newNumber = () => `+1415555${String(1000 + ++numberCounter).padStart(4, '0')}`;

describe('Twilio SMS and WhatsApp: signed webhooks → agent → Twilio REST', () => {
  let twilioApi: FakeTwilioApi;
  let provider: FakeProviderServer;
  let server: RunningApp;

  const inbound = (from: string, body: string, extra: Record<string, string> = {}) => ({
    ToCountry: 'US',
    SmsMessageSid: extra.MessageSid ?? twilioMessageSid(),
    NumMedia: '0',
    SmsSid: 'x',
    SmsStatus: 'received',
    Body: body,
    To: from.startsWith('whatsapp:') ? WHATSAPP_FROM : SMS_FROM,
    NumSegments: '1',
    MessageSid: twilioMessageSid(),
    AccountSid: FAKE_TWILIO_ACCOUNT_SID,
    From: from,
    ApiVersion: '2010-04-01',
    ...extra,
  });
  const webhook = async (
    path: '/twilio/sms' | '/twilio/whatsapp',
    params: Record<string, string>,
    signature: string | null = signTwilio(`${PUBLIC_URL}${path}`, params),
  ) => {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (signature !== null) headers['x-twilio-signature'] = signature;
    const started = performance.now();
    const response = await fetch(`${server.url}${path}`, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text(), ms: performance.now() - started };
  };
  const countMessages = async () => {
    const result = (await server.app.database.db.execute('select count(*)::int as n from messages' as never)) as unknown as
      | { n: number }[]
      | { rows: { n: number }[] };
    return Array.isArray(result) ? result[0]!.n : result.rows[0]!.n;
  };
  const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

  beforeAll(async () => {
    twilioApi = await startFakeTwilioApi();
    provider = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test-twilio',
      OPENAI_BASE_URL: provider.url,
      OPENAI_MODEL: 'gpt-fake',
      LLM_PROVIDERS: 'openai',
      PUBLIC_URL,
      TWILIO_ACCOUNT_SID: FAKE_TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: FAKE_TWILIO_AUTH_TOKEN,
      TWILIO_SMS_FROM: SMS_FROM,
      TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
      TWILIO_API_URL: twilioApi.url,
      ADMIN_TOKEN: 'admin-token-for-deliveries',
      CHANNEL_DELIVERY_ATTEMPTS: '3',
      CHANNEL_DELIVERY_BASE_DELAY_MS: '10',
      CHANNEL_DELIVERY_MAX_DELAY_MS: '50',
      RATE_LIMIT_USER_PER_MINUTE: '3',
      LLM_RETRIES: '0',
      SENSITIVE_TOOLS: 'issue_refund',
    }, { extraTools: [refundTool] });
  });

  afterEach(() => {
    twilioApi.reset();
    provider.reset();
  });

  afterAll(async () => {
    await server?.stop();
    await provider?.close();
    await twilioApi?.close();
  });

  it("validates Twilio's published signature example with the SDK and with our signer", () => {
    // twilio.com/docs/usage/security#validating-requests (api-snippets: signature_validation)
    const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
    const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675310', Digits: '1234', From: '+14158675310', To: '+18005551212' };
    expect(twilio.validateRequest('12345', 'GvWf1cFY/Q7PnoempGyD5oXAezc=', url, params)).toBe(true);
    expect(signTwilio(url, params, '12345')).toBe('GvWf1cFY/Q7PnoempGyD5oXAezc=');
    expect(twilio.validateRequest('12345', 'GvWf1cFY/Q7PnoempGyD5oXAezc=', url, { ...params, Digits: '4321' })).toBe(false);
  });

  it('answers a valid SMS with empty TwiML at once and the reply through the REST API', async () => {
    const from = newNumber();
    provider.push({ text: 'Hello from Switchboard.', delayMs: 300 });
    const res = await webhook('/twilio/sms', inbound(from, 'Hi!'));
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/xml/);
    expect(res.text).toBe(EMPTY_TWIML);
    expect(twilioApi.messages).toHaveLength(0);
    await twilioApi.waitForMessages(1);
    expect(twilioApi.messages[0]).toMatchObject({ to: from, from: SMS_FROM, body: 'Hello from Switchboard.' });
    const delivery = await waitFor(
      async () => (await server.app.store.channels.listDeliveries({ status: 'sent' })).find((d) => (d.providerIds as string[]).includes(twilioApi.messages[0]!.sid)),
      'the sent delivery',
      10_000,
    );
    expect(delivery).toMatchObject({ channel: 'sms', kind: 'reply', attempts: 1, parts: 1 });
  });

  it('cleans a NUL byte in From and Body instead of answering 500, and replies to the cleaned number', async () => {
    const from = newNumber();
    provider.push({ text: 'Cleaned and answered.' });
    const res = await webhook('/twilio/sms', inbound(`${from}\u0000`, 'Hi\u0000 there'));
    expect(res.status).toBe(200);
    await twilioApi.waitForMessages(1);
    expect(twilioApi.messages[0]).toMatchObject({ to: from, body: 'Cleaned and answered.' });
    expect(provider.requests[0]!.body.messages.at(-1)).toMatchObject({ role: 'user', content: 'Hi there' });
  });

  it('checks the signature against PUBLIC_URL: wrong URL or token → 403, missing → 400, nothing stored', async () => {
    const before = await countMessages();
    const params = inbound(newNumber(), 'spoofed');
    const hostSigned = await webhook('/twilio/sms', params, signTwilio(`${server.url}/twilio/sms`, params));
    expect(hostSigned.status).toBe(403);
    const wrongToken = await webhook('/twilio/sms', params, signTwilio(`${PUBLIC_URL}/twilio/sms`, params, 'not-the-token'));
    expect(wrongToken.status).toBe(403);
    const tampered = await webhook('/twilio/sms', { ...params, Body: 'changed' }, signTwilio(`${PUBLIC_URL}/twilio/sms`, params));
    expect(tampered.status).toBe(403);
    const missing = await webhook('/twilio/sms', params, null);
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.text).error.code).toBe('invalid_payload');
    const badSid = await webhook('/twilio/sms', { ...params, MessageSid: 'nope' });
    expect(badSid.status).toBe(400);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await countMessages()).toBe(before);
    expect(provider.requests).toHaveLength(0);
  });

  it('dedupes a Twilio retry by MessageSid', async () => {
    const from = newNumber();
    provider.push({ text: 'Just once.', delayMs: 200 });
    const params = inbound(from, 'are you there?');
    const first = await webhook('/twilio/sms', params);
    const retry = await webhook('/twilio/sms', params);
    expect([first.status, retry.status]).toEqual([200, 200]);
    await twilioApi.waitForMessages(1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(twilioApi.messages.map((m) => m.body)).toEqual(['Just once.']);
    expect(provider.requests).toHaveLength(1);
  });

  it('splits a long reply into SMS-sized parts, GSM-7 and UCS-2 alike', async () => {
    const from = newNumber();
    const long = 'Switchboard answers questions by text message, and this reply is long enough to need several parts. '.repeat(4).trim();
    provider.push({ text: long, chunkSize: 100 });
    await webhook('/twilio/sms', inbound(from, 'tell me more'));
    await waitFor(async () => (await server.app.store.channels.listDeliveries({ status: 'sent' })).find((d) => d.parts > 1), 'the delivery in parts', 10_000);
    const parts = twilioApi.messages.filter((m) => m.to === from).map((m) => m.body);
    expect(parts.length).toBe(splitSms(long).length);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const part of parts) expect(smsLength(part, true)).toBeLessThanOrEqual(160);
    expect(parts.join(' ')).toBe(long);

    const unicode = 'Привет! Это длинный ответ на русском языке, который не помещается в одно сообщение. '.repeat(2).trim();
    expect(isGsm7(unicode)).toBe(false);
    const unicodeParts = splitSms(unicode);
    expect(unicodeParts.length).toBeGreaterThan(2);
    for (const part of unicodeParts) expect(part.length).toBeLessThanOrEqual(70);
    expect(splitSms('{curly} [braces] ~ ^ € '.repeat(10))).toSatisfy((all: string[]) => all.every((p) => smsLength(p, true) <= 160));
  });

  it('STOP silences a number (replies included) until START; HELP answers with help text', async () => {
    const from = newNumber();
    provider.push({ text: 'Will never be sent.', delayMs: 500 });
    await webhook('/twilio/sms', inbound(from, 'a question'));
    const stop = await webhook('/twilio/sms', inbound(from, 'Stop'));
    expect(stop.text).toBe(EMPTY_TWIML);
    // The reply that was in flight is suppressed, not sent.
    const suppressed = await waitFor(
      async () => (await server.app.store.channels.listDeliveries({ status: 'suppressed' })).find((d) => d.channel === 'sms'),
      'the suppressed delivery',
      10_000,
    );
    expect(suppressed.error).toBe('recipient opted out (STOP)');
    const before = await countMessages();
    const ignored = await webhook('/twilio/sms', inbound(from, 'hello again'));
    expect(ignored.text).toBe(EMPTY_TWIML);
    expect(await countMessages()).toBe(before);

    const help = await webhook('/twilio/sms', inbound(from, 'help'));
    expect(help.text).toContain('<Message>Switchboard assistant: text your question');

    await webhook('/twilio/sms', inbound(from, 'START'));
    provider.push({ text: 'Welcome back.' });
    await webhook('/twilio/sms', inbound(from, 'hi again'));
    await twilioApi.waitForMessages(1);
    expect(twilioApi.messages).toEqual([expect.objectContaining({ to: from, body: 'Welcome back.' })]);
    expect(provider.requests).toHaveLength(2);
  });

  it('gives a rate-limited number one short notice, not one per message', async () => {
    const from = newNumber();
    provider.setResponder(() => ({ text: 'ok' }));
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push((await webhook('/twilio/sms', inbound(from, `message ${i}`))).text);
    const notices = answers.filter((text) => text.includes('<Message>'));
    expect(answers.slice(0, 3)).toEqual([EMPTY_TWIML, EMPTY_TWIML, EMPTY_TWIML]);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/Too many messages\. Please wait \d+ min/);
    expect(answers[3]).toBe(notices[0]);
  });

  it('retries the REST call after 429 and 5xx, and records a permanent failure', async () => {
    const from = newNumber();
    twilioApi.failNext(429);
    twilioApi.failNext(503);
    provider.push({ text: 'Third time lucky.' });
    await webhook('/twilio/sms', inbound(from, 'flaky'));
    await twilioApi.waitForMessages(1);
    expect(twilioApi.calls).toEqual([429, 503, 201]);

    twilioApi.reset();
    twilioApi.failNext(500, 3);
    provider.push({ text: 'Lost.' });
    const second = newNumber();
    await webhook('/twilio/sms', inbound(second, 'broken'));
    const failed = await waitFor(
      async () => (await server.app.store.channels.listDeliveries({ status: 'failed' })).find((d) => d.channel === 'sms'),
      'the failed delivery',
      10_000,
    );
    expect(failed).toMatchObject({ attempts: 3, error: 'Twilio answered 500 (error 20500)' });
    expect(failed.error).not.toContain(second);

    // Admins see the permanently failed delivery in the console's delivery log.
    const listed = await fetch(`${server.url}/api/admin/deliveries?status=failed`, {
      headers: { authorization: 'Bearer admin-token-for-deliveries' },
    });
    expect(listed.status).toBe(200);
    const { items } = (await listed.json()) as { items: { id: string; status: string; attempts: number }[] };
    expect(items.find((item) => item.id === failed.id)).toMatchObject({ status: 'failed', attempts: 3 });
    const unauthenticated = await fetch(`${server.url}/api/admin/deliveries?status=failed`);
    expect(unauthenticated.status).toBe(401);
  });

  it('answers WhatsApp through the Twilio sender with whatsapp: addresses', async () => {
    const from = `whatsapp:${newNumber()}`;
    provider.push({ text: 'Hi on WhatsApp!' });
    const res = await webhook('/twilio/whatsapp', inbound(from, 'hola'));
    expect(res.status).toBe(200);
    expect(res.text).toBe(EMPTY_TWIML);
    await twilioApi.waitForMessages(1);
    expect(twilioApi.messages[0]).toMatchObject({ to: from, from: WHATSAPP_FROM, body: 'Hi on WhatsApp!' });
    const plain = await webhook('/twilio/whatsapp', inbound(newNumber(), 'not whatsapp'));
    expect(plain.status).toBe(400);
  });

  it('a YES by SMS confirms the pending sensitive tool call; a YES with nothing pending is an ordinary message', async () => {
    const from = newNumber();
    provider.push({ toolCalls: [{ name: 'issue_refund', arguments: { amount: 20 } }] }, { text: 'Reply YES to refund 20 USD, NO to cancel.' });
    await webhook('/twilio/sms', inbound(from, 'please refund 20'));
    await twilioApi.waitForMessages(1);
    expect(twilioApi.messages[0]!.body).toBe('Reply YES to refund 20 USD, NO to cancel.');
    expect(refunds).toEqual([]);
    const requestsBefore = provider.requests.length;
    const yes = await webhook('/twilio/sms', inbound(from, 'Yes'));
    expect(yes.text).toBe(EMPTY_TWIML);
    await twilioApi.waitForMessages(2);
    expect(twilioApi.messages[1]).toMatchObject({ to: from, body: 'Refunded 20 USD.' });
    expect(refunds).toEqual([20]);
    expect(provider.requests.length).toBe(requestsBefore);

    provider.push({ text: 'Yes to what?' });
    await webhook('/twilio/sms', inbound(from, 'YES'));
    await twilioApi.waitForMessages(3);
    expect(twilioApi.messages[2]!.body).toBe('Yes to what?');
    expect(refunds).toEqual([20]);
  });

  it('keeps one conversation per number with history across turns', async () => {
    const from = newNumber();
    provider.push({ text: 'First answer.' });
    await webhook('/twilio/sms', inbound(from, 'first'));
    await twilioApi.waitForMessages(1);
    provider.push({ text: 'Second answer.' });
    await webhook('/twilio/sms', inbound(from, 'second'));
    await twilioApi.waitForMessages(2);
    const turns = provider.requests[1]!.body.messages.filter((m: { role: string }) => m.role !== 'system');
    expect(turns.map((m: { content: string }) => m.content)).toEqual(['first', 'First answer.', 'second']);
  });
});

describe('Twilio settings', () => {
  it('refuses to start without PUBLIC_URL or a sender, naming the variable', async () => {
    const { loadConfig } = await import('../src/config/config.js');
    const base = { TWILIO_ACCOUNT_SID: FAKE_TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN: FAKE_TWILIO_AUTH_TOKEN };
    expect(() => loadConfig({ ...base, TWILIO_SMS_FROM: SMS_FROM })).toThrow(/^Invalid configuration: PUBLIC_URL: required/);
    expect(() => loadConfig({ ...base, PUBLIC_URL })).toThrow(/TWILIO_SMS_FROM or TWILIO_WHATSAPP_FROM is required/);
    expect(() => loadConfig({ ...base, PUBLIC_URL, TWILIO_SMS_FROM: SMS_FROM })).not.toThrow();
    try {
      loadConfig({ ...base, TWILIO_SMS_FROM: SMS_FROM });
    } catch (error) {
      expect(String(error)).not.toContain(FAKE_TWILIO_AUTH_TOKEN);
    }
  });
});
