import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { conversations, inboundRefusals, messages, paymentEvents, toolCalls, type Workspace } from '../src/store/schema.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_STRIPE_SECRET_KEY, startFakeStripeServer, type FakeStripeServer } from './fakes/fake-stripe-server.js';
import { FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN, startFakeTwilioApi, type FakeTwilioApi } from './fakes/fake-twilio-api.js';
import { FAKE_PHONE_NUMBER_ID, FAKE_WHATSAPP_TOKEN, startFakeWhatsAppCloudApi, type FakeWhatsAppCloudApi } from './fakes/fake-whatsapp-cloud-api.js';
import { metaWebhookPayload, postMetaWebhook, textMessage, type ChangeInput } from './helpers/meta-webhook.js';
import { postWebhook } from './helpers/post-webhook.js';
import { postStripeEvent, stripeEvent } from './helpers/stripe-webhook.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { signTwilio, twilioMessageSid } from './helpers/twilio-webhook.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Every inbound message of the SMS, WhatsApp (Twilio and Cloud), web and Stripe channels belongs to
 * the workspace of the identity that RECEIVED it (the `To` number, the phone number id, the widget
 * key, the checkout's metadata), never to anything the sender wrote. Three workspaces on one
 * deployment: `default` (the environment's numbers), `acme` (its own numbers on the deployment's
 * accounts) and `globex` (its own numbers on its own Twilio account, Meta app and Stripe webhook
 * secret, from the credential vault). Unknown identities are refused, recorded (masked) and counted.
 */

const PUBLIC_URL = 'https://switchboard.example.com';
const DEFAULT_SMS = '+15005550006';
const DEFAULT_WHATSAPP = '+14155238886';
const ACME_SMS = '+15005550101';
const ACME_WHATSAPP = '+15005550102';
const GLOBEX_SMS = '+15005550201';
const ACME_PHONE_ID = '107000000000101';
const GLOBEX_PHONE_ID = '107000000000201';
const META_SECRET = 'meta-app-secret-deployment-0001';
const GLOBEX_META_SECRET = 'meta-app-secret-globex-0001';
const GLOBEX_WHATSAPP_TOKEN = 'EAAGlobexOwnWhatsAppCloudToken0001';
const GLOBEX_TWILIO_SID = `AC${'fedcba9876543210'.repeat(2)}`;
const GLOBEX_TWILIO_TOKEN = 'globex-own-twilio-auth-token-0001';
const STRIPE_SECRET = 'whsec_deployment_0123456789abcdef';
const GLOBEX_STRIPE_SECRET = 'whsec_globex_0123456789abcdef';
const ACME_ORIGIN = 'https://shop.acme.test';

let counter = 0;
const newNumber = () => `+1415555${String(1000 + ++counter).padStart(4, '0')}`;
const newWaId = () => `3465551${String(1000 + ++counter).padStart(4, '0')}`;

let provider: FakeProviderServer;
let twilioApi: FakeTwilioApi;
let graph: FakeWhatsAppCloudApi;
let stripe: FakeStripeServer;
let server: RunningApp;
let acme: Workspace;
let globex: Workspace;
const sockets: Socket[] = [];

const db = () => server.app.database.db;

/** An inbound Twilio message to `to` (bare number; `whatsapp: true` for the WhatsApp route), signed with `authToken`. */
async function twilioMessage(input: { to: string; from: string; body: string; whatsapp?: boolean; authToken?: string }) {
  const route = input.whatsapp ? 'whatsapp' : 'sms';
  const address = (number: string) => (input.whatsapp ? `whatsapp:${number}` : number);
  const params: Record<string, string> = {
    MessageSid: twilioMessageSid(),
    AccountSid: FAKE_TWILIO_ACCOUNT_SID,
    From: address(input.from),
    To: address(input.to),
    Body: input.body,
    NumMedia: '0',
  };
  const path = `/twilio/${route}`;
  return postWebhook(`${server.url}${path}`, new URLSearchParams(params).toString(), {
    'content-type': 'application/x-www-form-urlencoded',
    'x-twilio-signature': signTwilio(`${PUBLIC_URL}${path}`, params, input.authToken ?? FAKE_TWILIO_AUTH_TOKEN),
  });
}

const cloudMessage = (changes: ChangeInput | ChangeInput[], appSecret = META_SECRET) => postMetaWebhook(server.url, metaWebhookPayload(changes), { appSecret });

const conversationIn = (workspaceId: string, channel: string, externalUserId: string) =>
  server.app.store.conversations.findConversation({ workspaceId, channel, externalUserId });

const conversationsOf = (externalUserId: string) =>
  db().select({ id: conversations.id, workspaceId: conversations.workspaceId, channel: conversations.channel }).from(conversations).where(eq(conversations.externalUserId, externalUserId));

const messagesOf = (externalUserId: string) =>
  db()
    .select({ text: messages.text, workspaceId: messages.workspaceId })
    .from(messages)
    .innerJoin(conversations, eq(conversations.id, messages.conversationId))
    .where(and(eq(conversations.externalUserId, externalUserId), eq(messages.role, 'user')));

const smsTo = (number: string) => twilioApi.messages.filter((message) => message.to === number);
const cloudTo = (waId: string) => graph.messages.filter((message) => message.body.to === waId);

/** `switchboard_inbound_refused_total` for one channel and reason, as GET /metrics shows it. */
async function refusedCount(channel: string, reason = 'unknown_identity'): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`switchboard_inbound_refused_total{channel="${channel}",reason="${reason}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const refusalsOf = (channel: string) => db().select().from(inboundRefusals).where(eq(inboundRefusals.channel, channel));

/** A real socket.io client with a handshake `auth` and an `Origin` header; resolves to the session, or rejects with the connect_error. */
async function widget(auth: Record<string, unknown>, origin?: string) {
  const socket = connect(server.url, { auth, transports: ['websocket'], reconnection: false, forceNew: true, ...(origin && { extraHeaders: { origin } }) });
  sockets.push(socket);
  const session = await new Promise<{ conversationId: string; token: string }>((resolve, reject) => {
    socket.once('session', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, session };
}

async function refusedHandshake(auth: Record<string, unknown>, origin?: string): Promise<{ message: string; data: unknown }> {
  const error = await widget(auth, origin).then(
    () => undefined,
    (refusal: Error & { data?: unknown }) => refusal,
  );
  expect(error, 'the handshake was refused').toBeDefined();
  return { message: error!.message, data: error!.data };
}

async function say(socket: Socket, text: string) {
  const done = new Promise<{ messageId: string; text: string }>((resolve) => socket.once('reply.done', resolve));
  const ack = await socket.timeout(5000).emitWithAck('message', { text, clientMessageId: randomUUID() });
  expect(ack).toMatchObject({ ok: true });
  return { ack, reply: await done };
}

beforeAll(async () => {
  [provider, twilioApi, graph, stripe] = await Promise.all([
    startFakeOpenAIServer(),
    startFakeTwilioApi({ accounts: [{ accountSid: GLOBEX_TWILIO_SID, authToken: GLOBEX_TWILIO_TOKEN }] }),
    startFakeWhatsAppCloudApi({
      numbers: [
        { phoneNumberId: ACME_PHONE_ID, token: FAKE_WHATSAPP_TOKEN },
        { phoneNumberId: GLOBEX_PHONE_ID, token: GLOBEX_WHATSAPP_TOKEN },
      ],
    }),
    startFakeStripeServer(),
  ]);
  server = await startTestApp({
    OPENAI_API_KEY: 'sk-test-workspace-channels',
    OPENAI_BASE_URL: provider.url,
    OPENAI_MODEL: 'gpt-fake',
    LLM_PROVIDERS: 'openai',
    LLM_RETRIES: '0',
    FOLLOW_UP_ENABLED: 'false',
    PUBLIC_URL,
    SECRETS_MASTER_KEY: randomBytes(32).toString('base64'),
    TWILIO_ACCOUNT_SID: FAKE_TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: FAKE_TWILIO_AUTH_TOKEN,
    TWILIO_SMS_FROM: DEFAULT_SMS,
    TWILIO_WHATSAPP_FROM: `whatsapp:${DEFAULT_WHATSAPP}`,
    TWILIO_API_URL: twilioApi.url,
    WHATSAPP_PHONE_NUMBER_ID: FAKE_PHONE_NUMBER_ID,
    WHATSAPP_ACCESS_TOKEN: FAKE_WHATSAPP_TOKEN,
    META_APP_SECRET: META_SECRET,
    WHATSAPP_VERIFY_TOKEN: 'verify-token-workspace-channels',
    WHATSAPP_API_URL: graph.url,
    STRIPE_SECRET_KEY: FAKE_STRIPE_SECRET_KEY,
    STRIPE_API_URL: stripe.url,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    CHANNEL_DELIVERY_BASE_DELAY_MS: '10',
    CHANNEL_DELIVERY_MAX_DELAY_MS: '50',
    RATE_LIMIT_USER_PER_MINUTE: '100',
  });
  const { workspaceRecords: records, workspaces, credentials } = server.app;
  acme = await records.create({ slug: 'acme', name: 'Acme', allowedOrigins: [ACME_ORIGIN] });
  globex = await records.create({ slug: 'globex', name: 'Globex' });
  for (const [channel, identity, workspaceId] of [
    ['sms', ACME_SMS, acme.id],
    ['whatsapp', ACME_WHATSAPP, acme.id],
    ['whatsapp-cloud', ACME_PHONE_ID, acme.id],
    ['sms', GLOBEX_SMS, globex.id],
    ['whatsapp-cloud', GLOBEX_PHONE_ID, globex.id],
  ] as const) {
    expect(await records.bind({ channel, identity, workspaceId })).toBe(true);
  }
  // Globex brings its own accounts (WORKSPACE_CREDENTIALS defaults to `override`); Acme uses the deployment's.
  await credentials.put(globex.id, 'twilio', { TWILIO_ACCOUNT_SID: GLOBEX_TWILIO_SID, TWILIO_AUTH_TOKEN: GLOBEX_TWILIO_TOKEN });
  await credentials.put(globex.id, 'whatsapp-cloud', { WHATSAPP_ACCESS_TOKEN: GLOBEX_WHATSAPP_TOKEN, META_APP_SECRET: GLOBEX_META_SECRET });
  await credentials.put(globex.id, 'stripe', { STRIPE_SECRET_KEY: FAKE_STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET: GLOBEX_STRIPE_SECRET });
  await workspaces.changed();
});

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  provider.reset();
});

afterAll(async () => {
  await server?.stop();
  await Promise.all([provider?.close(), twilioApi?.close(), graph?.close(), stripe?.close()]);
});

describe('Twilio SMS and WhatsApp: routed by the To number', () => {
  it('the same phone number writing to two workspaces is two conversations, each answered from its own number', async () => {
    const person = newNumber();
    expect((await twilioMessage({ to: DEFAULT_SMS, from: person, body: 'hello default' })).status).toBe(200);
    expect((await twilioMessage({ to: ACME_SMS, from: person, body: 'hello acme' })).status).toBe(200);
    await waitFor(() => smsTo(person).length >= 2, 'both replies', 10_000);

    const rows = await conversationsOf(person);
    expect(rows.map((row) => row.workspaceId).sort()).toEqual([acme.id, 'default'].sort());
    expect((await messagesOf(person)).map((row) => [row.workspaceId, row.text]).sort()).toEqual(
      [
        ['default', 'hello default'],
        [acme.id, 'hello acme'],
      ].sort(),
    );
    // Each reply goes out from the number the workspace owns, on the deployment's account (Acme has no account of its own).
    expect(new Set(smsTo(person).map((message) => message.from))).toEqual(new Set([DEFAULT_SMS, ACME_SMS]));
    expect(smsTo(person).every((message) => message.accountSid === undefined)).toBe(true);
  });

  it('WhatsApp through Twilio routes by the bare To number and answers from whatsapp:<that number>', async () => {
    const person = newNumber();
    expect((await twilioMessage({ to: ACME_WHATSAPP, from: person, body: 'hola acme', whatsapp: true })).status).toBe(200);
    await waitFor(() => smsTo(`whatsapp:${person}`).length >= 1, 'the WhatsApp reply', 10_000);
    expect(smsTo(`whatsapp:${person}`)[0]).toMatchObject({ from: `whatsapp:${ACME_WHATSAPP}` });
    expect(await conversationIn(acme.id, 'whatsapp', `whatsapp:${person}`)).toBeDefined();
    expect(await conversationIn('default', 'whatsapp', `whatsapp:${person}`)).toBeUndefined();
  });

  it('STOP to one workspace does not opt the number out of another', async () => {
    const person = newNumber();
    await twilioMessage({ to: ACME_SMS, from: person, body: 'STOP' });
    expect(await server.app.store.channels.isOptedOut({ workspaceId: acme.id, channel: 'sms', address: person })).toBe(true);
    expect(await server.app.store.channels.isOptedOut({ workspaceId: 'default', channel: 'sms', address: person })).toBe(false);

    // Acme stores and answers nothing more; the default workspace still does.
    expect((await twilioMessage({ to: ACME_SMS, from: person, body: 'still there?' })).status).toBe(200);
    expect((await twilioMessage({ to: DEFAULT_SMS, from: person, body: 'hello default' })).status).toBe(200);
    await waitFor(() => smsTo(person).length >= 1, 'the default reply', 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(smsTo(person).map((message) => message.from)).toEqual([DEFAULT_SMS]);
    expect((await messagesOf(person)).map((row) => [row.workspaceId, row.text])).toEqual([['default', 'hello default']]);
  });

  it('an unknown To number: 404 unknown_number, nothing stored or sent, the refusal recorded masked and counted', async () => {
    const person = newNumber();
    const before = await refusedCount('sms');
    const answer = await twilioMessage({ to: '+15005559876', from: person, body: 'anyone?' });
    expect(answer).toEqual({ status: 404, body: { error: { code: 'unknown_number', message: expect.any(String) } } });
    expect(await refusedCount('sms')).toBe(before + 1);
    expect(await conversationsOf(person)).toEqual([]);
    const refusals = await refusalsOf('sms');
    expect(refusals).toContainEqual(expect.objectContaining({ channel: 'sms', identity: '+1***9876', reason: 'unknown_identity' }));
    // Neither the full number nor the sender is ever kept.
    expect(JSON.stringify(refusals)).not.toContain('5005559876');
    expect(JSON.stringify(refusals)).not.toContain(person.slice(2));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(smsTo(person)).toEqual([]);
  });

  it("a forged request for an unknown number is 403, not recorded: refusals are written only for Twilio's own requests", async () => {
    const before = (await refusalsOf('sms')).length;
    const answer = await twilioMessage({ to: '+15005559877', from: newNumber(), body: 'spam', authToken: 'not-a-token-we-have' });
    expect(answer.status).toBe(403);
    expect((await refusalsOf('sms')).length).toBe(before);
  });

  it("a workspace with its own Twilio account: its signature checks with its token, its replies go out on its account", async () => {
    const person = newNumber();
    // Signed with the deployment's token: not Globex's account, so not Twilio calling for Globex's number.
    expect((await twilioMessage({ to: GLOBEX_SMS, from: person, body: 'hi', authToken: FAKE_TWILIO_AUTH_TOKEN })).status).toBe(403);
    expect(await conversationsOf(person)).toEqual([]);

    expect((await twilioMessage({ to: GLOBEX_SMS, from: person, body: 'hi globex', authToken: GLOBEX_TWILIO_TOKEN })).status).toBe(200);
    await waitFor(() => smsTo(person).length >= 1, 'the Globex reply', 10_000);
    expect(smsTo(person)[0]).toMatchObject({ from: GLOBEX_SMS, accountSid: GLOBEX_TWILIO_SID });
    expect(await conversationIn(globex.id, 'sms', person)).toBeDefined();
    // The deployment's token cannot answer for Globex's number, and Globex's cannot for the deployment's.
    expect((await twilioMessage({ to: DEFAULT_SMS, from: person, body: 'x', authToken: GLOBEX_TWILIO_TOKEN })).status).toBe(403);
  });
});

describe('WhatsApp Cloud: routed by metadata.phone_number_id', () => {
  it('the same WhatsApp id on two phone numbers is two conversations, each answered from its own phone number id', async () => {
    const person = newWaId();
    expect(await cloudMessage({ messages: [textMessage('hi default', { from: person })] })).toEqual({ status: 200, body: { received: true } });
    expect(await cloudMessage({ phoneNumberId: ACME_PHONE_ID, messages: [textMessage('hi acme', { from: person })] })).toEqual({ status: 200, body: { received: true } });
    await waitFor(() => cloudTo(person).length >= 2, 'both replies', 10_000);
    expect(new Set(cloudTo(person).map((message) => message.phoneNumberId))).toEqual(new Set([FAKE_PHONE_NUMBER_ID, ACME_PHONE_ID]));
    expect((await conversationsOf(person)).map((row) => row.workspaceId).sort()).toEqual([acme.id, 'default'].sort());
  });

  it('opt-outs are per workspace', async () => {
    const person = newWaId();
    await cloudMessage({ phoneNumberId: ACME_PHONE_ID, messages: [textMessage('stop', { from: person })] });
    expect(await server.app.store.channels.isOptedOut({ workspaceId: acme.id, channel: 'whatsapp-cloud', address: person })).toBe(true);
    expect(await server.app.store.channels.isOptedOut({ workspaceId: 'default', channel: 'whatsapp-cloud', address: person })).toBe(false);
  });

  it('an unknown phone number id: acknowledged 200 (Meta redelivers anything else), nothing stored or sent, recorded and counted', async () => {
    const person = newWaId();
    const before = await refusedCount('whatsapp-cloud');
    const answer = await cloudMessage([
      { phoneNumberId: '109999999999999', messages: [textMessage('to nobody', { from: person })] },
      { phoneNumberId: '109999999999999', messages: [textMessage('to nobody again', { from: person })] },
    ]);
    expect(answer).toEqual({ status: 200, body: { received: true } });
    // One refusal per phone number id and delivery.
    expect(await refusedCount('whatsapp-cloud')).toBe(before + 1);
    expect(await refusalsOf('whatsapp-cloud')).toContainEqual(expect.objectContaining({ identity: '1***9999', reason: 'unknown_identity' }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await conversationsOf(person)).toEqual([]);
    expect(cloudTo(person)).toEqual([]);
  });

  it("a workspace's own Meta app secret vouches only for its own phone number ids", async () => {
    const [mine, acmes, deployments] = [newWaId(), newWaId(), newWaId()];
    // One delivery signed with Globex's secret, naming Globex's, Acme's and the deployment's numbers: only Globex's change is taken.
    const answer = await cloudMessage(
      [
        { phoneNumberId: GLOBEX_PHONE_ID, messages: [textMessage('hi globex', { from: mine })] },
        { phoneNumberId: ACME_PHONE_ID, messages: [textMessage('forged for acme', { from: acmes })] },
        { phoneNumberId: FAKE_PHONE_NUMBER_ID, messages: [textMessage('forged for default', { from: deployments })] },
      ],
      GLOBEX_META_SECRET,
    );
    expect(answer).toEqual({ status: 200, body: { received: true } });
    await waitFor(() => cloudTo(mine).length >= 1, 'the Globex reply', 10_000);
    expect(cloudTo(mine)[0]!.phoneNumberId).toBe(GLOBEX_PHONE_ID);
    expect(await conversationIn(globex.id, 'whatsapp-cloud', mine)).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await conversationsOf(acmes)).toEqual([]);
    expect(await conversationsOf(deployments)).toEqual([]);

    // Globex keeps its own secret (override): the deployment's secret does not vouch for Globex's number.
    const other = newWaId();
    expect(await cloudMessage({ phoneNumberId: GLOBEX_PHONE_ID, messages: [textMessage('signed by the deployment', { from: other })] })).toEqual({
      status: 200,
      body: { received: true },
    });
    // A secret nobody has: refused as before.
    expect((await cloudMessage({ phoneNumberId: GLOBEX_PHONE_ID, messages: [textMessage('x', { from: other })] }, 'someone-elses-secret')).status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await conversationsOf(other)).toEqual([]);
  });

  it('status callbacks move only deliveries of the workspace the phone number id routes to', async () => {
    const person = newWaId();
    await cloudMessage({ phoneNumberId: ACME_PHONE_ID, messages: [textMessage('hello', { from: person })] });
    await waitFor(() => cloudTo(person).length >= 1, 'the Acme reply', 10_000);
    const wamid = cloudTo(person)[0]!.id;
    const delivery = () =>
      waitFor(async () => (await server.app.store.channels.listDeliveries({})).find((d) => ((d.providerIds ?? []) as string[]).includes(wamid)), 'the delivery', 10_000);
    await delivery();
    const status = (state: 'delivered' | 'read') => ({ id: wamid, status: state, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: person });
    // Reported on the deployment's number: not Acme's delivery, nothing moves.
    await cloudMessage({ phoneNumberId: FAKE_PHONE_NUMBER_ID, statuses: [status('delivered')] as never });
    expect((await delivery()).providerStatus).toBeNull();
    await cloudMessage({ phoneNumberId: ACME_PHONE_ID, statuses: [status('read')] as never });
    expect((await delivery()).providerStatus).toBe('read');
  });
});

describe('web widget: routed by data-workspace-key (and the page origin)', () => {
  it('no key is the default workspace; a key is its workspace; every message of the socket is stored there', async () => {
    const visitor = await widget({});
    await say(visitor.socket, 'hello default');
    const acmeVisitor = await widget({ workspaceKey: acme.widgetKey }, ACME_ORIGIN);
    await say(acmeVisitor.socket, 'hello acme');
    const rows = await db()
      .select({ id: conversations.id, workspaceId: conversations.workspaceId })
      .from(conversations)
      .where(eq(conversations.channel, 'web'));
    expect(rows).toContainEqual({ id: visitor.session.conversationId, workspaceId: 'default' });
    expect(rows).toContainEqual({ id: acmeVisitor.session.conversationId, workspaceId: acme.id });
  });

  it('an unknown key is refused with connect_error unknown_workspace, recorded and counted, never the default workspace', async () => {
    const before = await refusedCount('web');
    const refusal = await refusedHandshake({ workspaceKey: 'wk_not_a_key_of_ours' });
    expect(refusal.data).toEqual({ code: 'unknown_workspace' });
    expect(await refusedCount('web')).toBe(before + 1);
    await waitFor(async () => (await refusalsOf('web')).some((row) => row.identity === 'wk_not_a_key_of_ours'), 'the web refusal');
    // Not a string: refused too, not taken for "no key".
    expect((await refusedHandshake({ workspaceKey: { $ne: null } })).data).toEqual({ code: 'unknown_workspace' });
  });

  it("a page outside the workspace's allowed origins is refused with origin_not_allowed", async () => {
    const before = await refusedCount('web', 'origin_not_allowed');
    expect((await refusedHandshake({ workspaceKey: acme.widgetKey }, 'https://evil.example')).data).toEqual({ code: 'origin_not_allowed' });
    expect((await refusedHandshake({ workspaceKey: acme.widgetKey })).data).toEqual({ code: 'origin_not_allowed' });
    expect(await refusedCount('web', 'origin_not_allowed')).toBe(before + 2);
    // A workspace without allowed origins takes any page.
    expect((await widget({ workspaceKey: globex.widgetKey }, 'https://anywhere.example')).session.conversationId).toEqual(expect.any(String));
  });

  it("a resume token of the default workspace's conversation, presented with Acme's key, does not resume it (nor replay its replies)", async () => {
    const first = await widget({});
    const { reply } = await say(first.socket, 'my secret order number is 42');
    first.socket.disconnect();

    const replayed: unknown[] = [];
    const socket = connect(server.url, {
      auth: { workspaceKey: acme.widgetKey, token: first.session.token, after: '00000000-0000-4000-8000-000000000000' },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: { origin: ACME_ORIGIN },
    });
    sockets.push(socket);
    socket.on('reply.done', (payload) => replayed.push(payload));
    const session = await new Promise<{ conversationId: string; token: string }>((resolve) => socket.once('session', resolve));
    expect(session.conversationId).not.toBe(first.session.conversationId);
    expect(session.token).not.toBe(first.session.token);
    await say(socket, 'what was my order number?');
    expect(replayed.some((payload) => (payload as { text: string }).text === reply.text)).toBe(false);
    const [row] = await db().select().from(conversations).where(eq(conversations.id, session.conversationId));
    expect(row).toMatchObject({ workspaceId: acme.id });
    // The default workspace's conversation is untouched; its token still resumes it with no key.
    const again = await widget({ token: first.session.token });
    expect(again.session.conversationId).toBe(first.session.conversationId);
  });
});

describe('Stripe: events belong to the workspace their metadata names', () => {
  /** An Acme web visitor who got a checkout link from the agent. */
  async function acmeCheckout() {
    const visitor = await widget({ workspaceKey: acme.widgetKey }, ACME_ORIGIN);
    provider.push({ toolCalls: [{ name: 'create_checkout_link', arguments: { amount: 20, currency: 'usd', description: 'Acme mug' } }] }, { text: 'Here is your link.' });
    await say(visitor.socket, 'I want a mug');
    const [call] = await db().select().from(toolCalls).where(eq(toolCalls.conversationId, visitor.session.conversationId));
    const checkout = stripe.sessions.find((session) => session.metadata.tool_call_id === call!.id)!;
    return { conversationId: visitor.session.conversationId, call: call!, checkout };
  }
  const eventRow = (id: string) =>
    waitFor(async () => {
      const [row] = await db().select().from(paymentEvents).where(eq(paymentEvents.id, id));
      return row && row.status !== 'received' ? row : undefined;
    }, `event ${id} handled`);
  const callRow = async (id: string) => (await db().select().from(toolCalls).where(eq(toolCalls.id, id)))[0]!;
  const completed = (checkout: object) => stripeEvent('checkout.session.completed', { ...checkout, payment_status: 'paid', status: 'complete' });

  it("create_checkout_link writes the workspace into the session's metadata; the paid event is applied to that workspace's call", async () => {
    const { conversationId, call, checkout } = await acmeCheckout();
    expect(call.workspaceId).toBe(acme.id);
    expect(checkout.metadata).toEqual({ conversation_id: conversationId, tool_call_id: call.id, channel: 'web', workspace_id: acme.id });
    const event = completed(checkout);
    expect(await postStripeEvent(server.url, event, { secrets: [STRIPE_SECRET] })).toEqual({ status: 200, body: { received: true } });
    expect(await eventRow(event.id)).toMatchObject({ workspaceId: acme.id, status: 'processed', outcome: 'paid' });
    expect(await callRow(call.id)).toMatchObject({ paymentStatus: 'paid' });
  });

  it('an event naming a workspace we do not have: stored ignored (unknown_workspace), never applied, recorded and counted', async () => {
    const { call, checkout } = await acmeCheckout();
    const before = await refusedCount('stripe');
    const event = completed({ ...checkout, metadata: { ...checkout.metadata, workspace_id: 'ws_gone' } });
    expect(await postStripeEvent(server.url, event, { secrets: [STRIPE_SECRET] })).toEqual({ status: 200, body: { received: true } });
    expect(await eventRow(event.id)).toMatchObject({ workspaceId: 'default', status: 'ignored', outcome: 'unknown_workspace', conversationId: null, toolCallId: null });
    expect(await callRow(call.id)).toMatchObject({ paymentStatus: null });
    expect(await refusedCount('stripe')).toBe(before + 1);
    expect(await refusalsOf('stripe')).toContainEqual(expect.objectContaining({ identity: 'ws_gone', reason: 'unknown_identity' }));
  });

  it("an event naming one workspace but another workspace's conversation is not applied there", async () => {
    const { call, checkout } = await acmeCheckout();
    // Names Globex (signed by the deployment's secret) with Acme's conversation and call.
    const event = completed({ ...checkout, metadata: { ...checkout.metadata, workspace_id: globex.id } });
    expect((await postStripeEvent(server.url, event, { secrets: [STRIPE_SECRET] })).status).toBe(200);
    expect(await eventRow(event.id)).toMatchObject({ workspaceId: globex.id, status: 'ignored', outcome: 'other_workspace' });
    expect(await callRow(call.id)).toMatchObject({ paymentStatus: null });
  });

  it("a workspace's own webhook secret verifies only events that name that workspace", async () => {
    const { checkout } = await acmeCheckout();
    const forAcme = completed(checkout);
    // Globex's secret cannot vouch for an event naming Acme, nor for one naming no workspace (the default).
    expect((await postStripeEvent(server.url, forAcme, { secrets: [GLOBEX_STRIPE_SECRET] })).body.error.code).toBe('signature_invalid');
    const unnamed = completed({ ...checkout, metadata: {} });
    expect((await postStripeEvent(server.url, unnamed, { secrets: [GLOBEX_STRIPE_SECRET] })).body.error.code).toBe('signature_invalid');
    // An event naming Globex verifies with Globex's secret, and is Globex's.
    const forGlobex = stripeEvent('customer.subscription.created', { id: 'sub_globex_1', object: 'subscription', currency: 'usd', metadata: { workspace_id: globex.id } });
    expect(await postStripeEvent(server.url, forGlobex, { secrets: [GLOBEX_STRIPE_SECRET] })).toEqual({ status: 200, body: { received: true } });
    expect(await eventRow(forGlobex.id)).toMatchObject({ workspaceId: globex.id, outcome: 'subscription_created' });
  });
});
