import { eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toPaymentEvent } from '../src/payments/stripe-event.js';
import { paymentEvents, type Conversation } from '../src/store/schema.js';
import type { WhatsAppWebChannel } from '../src/channels/whatsapp-web/whatsapp-web-channel.js';
import { startFakeOpenAIServer, type FakeProviderServer, type Responder } from './fakes/fake-openai-server.js';
import { FAKE_SLACK_BOT_TOKEN, FAKE_SLACK_BOT_USER_ID, startFakeSlackApi, type FakeSlackApi } from './fakes/fake-slack-api.js';
import { FAKE_STRIPE_SECRET_KEY, startFakeStripeServer, type FakeCheckoutSession, type FakeStripeServer } from './fakes/fake-stripe-server.js';
import { FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN, startFakeTwilioApi, type FakeTwilioApi } from './fakes/fake-twilio-api.js';
import { FakeWhatsAppWebClient } from './fakes/fake-whatsapp-web-client.js';
import { AdminClient } from './helpers/admin-client.js';
import { postSlackEvent } from './helpers/slack-webhook.js';
import { listMessages, listToolCalls } from './helpers/store-queries.js';
import { postStripeEvent, stripeEvent } from './helpers/stripe-webhook.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { postTwilioMessage } from './helpers/twilio-webhook.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Payments close the loop, end to end on the person's own channel: a checkout link made in an SMS,
 * Slack or WhatsApp conversation (real stripe SDK → fake Stripe), then Stripe's signed webhook
 * events → the notice through the channel's SDK (Twilio, Slack and whatsapp-web.js fakes).
 */

const PUBLIC_URL = 'https://switchboard.example.com';
const SMS_FROM = '+15005550006';
const WHATSAPP_FROM = 'whatsapp:+14155238886';
const ADMIN_TOKEN = 'admin-token-for-payments';
const SLACK_SIGNING_SECRET = 'slack-payments-signing-secret-001';
const WEBHOOK_SECRET = 'whsec_paymentsChannelsTestSecret0001';
const TAKEOVER_NOTICE = 'Support from our team has joined the conversation.';

const paidNotice = (description: string, amount: string) => `Payment received: ${description}, ${amount}. Thank you!`;
const processingNotice = (description: string, amount: string) =>
  `Thank you! Your payment for ${description} (${amount}) is being processed; I'll let you know once it is confirmed.`;
const failedNotice = (description: string, amount: string) =>
  `The payment for ${description} (${amount}) did not go through. You can try again, or ask me for a new link.`;

let counter = 0;
const newNumber = () => `+1415557${String(1000 + ++counter).padStart(4, '0')}`;
const slackTs = () => `${1_700_300_000 + ++counter}.00${String(counter).padStart(4, '0')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A checkout.session.* event about a session the fake created, as Stripe would send it. */
const sessionEvent = (
  type: string,
  session: FakeCheckoutSession,
  paymentStatus: 'paid' | 'unpaid',
  object: { amount_total?: number; currency?: string } = {},
) => stripeEvent(type, { ...session, status: type === 'checkout.session.expired' ? 'expired' : 'complete', payment_status: paymentStatus, ...object });

/** The model makes the link when told to (a queued tool call), then answers with the URL its tool returned. */
const linkResponder: Responder = (body) => {
  const last = body.messages.at(-1);
  if (last?.role === 'tool') return { text: `Pay here: ${JSON.parse(last.content).url}` };
  return { text: 'OK.' };
};

interface PaymentEventItem {
  id: string;
  type: string;
  status: string;
  outcome: string | null;
  notified: boolean;
  channel: string | null;
  checkoutSessionId: string | null;
  paymentStatus: string | null;
}

describe('Payments close the loop: signed Stripe events → a notice in the channel the person used', () => {
  let twilioApi: FakeTwilioApi;
  let slack: FakeSlackApi;
  let provider: FakeProviderServer;
  let stripe: FakeStripeServer;
  let server: RunningApp;
  const whatsapp: FakeWhatsAppWebClient[] = [];
  let env: Record<string, string>;
  let admin: AdminClient;

  /** An inbound Twilio message (SMS, or WhatsApp from a `whatsapp:` address), signed as Twilio signs it. */
  const twilioInbound = async (route: 'sms' | 'whatsapp', from: string, body: string) => {
    const to = route === 'sms' ? SMS_FROM : WHATSAPP_FROM;
    expect((await postTwilioMessage(server.url, { publicUrl: PUBLIC_URL, route, from, to, body })).status).toBe(200);
  };
  const sms = (from: string, body: string) => twilioInbound('sms', from, body);
  const slackEvent = async (event: Record<string, unknown>) => {
    expect((await postSlackEvent(server.url, event, { signingSecret: SLACK_SIGNING_SECRET })).status).toBe(200);
  };
  /** POSTs an event to /stripe/webhook signed as Stripe signs it (a redelivery is signed afresh, as Stripe does). */
  const deliver = (event: unknown) => postStripeEvent(server.url, event, { secrets: [WEBHOOK_SECRET] });
  const paymentEventsOf = async (conversationId: string): Promise<PaymentEventItem[]> => {
    const { status, body } = await admin.get(`/api/admin/payments?conversation=${conversationId}`);
    expect(status).toBe(200);
    return (body.items as PaymentEventItem[]).reverse();
  };
  /** Waits until the event is handled (no longer `received`) and returns its admin list item. */
  const handled = (conversationId: string, eventId: string) =>
    waitFor(
      async () => (await paymentEventsOf(conversationId)).find((item) => item.id === eventId && item.status !== 'received'),
      `event ${eventId} handled`,
      10_000,
    );
  const paymentOfCall = async (conversationId: string) => {
    const { body } = await admin.get(`/api/admin/tool-calls?conversation=${conversationId}&tool=create_checkout_link`);
    return body.items.map((item: { payment: unknown }) => item.payment);
  };
  const conversationOf = (channel: string, externalUserId: string, threadKey = ''): Promise<Conversation> =>
    waitFor(() => server.app.store.conversations.findConversation({ channel, externalUserId, threadKey }), `the ${channel} conversation of ${externalUserId}`, 10_000);
  const sessionsOf = (conversationId: string) => stripe.sessions.filter((session) => session.metadata.conversation_id === conversationId);
  const smsTo = (to: string) => twilioApi.messages.filter((m) => m.to === to).map((m) => m.body);
  const waitForSmsTo = (to: string, count: number) => waitFor(() => (smsTo(to).length >= count ? smsTo(to) : undefined), `${count} messages to ${to}`, 10_000);
  const systemMessages = async (conversationId: string) =>
    (await listMessages(server.app.database.db, conversationId)).filter((m) => m.role === 'assistant' && m.author === 'system').map((m) => m.text);
  const checkoutCall = (description: string, amount = 49.99, currency = 'usd') => ({
    toolCalls: [{ name: 'create_checkout_link', arguments: { amount, currency, description } }],
  });

  /** An SMS conversation in which the model made a link for `description`: the person has the link. */
  const smsWithLink = async (description: string) => {
    const from = newNumber();
    provider.push(checkoutCall(description));
    await sms(from, `I want the ${description}`);
    const [reply] = await waitForSmsTo(from, 1);
    const conversation = await conversationOf('sms', from);
    const [session] = sessionsOf(conversation.id);
    expect(reply).toBe(`Pay here: ${session!.url}`);
    return { from, conversation, session: session! };
  };

  beforeAll(async () => {
    [twilioApi, slack, provider, stripe] = await Promise.all([startFakeTwilioApi(), startFakeSlackApi(), startFakeOpenAIServer(), startFakeStripeServer()]);
    env = {
      OPENAI_API_KEY: 'sk-test-payments',
      OPENAI_BASE_URL: provider.url,
      OPENAI_MODEL: 'gpt-fake',
      LLM_PROVIDERS: 'openai',
      LLM_RETRIES: '0',
      FOLLOW_UP_ENABLED: 'false',
      PUBLIC_URL,
      ADMIN_TOKEN,
      STRIPE_SECRET_KEY: FAKE_STRIPE_SECRET_KEY,
      STRIPE_API_URL: stripe.url,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      TWILIO_ACCOUNT_SID: FAKE_TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: FAKE_TWILIO_AUTH_TOKEN,
      TWILIO_SMS_FROM: SMS_FROM,
      TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
      TWILIO_API_URL: twilioApi.url,
      SLACK_SIGNING_SECRET,
      SLACK_BOT_TOKEN: FAKE_SLACK_BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      WHATSAPP_WEB_ENABLED: 'true',
      CHANNEL_DELIVERY_ATTEMPTS: '3',
      CHANNEL_DELIVERY_BASE_DELAY_MS: '10',
      CHANNEL_DELIVERY_MAX_DELAY_MS: '50',
      RATE_LIMIT_USER_PER_MINUTE: '30',
      // Links up to 500 EUR need no confirmation (as up to 500 USD by default): the cases are about what follows payment.
      CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'eur:500',
      HANDOFF_WAIT_NOTICE_S: '0',
    };
    server = await startTestApp(env, {
      whatsAppWebClient: () => {
        const client = new FakeWhatsAppWebClient();
        whatsapp.push(client);
        return client;
      },
    });
    admin = AdminClient.bearer(server.url, ADMIN_TOKEN);
    const channel = server.app.channels.get('whatsapp-web') as WhatsAppWebChannel;
    await waitFor(() => channel.pairing.state === 'qr', 'the QR code', 10_000);
    whatsapp.at(-1)!.pair();
  });

  beforeEach(() => provider.setResponder(linkResponder));

  afterEach(() => {
    twilioApi.reset();
    slack.reset();
    provider.reset();
  });

  afterAll(async () => {
    await server?.stop();
    await Promise.all([provider?.close(), slack?.close(), twilioApi?.close(), stripe?.close()]);
  });

  it('SMS: paid → one SMS; a redelivery and a late "expired" change nothing; the next turn knows the payment went through', async () => {
    const { from, conversation, session } = await smsWithLink('Pro plan');
    const [call] = await listToolCalls(server.app.database.db, conversation.id);
    // The session names its conversation and call, so the webhook finds them without guessing.
    expect(session.metadata).toEqual({ conversation_id: conversation.id, tool_call_id: call!.id, channel: 'sms' });
    expect(session.client_reference_id).toBe(conversation.id);
    expect(await paymentOfCall(conversation.id)).toEqual([{ status: 'open', amount: null, currency: null, at: null }]);

    const paid = sessionEvent('checkout.session.completed', session, 'paid', { amount_total: 4999, currency: 'usd' });
    expect(await deliver(paid)).toEqual({ status: 200, body: { received: true } });
    const notice = paidNotice('Pro plan', '49.99 USD');
    expect(await waitForSmsTo(from, 2)).toEqual([`Pay here: ${session.url}`, notice]);
    expect(await handled(conversation.id, paid.id)).toMatchObject({ status: 'processed', outcome: 'paid', notified: true, channel: 'sms' });

    // Stripe redelivers: acknowledged, not handled again.
    expect(await deliver(paid)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    // Out of order: the session "expires" after it was paid. Recorded as stale; nobody is told.
    const expired = sessionEvent('checkout.session.expired', session, 'unpaid', { amount_total: 4999, currency: 'usd' });
    expect(await deliver(expired)).toEqual({ status: 200, body: { received: true } });
    expect(await handled(conversation.id, expired.id)).toMatchObject({ status: 'processed', outcome: 'stale', notified: false });
    await sleep(300);
    expect(smsTo(from)).toHaveLength(2);
    expect((await paymentEventsOf(conversation.id)).map((item) => [item.type, item.outcome])).toEqual([
      ['checkout.session.completed', 'paid'],
      ['checkout.session.expired', 'stale'],
    ]);
    expect(await paymentOfCall(conversation.id)).toEqual([{ status: 'paid', amount: 4999, currency: 'usd', at: expect.any(String) }]);
    expect(await systemMessages(conversation.id)).toEqual([notice]);
    const [sent] = await server.app.store.channels.listDeliveries({ conversationId: conversation.id, status: 'sent' });
    expect(sent).toMatchObject({ channel: 'sms', providerIds: [twilioApi.messages.at(-1)!.sid] });

    provider.push({ text: 'Yes: your payment for the Pro plan went through.' });
    await sms(from, 'Did my payment go through?');
    expect((await waitForSmsTo(from, 3)).at(-1)).toBe('Yes: your payment for the Pro plan went through.');
    const history = provider.requests.at(-1)!.body.messages.filter((m: { role: string }) => m.role !== 'system');
    expect(history.slice(-3)).toEqual([
      { role: 'assistant', content: `Pay here: ${session.url}` },
      { role: 'assistant', content: notice },
      { role: 'user', content: 'Did my payment go through?' },
    ]);
  });

  it('Slack thread: a delayed payment is "processing" then "failed", each notice once, in the thread of the mention', async () => {
    const ts = slackTs();
    provider.push(checkoutCall('Team plan', 120, 'eur'));
    await slackEvent({ type: 'app_mention', user: 'U0PAYER', text: `<@${FAKE_SLACK_BOT_USER_ID}> upgrade us to the team plan`, ts, channel: 'C0GENERAL', event_ts: ts });
    await slack.waitForDeliveries(1);
    const conversation = await conversationOf('slack', 'T0TEST:U0PAYER', `C0GENERAL:${ts}`);
    const [session] = sessionsOf(conversation.id);
    expect(session!.metadata.channel).toBe('slack');
    expect(slack.posts[0]).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: `Pay here: ${session!.url}` });

    const completed = sessionEvent('checkout.session.completed', session!, 'unpaid');
    expect((await deliver(completed)).body).toEqual({ received: true });
    await slack.waitForDeliveries(2);
    expect(slack.posts[1]).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: processingNotice('Team plan', '120.00 EUR') });
    expect(await handled(conversation.id, completed.id)).toMatchObject({ outcome: 'processing', notified: true });
    expect(await paymentOfCall(conversation.id)).toEqual([{ status: 'processing', amount: 12000, currency: 'eur', at: expect.any(String) }]);

    const failed = sessionEvent('checkout.session.async_payment_failed', session!, 'unpaid');
    expect((await deliver(failed)).body).toEqual({ received: true });
    await slack.waitForDeliveries(3);
    expect(slack.posts[2]).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: failedNotice('Team plan', '120.00 EUR') });
    expect(await handled(conversation.id, failed.id)).toMatchObject({ outcome: 'failed', notified: true });

    // Each once, and nothing outside the thread.
    await sleep(300);
    expect(slack.posts.map((post) => [post.channel, post.thread_ts])).toEqual([
      ['C0GENERAL', ts],
      ['C0GENERAL', ts],
      ['C0GENERAL', ts],
    ]);
    expect(await paymentOfCall(conversation.id)).toEqual([{ status: 'failed', amount: 12000, currency: 'eur', at: expect.any(String) }]);
    expect(await systemMessages(conversation.id)).toEqual([processingNotice('Team plan', '120.00 EUR'), failedNotice('Team plan', '120.00 EUR')]);
  });

  it('WhatsApp through Twilio: outside the 24-hour window (no Content SID) the notice is stored, not sent, recorded undeliverable and handed to the inbox', async () => {
    const from = `whatsapp:${newNumber()}`;
    provider.push(checkoutCall('Annual plan', 199, 'usd'));
    await twilioInbound('whatsapp', from, 'I want the annual plan');
    const [reply] = await waitForSmsTo(from, 1);
    const conversation = await conversationOf('whatsapp', from);
    const [annual] = sessionsOf(conversation.id);
    expect(annual!.metadata.channel).toBe('whatsapp');
    expect(reply).toBe(`Pay here: ${annual!.url}`);

    // The person last wrote 25 hours ago: WhatsApp's Business API takes only a template now.
    await server.app.database.db.execute(
      sql`update messages set created_at = created_at - interval '25 hours' where conversation_id = ${conversation.id}`,
    );
    const late = sessionEvent('checkout.session.completed', annual!, 'paid');
    expect((await deliver(late)).body).toEqual({ received: true });
    expect(await handled(conversation.id, late.id)).toMatchObject({ status: 'processed', outcome: 'paid', notified: false, channel: 'whatsapp' });
    await sleep(200);
    expect(smsTo(from)).toHaveLength(1);
    const stored = (await listMessages(server.app.database.db, conversation.id)).filter((m) => m.author === 'system');
    expect(stored.map((m) => [m.role, m.text])).toEqual([['assistant', paidNotice('Annual plan', '199.00 USD')]]);
    const [undeliverable] = await server.app.store.channels.listDeliveries({ conversationId: conversation.id, status: 'undeliverable' });
    expect(undeliverable).toMatchObject({
      channel: 'whatsapp',
      kind: 'reply',
      messageId: stored[0]!.id,
      attempts: 0,
      error: 'undeliverable: outside_24h_window',
    });
    expect(await server.app.store.channels.listDeliveries({ conversationId: conversation.id, status: 'suppressed' })).toEqual([]);
    expect(await paymentOfCall(conversation.id)).toEqual([{ status: 'paid', amount: 19900, currency: 'usd', at: expect.any(String) }]);
    // A person follows up: the conversation waits in the operators' inbox.
    const inbox = await waitFor(
      async () => (await admin.get('/api/admin/handoffs')).body.items.find((item: { conversationId: string }) => item.conversationId === conversation.id),
      'the inbox item',
      10_000,
    );
    expect(inbox).toMatchObject({ channel: 'whatsapp', status: 'waiting', reason: 'undeliverable' });
  });

  it('WhatsApp (whatsapp-web.js, an ordinary account): no 24-hour window, a notice 25 hours after the last message is sent', async () => {
    const client = whatsapp.at(-1)!;
    const chatId = '15551239001@c.us';
    const toChat = () => client.sent.filter((sent) => sent.chatId === chatId).map((sent) => sent.content);
    provider.push(checkoutCall('Extra seat', 15, 'usd'));
    client.receive({ from: chatId, body: 'One extra seat, please' });
    await waitFor(() => toChat().length === 1, 'the link in the chat', 10_000);
    const conversation = await conversationOf('whatsapp-web', chatId);
    const [seat] = sessionsOf(conversation.id);
    expect(toChat()).toEqual([`Pay here: ${seat!.url}`]);

    await server.app.database.db.execute(
      sql`update messages set created_at = created_at - interval '25 hours' where conversation_id = ${conversation.id}`,
    );
    const paid = sessionEvent('checkout.session.completed', seat!, 'paid');
    expect((await deliver(paid)).body).toEqual({ received: true });
    await waitFor(() => toChat().length === 2, 'the notice in the chat', 10_000);
    expect(toChat()[1]).toBe(paidNotice('Extra seat', '15.00 USD'));
    expect(await handled(conversation.id, paid.id)).toMatchObject({ outcome: 'paid', notified: true, channel: 'whatsapp-web' });
  });

  it('human mode: with an operator holding the SMS conversation, the notice still reaches the person and the transcript, and the agent is not called', async () => {
    const { from, conversation, session } = await smsWithLink('Consulting hour');
    const takeover = await admin.post(`/api/admin/conversations/${conversation.id}/takeover`);
    expect(takeover.status).toBe(200);
    expect(takeover.body).toMatchObject({ status: 'active', operator: 'Support' });
    expect(await waitForSmsTo(from, 2)).toEqual([`Pay here: ${session.url}`, TAKEOVER_NOTICE]);
    const requests = provider.requests.length;

    const paid = sessionEvent('checkout.session.completed', session, 'paid');
    expect((await deliver(paid)).body).toEqual({ received: true });
    const notice = paidNotice('Consulting hour', '49.99 USD');
    expect(await waitForSmsTo(from, 3)).toEqual([`Pay here: ${session.url}`, TAKEOVER_NOTICE, notice]);
    expect(await handled(conversation.id, paid.id)).toMatchObject({ outcome: 'paid', notified: true });

    const { body: transcript } = await admin.get(`/api/admin/conversations/${conversation.id}`);
    expect(transcript.mode).toBe('human');
    expect(transcript.handoff).toMatchObject({ status: 'active' });
    expect(transcript.messages.at(-1)).toMatchObject({ role: 'assistant', author: 'system', text: notice });
    await sleep(300);
    expect(provider.requests).toHaveLength(requests);
    expect(smsTo(from)).toHaveLength(3);
  });

  it('restart recovery: an event stored but never handled is handled by the next process at start-up, and the person is told', async () => {
    const { from, conversation, session } = await smsWithLink('Setup fee');
    const event = sessionEvent('checkout.session.completed', session, 'paid');
    // As the webhook stores it, then the process stops before handling it.
    expect(await server.app.store.payments.insert(toPaymentEvent(event))).toMatchObject({ id: event.id, status: 'received' });
    await sleep(300);
    expect(smsTo(from)).toHaveLength(1);
    expect((await paymentEventsOf(conversation.id))[0]).toMatchObject({ id: event.id, status: 'received', outcome: null });

    const next = await startTestApp({ ...env, DATABASE_URL: server.config.DATABASE_URL!.reveal(), WHATSAPP_WEB_ENABLED: 'false' });
    try {
      const notice = paidNotice('Setup fee', '49.99 USD');
      expect(await waitForSmsTo(from, 2)).toEqual([`Pay here: ${session.url}`, notice]);
      const [row] = await server.app.database.db.select().from(paymentEvents).where(eq(paymentEvents.id, event.id));
      expect(row).toMatchObject({ status: 'processed', outcome: 'paid', notified: true, paymentStatus: 'paid' });
      expect(await paymentOfCall(conversation.id)).toEqual([{ status: 'paid', amount: 4999, currency: 'usd', at: expect.any(String) }]);
      expect(await systemMessages(conversation.id)).toEqual([notice]);
      await sleep(200);
      expect(smsTo(from)).toHaveLength(2);
    } finally {
      await next.stop();
    }
  });
});
