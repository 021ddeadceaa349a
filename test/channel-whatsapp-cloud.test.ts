import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelDelivery, Conversation } from '../src/store/schema.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN, startFakeTwilioApi, type FakeTwilioApi } from './fakes/fake-twilio-api.js';
import {
  FAKE_PHONE_NUMBER_ID,
  FAKE_WHATSAPP_TOKEN,
  startFakeWhatsAppCloudApi,
  type FakeWhatsAppCloudApi,
  type WhatsAppButtonsBody,
  type WhatsAppTemplateBody,
  type WhatsAppTextBody,
} from './fakes/fake-whatsapp-cloud-api.js';
import { AdminClient } from './helpers/admin-client.js';
import {
  buttonReplyMessage,
  imageMessage,
  locationMessage,
  messageStatus,
  failedStatus,
  metaWebhookPayload,
  postMetaWebhook,
  signMeta,
  textMessage,
  verifyHandshake,
  type ChangeInput,
  type MetaInboundMessage,
  type MetaStatus,
} from './helpers/meta-webhook.js';
import { createRefundTool } from './helpers/refund-tool.js';
import { listMessages, listToolCalls } from './helpers/store-queries.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { postTwilioMessage } from './helpers/twilio-webhook.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * WhatsApp through Meta's Cloud API, end to end: Meta's signed webhooks → the agent → the Graph
 * API (a fake speaking its wire format), statuses back onto the delivery rows, and WhatsApp's
 * 24-hour window on both Business API transports (Cloud and Twilio WhatsApp).
 *
 * Two apps: `plain` has no template (outside the window a reply is recorded undeliverable and
 * goes to the operators' inbox), `templated` has a Cloud template and a Twilio Content SID.
 */

const APP_SECRET = 'meta-app-secret-new-0002';
const OLD_APP_SECRET = 'meta-app-secret-old-0001';
const VERIFY_TOKEN = 'switchboard-verify-token-0001';
const ADMIN_TOKEN = 'admin-token-for-whatsapp-cloud';
const TEMPLATE = { name: 'support_follow_up', language: 'en_US' };
const ONLY_TEXT = 'Sorry, I can only read text messages for now. Please type your question.';
const PUBLIC_URL = 'https://switchboard.example.com';
const TWILIO_WHATSAPP_FROM = 'whatsapp:+14155238886';
const CONTENT_SID = `HX${'0123456789abcdef'.repeat(2)}`;

const { tool: refundTool, refunds } = createRefundTool();

let counter = 0;
/** A fresh WhatsApp id (digits) per case: conversations, opt-outs and rate limits never mix. */
const newWaId = () => `3465550${String(1000 + ++counter).padStart(4, '0')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WhatsApp Cloud API: signed Meta webhooks → agent → Graph API', () => {
  let provider: FakeProviderServer;
  let graph: FakeWhatsAppCloudApi;
  let templatedGraph: FakeWhatsAppCloudApi;
  let twilioApi: FakeTwilioApi;
  let plain: RunningApp;
  let templated: RunningApp;
  let admin: AdminClient;

  const env = () => ({
    OPENAI_API_KEY: 'sk-test-whatsapp-cloud',
    OPENAI_BASE_URL: provider.url,
    OPENAI_MODEL: 'gpt-fake',
    LLM_PROVIDERS: 'openai',
    LLM_RETRIES: '0',
    FOLLOW_UP_ENABLED: 'false',
    ADMIN_TOKEN,
    WHATSAPP_PHONE_NUMBER_ID: FAKE_PHONE_NUMBER_ID,
    WHATSAPP_ACCESS_TOKEN: FAKE_WHATSAPP_TOKEN,
    // Rotating: the old secret and the new one both verify.
    META_APP_SECRET: `${OLD_APP_SECRET},${APP_SECRET}`,
    WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
    PUBLIC_URL,
    TWILIO_ACCOUNT_SID: FAKE_TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: FAKE_TWILIO_AUTH_TOKEN,
    TWILIO_WHATSAPP_FROM,
    TWILIO_API_URL: twilioApi.url,
    CHANNEL_DELIVERY_ATTEMPTS: '3',
    CHANNEL_DELIVERY_BASE_DELAY_MS: '10',
    CHANNEL_DELIVERY_MAX_DELAY_MS: '50',
    RATE_LIMIT_USER_PER_MINUTE: '30',
    HANDOFF_WAIT_NOTICE_S: '0',
    SENSITIVE_TOOLS: 'issue_refund',
  });

  const post = (payload: Parameters<typeof metaWebhookPayload>[0], server = plain) =>
    postMetaWebhook(server.url, metaWebhookPayload(payload), { appSecret: APP_SECRET });
  /** One signed delivery with one message; the webhook must take it. */
  const send = async (message: MetaInboundMessage, server = plain) => {
    expect(await post({ messages: [message] }, server)).toEqual({ status: 200, body: { received: true } });
    return message;
  };
  const statuses = async (...items: MetaStatus[]) => {
    expect(await post({ statuses: items })).toEqual({ status: 200, body: { received: true } });
  };
  const sentTo = (to: string, api = graph) => api.messages.filter((message) => message.body.to === to);
  const textsTo = (to: string, api = graph) =>
    sentTo(to, api)
      .filter((message) => message.body.type === 'text')
      .map((message) => (message.body as WhatsAppTextBody).text.body);
  const waitForTextsTo = (to: string, count: number, api = graph) =>
    waitFor(() => (textsTo(to, api).length >= count ? textsTo(to, api) : undefined), `${count} texts to ${to}`, 10_000);
  const conversationOf = (server: RunningApp, channel: string, externalUserId: string): Promise<Conversation> =>
    waitFor(() => server.app.store.conversations.findConversation({ channel, externalUserId }), `the ${channel} conversation of ${externalUserId}`, 10_000);
  const deliveryWith = (server: RunningApp, conversationId: string, match: (delivery: ChannelDelivery) => boolean) =>
    waitFor(async () => (await server.app.store.channels.listDeliveries({ conversationId })).find(match), 'the delivery', 10_000);
  const deliveryOf = (wamid: string) =>
    waitFor(
      async () => (await plain.app.store.channels.listDeliveries({})).find((d) => ((d.providerIds ?? []) as string[]).includes(wamid)),
      `the delivery of ${wamid}`,
      10_000,
    );
  /** The person last wrote 25 hours ago. */
  const ageConversation = async (server: RunningApp, conversationId: string) => {
    await server.app.database.db.execute(sql`update messages set created_at = created_at - interval '25 hours' where conversation_id = ${conversationId}`);
  };

  beforeAll(async () => {
    [provider, graph, templatedGraph, twilioApi] = await Promise.all([
      startFakeOpenAIServer(),
      startFakeWhatsAppCloudApi(),
      startFakeWhatsAppCloudApi({ templates: [{ ...TEMPLATE, bodyParameters: 1 }] }),
      startFakeTwilioApi(),
    ]);
    [plain, templated] = await Promise.all([
      startTestApp({ ...env(), WHATSAPP_API_URL: graph.url }, { extraTools: [refundTool] }),
      startTestApp(
        {
          ...env(),
          WHATSAPP_API_URL: templatedGraph.url,
          WHATSAPP_TEMPLATE_NAME: TEMPLATE.name,
          WHATSAPP_TEMPLATE_LANGUAGE: TEMPLATE.language,
          TWILIO_WHATSAPP_CONTENT_SID: CONTENT_SID,
        },
        { extraTools: [refundTool] },
      ),
    ]);
    admin = AdminClient.bearer(plain.url, ADMIN_TOKEN);
  });

  afterEach(() => {
    provider.reset();
    graph.reset();
    templatedGraph.reset();
    twilioApi.reset();
  });

  afterAll(async () => {
    await Promise.all([plain?.stop(), templated?.stop()]);
    await Promise.all([provider?.close(), graph?.close(), templatedGraph?.close(), twilioApi?.close()]);
  });

  describe('the webhook', () => {
    it("answers Meta's handshake with the challenge as text/plain, and 403 for a wrong token or mode", async () => {
      const response = await fetch(
        `${plain.url}/whatsapp/webhook?${new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '1158201444' })}`,
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await response.text()).toBe('1158201444');

      expect(await verifyHandshake(plain.url, { token: VERIFY_TOKEN, challenge: '42' })).toEqual({ status: 200, text: '42' });
      const wrongToken = await verifyHandshake(plain.url, { token: `${VERIFY_TOKEN}x`, challenge: '42' });
      expect(wrongToken.status).toBe(403);
      expect(wrongToken.text).not.toContain('42');
      expect((await verifyHandshake(plain.url, { token: 'short', challenge: '42' })).status).toBe(403);
      expect((await verifyHandshake(plain.url, { mode: 'unsubscribe', token: VERIFY_TOKEN, challenge: '42' })).status).toBe(403);
    });

    it('checks X-Hub-Signature-256 over the raw body: good (either secret while rotating) → 200; forged → 403, missing → 401, re-serialised → 403; nothing stored when refused', async () => {
      const [good, rotated, forged, missing, reserialised] = [newWaId(), newWaId(), newWaId(), newWaId(), newWaId()];
      const payload = (from: string) => metaWebhookPayload({ messages: [textMessage('hello', { from })] });

      expect(await postMetaWebhook(plain.url, payload(good), { appSecret: APP_SECRET })).toEqual({ status: 200, body: { received: true } });
      expect(await postMetaWebhook(plain.url, payload(rotated), { appSecret: OLD_APP_SECRET })).toEqual({ status: 200, body: { received: true } });

      const forgedAnswer = await postMetaWebhook(plain.url, payload(forged), { appSecret: 'not-the-app-secret' });
      expect(forgedAnswer).toMatchObject({ status: 403, body: { error: { code: 'signature_invalid' } } });
      const missingAnswer = await postMetaWebhook(plain.url, payload(missing), { signature: null });
      expect(missingAnswer).toMatchObject({ status: 401, body: { error: { code: 'signature_missing' } } });
      // Same JSON, other whitespace: the signature covers the bytes Meta sent, not the parsed object.
      const body = payload(reserialised);
      const reserialisedAnswer = await postMetaWebhook(plain.url, JSON.stringify(body, null, 2), { signature: signMeta(JSON.stringify(body), APP_SECRET) });
      expect(reserialisedAnswer).toMatchObject({ status: 403, body: { error: { code: 'signature_invalid' } } });
      // The hex of another body, or a bare hex without `sha256=`.
      const hexOnly = signMeta(JSON.stringify(body), APP_SECRET).slice('sha256='.length);
      expect((await postMetaWebhook(plain.url, body, { signature: hexOnly })).status).toBe(403);

      await conversationOf(plain, 'whatsapp-cloud', good);
      await conversationOf(plain, 'whatsapp-cloud', rotated);
      await waitForTextsTo(good, 1);
      await waitForTextsTo(rotated, 1);
      for (const refused of [forged, missing, reserialised]) {
        expect(await plain.app.store.conversations.findConversation({ channel: 'whatsapp-cloud', externalUserId: refused })).toBeUndefined();
        expect(sentTo(refused)).toEqual([]);
      }
    });

    it('answers 400 invalid_payload for a signed body that is not JSON or not a WhatsApp Business Account webhook', async () => {
      const notJson = await postMetaWebhook(plain.url, 'object=whatsapp_business_account', { appSecret: APP_SECRET });
      expect(notJson).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      const page = await postMetaWebhook(plain.url, { object: 'page', entry: [] }, { appSecret: APP_SECRET });
      expect(page).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
      expect(provider.requests).toHaveLength(0);
    });

    it('ignores a delivery for another phone_number_id: 200, nothing stored, read or answered', async () => {
      const from = newWaId();
      const answer = await post({ messages: [textMessage('hello?', { from })], phoneNumberId: '109999999999999' });
      expect(answer).toEqual({ status: 200, body: { received: true } });
      await sleep(300);
      expect(await plain.app.store.conversations.findConversation({ channel: 'whatsapp-cloud', externalUserId: from })).toBeUndefined();
      expect(graph.calls).toEqual([]);
      expect(provider.requests).toHaveLength(0);
    });
  });

  describe('messages in, replies out', () => {
    it('a text message is answered through POST /v21.0/{phone-number-id}/messages, marked read, stored and recorded', async () => {
      const from = newWaId();
      provider.push({ text: 'Hello! How can I help?' });
      const message = await send(textMessage('Hi there', { from }));
      await graph.waitForMessages(1);
      expect(graph.messages[0]).toMatchObject({
        phoneNumberId: FAKE_PHONE_NUMBER_ID,
        body: { messaging_product: 'whatsapp', recipient_type: 'individual', to: from, type: 'text', text: { body: 'Hello! How can I help?', preview_url: false } },
      });
      await graph.waitForReads(1);
      expect(graph.reads).toEqual([message.id]);
      expect(graph.calls.every((call) => call.method === 'POST' && call.path === `/v21.0/${FAKE_PHONE_NUMBER_ID}/messages` && call.status === 200)).toBe(true);
      expect(provider.requests.at(-1)!.body.messages.at(-1)).toMatchObject({ role: 'user', content: 'Hi there' });

      const conversation = await conversationOf(plain, 'whatsapp-cloud', from);
      const delivery = await deliveryWith(plain, conversation.id, (d) => d.status === 'sent');
      expect(delivery).toMatchObject({ channel: 'whatsapp-cloud', kind: 'reply', attempts: 1, parts: 1, providerIds: [graph.messages[0]!.id], error: null });
      const stored = await listMessages(plain.app.database.db, conversation.id);
      expect(stored.map((m) => [m.role, m.text, m.externalMessageId])).toEqual([
        ['user', 'Hi there', message.id],
        ['assistant', 'Hello! How can I help?', null],
      ]);
    });

    it('several messages in one delivery (two in one change, one in another change) are each answered', async () => {
      const [ana, ben, eva] = [newWaId(), newWaId(), newWaId()];
      const changes: ChangeInput[] = [
        { messages: [textMessage('question from ana', { from: ana }), textMessage('question from ben', { from: ben })] },
        { messages: [textMessage('question from eva', { from: eva })] },
      ];
      expect(await post(changes)).toEqual({ status: 200, body: { received: true } });
      await graph.waitForMessages(3);
      await graph.waitForReads(3);
      expect(await waitForTextsTo(ana, 1)).toEqual(['echo: question from ana']);
      expect(await waitForTextsTo(ben, 1)).toEqual(['echo: question from ben']);
      expect(await waitForTextsTo(eva, 1)).toEqual(['echo: question from eva']);
      expect(provider.requests).toHaveLength(3);
    });

    it('a redelivered message (same wamid) is answered once', async () => {
      const from = newWaId();
      const message = textMessage('only once, please', { from });
      await send(message);
      await waitForTextsTo(from, 1);
      // Meta redelivers when it missed our 200: the same wamid, signed afresh.
      await send(message);
      await sleep(400);
      expect(textsTo(from)).toEqual(['echo: only once, please']);
      expect(provider.requests).toHaveLength(1);
      // Marked read once: a redelivery is not a new message.
      expect(graph.reads.filter((id) => id === message.id)).toHaveLength(1);
      const conversation = await conversationOf(plain, 'whatsapp-cloud', from);
      expect((await listMessages(plain.app.database.db, conversation.id)).filter((m) => m.role === 'user')).toHaveLength(1);
    });

    it('a redelivered media message (same wamid) gets the text-only notice once', async () => {
      const from = newWaId();
      const image = imageMessage({}, { from });
      await send(image);
      await waitForTextsTo(from, 1);
      await send(image);
      await sleep(400);
      expect(textsTo(from)).toEqual([ONLY_TEXT]);
    });

    it('media, locations… get one plain notice that only text is read, without calling the model', async () => {
      const [photographer, traveller] = [newWaId(), newWaId()];
      const image = imageMessage({ caption: 'what is this?' }, { from: photographer });
      const location = locationMessage({ latitude: 40.4168, longitude: -3.7038, name: 'Puerta del Sol' }, { from: traveller });
      expect(await post({ messages: [image, location] })).toEqual({ status: 200, body: { received: true } });
      expect(await waitForTextsTo(photographer, 1)).toEqual([ONLY_TEXT]);
      expect(await waitForTextsTo(traveller, 1)).toEqual([ONLY_TEXT]);
      await graph.waitForReads(2);
      expect(graph.reads.sort()).toEqual([image.id, location.id].sort());
      await sleep(200);
      expect(provider.requests).toHaveLength(0);
      expect(graph.messages).toHaveLength(2);
    });

    it('a 5,000-character reply goes out as two messages, each within 4,096 characters, in order', async () => {
      const from = newWaId();
      const words = Array.from({ length: 1000 }, (_, i) => `w${String(i).padStart(3, '0')}`);
      const long = `${words.join(' ')}.`;
      expect(long.length).toBe(5000);
      provider.push({ text: long, chunkSize: 500 });
      await send(textMessage('tell me everything', { from }));
      const parts = await waitForTextsTo(from, 2);
      expect(parts).toHaveLength(2);
      expect(parts.every((part) => part.length <= 4096)).toBe(true);
      expect(parts.join(' ')).toBe(long);
      const conversation = await conversationOf(plain, 'whatsapp-cloud', from);
      const delivery = await deliveryWith(plain, conversation.id, (d) => d.status === 'sent');
      expect(delivery).toMatchObject({ parts: 2, attempts: 2, providerIds: sentTo(from).map((m) => m.id) });
    });
  });

  describe('statuses', () => {
    it('sent → delivered → read is kept on the delivery row; a late "sent" does not move it back', async () => {
      const from = newWaId();
      await send(textMessage('track this', { from }));
      await graph.waitForMessages(1);
      const wamid = graph.messages[0]!.id;
      await deliveryOf(wamid);
      const t0 = Math.floor(Date.now() / 1000);

      await statuses(messageStatus(wamid, 'sent', { recipientId: from, timestamp: t0 }));
      expect(await deliveryOf(wamid)).toMatchObject({ providerStatus: 'sent', providerStatusAt: new Date(t0 * 1000), providerError: null });
      await statuses(messageStatus(wamid, 'delivered', { recipientId: from, timestamp: t0 + 2 }));
      expect(await deliveryOf(wamid)).toMatchObject({ providerStatus: 'delivered', providerStatusAt: new Date((t0 + 2) * 1000) });
      await statuses(messageStatus(wamid, 'read', { recipientId: from, timestamp: t0 + 5 }));
      expect(await deliveryOf(wamid)).toMatchObject({ providerStatus: 'read', providerStatusAt: new Date((t0 + 5) * 1000) });

      // Webhooks arrive out of order: a late "sent" (and "delivered") change nothing.
      await statuses(messageStatus(wamid, 'sent', { recipientId: from, timestamp: t0 + 1 }), messageStatus(wamid, 'delivered', { recipientId: from, timestamp: t0 + 3 }));
      expect(await deliveryOf(wamid)).toMatchObject({ status: 'sent', providerStatus: 'read', providerStatusAt: new Date((t0 + 5) * 1000) });
    });

    it('a failed status keeps Meta’s code and title on the row; a status for an unknown wamid changes nothing', async () => {
      const from = newWaId();
      await send(textMessage('this one will bounce', { from }));
      await graph.waitForMessages(1);
      const wamid = graph.messages[0]!.id;
      await deliveryOf(wamid);
      const at = Math.floor(Date.now() / 1000);
      await statuses(messageStatus(wamid, 'sent', { recipientId: from, timestamp: at }), failedStatus(wamid, 131026, { recipientId: from, timestamp: at + 1 }));
      expect(await deliveryOf(wamid)).toMatchObject({
        status: 'sent',
        providerStatus: 'failed',
        providerStatusAt: new Date((at + 1) * 1000),
        providerError: '131026: Message undeliverable',
      });
      await statuses(messageStatus('wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBQUFBQUFBQUFBQUFBQUFBQUEA', 'read', { recipientId: from }));
      expect(await deliveryOf(wamid)).toMatchObject({ providerStatus: 'failed', providerError: '131026: Message undeliverable' });
    });
  });

  describe('confirmations as reply buttons', () => {
    it('a held sensitive call goes out as Confirm / Decline buttons; tapping Confirm runs the tool once', async () => {
      const from = newWaId();
      provider.push({ toolCalls: [{ name: 'issue_refund', arguments: { amount: 20 } }] }, { text: 'Please confirm the refund with the buttons.' });
      await send(textMessage('please refund 20', { from }));
      await graph.waitForMessages(2);
      const conversation = await conversationOf(plain, 'whatsapp-cloud', from);
      const [call] = await listToolCalls(plain.app.database.db, conversation.id);
      expect(call).toMatchObject({ toolName: 'issue_refund', status: 'pending' });

      const buttons = sentTo(from).find((message) => message.body.type === 'interactive')!;
      expect(buttons.body as WhatsAppButtonsBody).toMatchObject({
        to: from,
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: 'Please confirm: Refund 20 USD to the customer.' },
          action: {
            buttons: [
              { type: 'reply', reply: { id: `confirm:${call!.id}`, title: 'Confirm' } },
              { type: 'reply', reply: { id: `decline:${call!.id}`, title: 'Decline' } },
            ],
          },
        },
      });
      expect(textsTo(from)).toEqual(['Please confirm the refund with the buttons.']);
      expect(refunds).toEqual([]);

      const requests = provider.requests.length;
      const tap = await send(buttonReplyMessage({ id: `confirm:${call!.id}`, title: 'Confirm' }, { from, replyTo: buttons.id }));
      expect(await waitForTextsTo(from, 2)).toEqual(['Please confirm the refund with the buttons.', 'Refunded 20 USD.']);
      expect(refunds).toEqual([20]);
      expect((await listToolCalls(plain.app.database.db, conversation.id))[0]).toMatchObject({ status: 'ok', confirmationDecision: 'confirmed' });

      // A second tap (a new wamid) and Meta redelivering the first: the refund is not made again.
      await send(buttonReplyMessage({ id: `confirm:${call!.id}`, title: 'Confirm' }, { from, replyTo: buttons.id }));
      await send(tap);
      await sleep(300);
      expect(refunds).toEqual([20]);
      expect(textsTo(from)).toHaveLength(2);
      expect(provider.requests).toHaveLength(requests);
    });
  });

  describe('opt-out keywords', () => {
    it('after STOP nothing is sent (a reply in flight is recorded suppressed, new messages are not stored); START opts in again', async () => {
      const from = newWaId();
      provider.push({ text: 'An answer that arrives after STOP.', delayMs: 600 });
      await send(textMessage('a slow question', { from }));
      await send(textMessage('STOP', { from }));
      const conversation = await conversationOf(plain, 'whatsapp-cloud', from);
      const suppressed = await deliveryWith(plain, conversation.id, (d) => d.status === 'suppressed');
      expect(suppressed).toMatchObject({ channel: 'whatsapp-cloud', kind: 'reply', attempts: 0, error: 'recipient opted out' });

      await send(textMessage('are you still there?', { from }));
      await sleep(300);
      expect(sentTo(from)).toEqual([]);
      expect(provider.requests).toHaveLength(1);
      expect((await listMessages(plain.app.database.db, conversation.id)).filter((m) => m.role === 'user').map((m) => m.text)).toEqual(['a slow question']);

      await send(textMessage('Start', { from }));
      provider.push({ text: 'Welcome back.' });
      await send(textMessage('hello again', { from }));
      expect(await waitForTextsTo(from, 1)).toEqual(['Welcome back.']);
      // A Spanish keyword from the default list, with punctuation.
      await send(textMessage('Baja.', { from }));
      await sleep(200);
      expect(await plain.app.store.channels.isOptedOut({ channel: 'whatsapp-cloud', address: from })).toBe(true);
    });
  });

  describe('failures of the Graph API', () => {
    it('429 (130429) is retried and the reply arrives; a 400 like 131026 is not retried', async () => {
      const from = newWaId();
      graph.failNext(1, { status: 429, code: 130429 });
      provider.push({ text: 'Through on the second try.' });
      await send(textMessage('busy?', { from }));
      expect(await waitForTextsTo(from, 1)).toEqual(['Through on the second try.']);
      const conversation = await conversationOf(plain, 'whatsapp-cloud', from);
      expect(await deliveryWith(plain, conversation.id, (d) => d.status === 'sent')).toMatchObject({ attempts: 2, parts: 1 });
      expect(graph.calls.filter((call) => call.status === 429)).toHaveLength(1);

      const other = newWaId();
      graph.failNext(1, { status: 400, code: 131026 });
      await send(textMessage('not a whatsapp user', { from: other }));
      const otherConversation = await conversationOf(plain, 'whatsapp-cloud', other);
      const failed = await deliveryWith(plain, otherConversation.id, (d) => d.status === 'failed');
      expect(failed).toMatchObject({ attempts: 1 });
      expect(failed.error).toMatch(/^the WhatsApp Cloud API answered 400 \(error 131026: Unable to deliver message/);
      expect(sentTo(other)).toEqual([]);
    });

    it('an expired token (401, code 190) is recorded, not retried, readable in admin health, and the token is never written', async () => {
      const from = newWaId();
      graph.setToken('EAArotatedByMetaAfterExpiry0002');
      provider.push({ text: 'This cannot go out.' });
      await send(textMessage('hello?', { from }));
      const conversation = await conversationOf(plain, 'whatsapp-cloud', from);
      const failed = await deliveryWith(plain, conversation.id, (d) => d.status === 'failed');
      expect(failed).toMatchObject({ channel: 'whatsapp-cloud', kind: 'reply', attempts: 1 });
      expect(failed.error).toMatch(/^the WhatsApp Cloud API answered 401 \(error 190: Error validating access token: Session has expired/);
      expect(graph.messages).toEqual([]);

      const health = await admin.get('/api/admin/health');
      expect(health.status).toBe(200);
      const entry = health.body.deliveryErrors.find((item: { channel: string }) => item.channel === 'whatsapp-cloud');
      expect(entry).toMatchObject({ channel: 'whatsapp-cloud', count: expect.any(Number), lastAt: expect.any(String) });
      expect(entry.count).toBeGreaterThanOrEqual(1);
      expect(entry.lastError).toMatch(/^the WhatsApp Cloud API answered 401 \(error 190/);
      expect(JSON.stringify(health.body)).not.toContain(FAKE_WHATSAPP_TOKEN);
      const rows = await plain.app.store.channels.listDeliveries({ limit: 1000 });
      expect(JSON.stringify(rows)).not.toContain(FAKE_WHATSAPP_TOKEN);
      expect(JSON.stringify(rows)).not.toContain('EAArotatedByMetaAfterExpiry0002');
    });
  });

  describe("WhatsApp's 24-hour window", () => {
    /**
     * The person's message is dated 25 hours back while the model answers: the answer is ready
     * after the window closed (as after a long outage, or an operator's late reply).
     */
    const answerOutsideWindow = async (server: RunningApp, channel: string, externalUserId: string, write: () => Promise<unknown>, text: string) => {
      provider.push({ text, delayMs: 600 });
      await write();
      const conversation = await conversationOf(server, channel, externalUserId);
      await waitFor(async () => (await listMessages(server.app.database.db, conversation.id)).some((m) => m.role === 'user'), "the person's message", 10_000);
      await ageConversation(server, conversation.id);
      return conversation;
    };

    it('Cloud, with WHATSAPP_TEMPLATE_NAME: inside the window a text, outside it the template with the text as its body parameter (cut to 1,024)', async () => {
      const from = newWaId();
      provider.push({ text: 'Inside the window.' });
      await send(textMessage('first question', { from }), templated);
      expect(await waitForTextsTo(from, 1, templatedGraph)).toEqual(['Inside the window.']);

      const short = 'Your order shipped today.';
      const conversation = await answerOutsideWindow(templated, 'whatsapp-cloud', from, () => send(textMessage('where is my order?', { from }), templated), short);
      await templatedGraph.waitForMessages(2);
      expect(templatedGraph.messages[1]!.body).toEqual({
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: from,
        type: 'template',
        template: { name: TEMPLATE.name, language: { code: TEMPLATE.language }, components: [{ type: 'body', parameters: [{ type: 'text', text: short }] }] },
      });
      const delivery = await deliveryWith(templated, conversation.id, (d) => d.status === 'sent' && (d.providerIds as string[]).includes(templatedGraph.messages[1]!.id));
      expect(delivery).toMatchObject({ channel: 'whatsapp-cloud', kind: 'reply', parts: 1 });

      const long = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');
      await answerOutsideWindow(templated, 'whatsapp-cloud', from, () => send(textMessage('and the details?', { from }), templated), long);
      await templatedGraph.waitForMessages(3);
      const template = templatedGraph.messages[2]!.body as WhatsAppTemplateBody;
      const parameter = template.template.components![0]!.parameters![0]!.text!;
      expect(parameter.length).toBeLessThanOrEqual(1024);
      expect(parameter.endsWith('…')).toBe(true);
      expect(long.startsWith(parameter.slice(0, -1))).toBe(true);
      expect(templatedGraph.messages.filter((message) => message.body.type === 'template')).toHaveLength(2);
    });

    it('Cloud, without a template: outside the window nothing is sent, the reply is kept and recorded undeliverable, and the conversation is in the inbox', async () => {
      const from = newWaId();
      const text = 'An answer the window no longer allows.';
      const conversation = await answerOutsideWindow(plain, 'whatsapp-cloud', from, () => send(textMessage('a question, late', { from })), text);
      const delivery = await deliveryWith(plain, conversation.id, (d) => d.status === 'undeliverable');
      expect(delivery).toMatchObject({ channel: 'whatsapp-cloud', kind: 'reply', attempts: 0, parts: 0, error: 'undeliverable: outside_24h_window' });
      // The row names the message answered; the answer itself is kept for the operator.
      const stored = await listMessages(plain.app.database.db, conversation.id);
      expect(stored.map((m) => [m.role, m.text])).toEqual([
        ['user', 'a question, late'],
        ['assistant', text],
      ]);
      expect(delivery.messageId).toBe(stored[0]!.id);

      const inbox = await waitFor(
        async () => {
          const { status, body } = await admin.get('/api/admin/handoffs');
          expect(status).toBe(200);
          return (body.items as { conversationId: string }[]).find((item) => item.conversationId === conversation.id);
        },
        'the inbox item',
        10_000,
      );
      expect(inbox).toMatchObject({ channel: 'whatsapp-cloud', status: 'waiting', reason: 'undeliverable' });
      await sleep(200);
      expect(sentTo(from)).toEqual([]);
    });

    it('Twilio WhatsApp, with TWILIO_WHATSAPP_CONTENT_SID: outside the window the content template goes out with ContentVariables {"1": text}', async () => {
      const from = `whatsapp:+1415556${String(1000 + ++counter).padStart(4, '0')}`;
      const text = 'Your refund was processed.';
      const conversation = await answerOutsideWindow(templated, 'whatsapp', from, () => twilioWhatsApp(templated, from, 'did my refund go through?'), text);
      await twilioApi.waitForMessages(1);
      expect(twilioApi.messages).toEqual([
        { sid: expect.stringMatching(/^SM/), to: from, from: TWILIO_WHATSAPP_FROM, body: '', contentSid: CONTENT_SID, contentVariables: JSON.stringify({ 1: text }) },
      ]);
      const delivery = await deliveryWith(templated, conversation.id, (d) => d.status === 'sent');
      expect(delivery).toMatchObject({ channel: 'whatsapp', providerIds: [twilioApi.messages[0]!.sid] });
    });

    it('Twilio WhatsApp, without a Content SID: outside the window nothing is sent and the reply is recorded undeliverable', async () => {
      const from = `whatsapp:+1415556${String(1000 + ++counter).padStart(4, '0')}`;
      const conversation = await answerOutsideWindow(plain, 'whatsapp', from, () => twilioWhatsApp(plain, from, 'still open?'), 'Too late for free-form text.');
      const delivery = await deliveryWith(plain, conversation.id, (d) => d.status === 'undeliverable');
      expect(delivery).toMatchObject({ channel: 'whatsapp', kind: 'reply', attempts: 0, error: 'undeliverable: outside_24h_window' });
      await sleep(200);
      expect(twilioApi.calls).toEqual([]);
    });
  });
});

/** An inbound Twilio WhatsApp message, signed for PUBLIC_URL as Twilio signs it. */
async function twilioWhatsApp(server: RunningApp, from: string, body: string): Promise<void> {
  expect((await postTwilioMessage(server.url, { publicUrl: PUBLIC_URL, route: 'whatsapp', from, to: TWILIO_WHATSAPP_FROM, body })).status).toBe(200);
}
