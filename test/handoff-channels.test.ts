import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Conversation } from '../src/store/schema.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_SLACK_BOT_TOKEN, FAKE_SLACK_BOT_USER_ID, startFakeSlackApi, type FakeSlackApi } from './fakes/fake-slack-api.js';
import { FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN, startFakeTwilioApi, type FakeTwilioApi } from './fakes/fake-twilio-api.js';
import { AdminClient } from './helpers/admin-client.js';
import { postSlackEvent, postSlackRequest } from './helpers/slack-webhook.js';
import { listMessages } from './helpers/store-queries.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { postTwilioMessage } from './helpers/twilio-webhook.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Human handoff end to end on the plain-text channels: signed Twilio and Slack webhooks in,
 * the real twilio and @slack/web-api SDKs out to the local fakes, operators through the admin API.
 */

const PUBLIC_URL = 'https://switchboard.example.com';
const SMS_FROM = '+15005550006';
const ADMIN_TOKEN = 'admin-token-for-handoffs';
const SLACK_SIGNING_SECRET = 'slack-handoff-signing-secret-0001';
const OPS_CHANNEL = 'C0OPS';
const SMS_NOTICE = 'A person from our team will text you back here.';
const DEFAULT_NOTICE = "I've asked a person from our team to join. They'll answer here; you can keep writing in the meantime.";
const FALLBACK_REPLY = 'Busy right now; your message is saved.';

let numberCounter = 0;
const newNumber = () => `+1415556${String(1000 + ++numberCounter).padStart(4, '0')}`;
let slackCounter = 0;
const slackTs = () => `${1_700_200_000 + ++slackCounter}.00${String(slackCounter).padStart(4, '0')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface InboxItem {
  conversationId: string;
  channel: string;
  status: string;
  reason: string;
  summary: string | null;
  operator: string | null;
}

describe('Human handoff over SMS and Slack: webhooks → handoff → operator replies through the channel SDKs', () => {
  let twilioApi: FakeTwilioApi;
  let slack: FakeSlackApi;
  let provider: FakeProviderServer;
  let server: RunningApp;
  let admin: AdminClient;

  const sms = async (from: string, body: string) => {
    expect((await postTwilioMessage(server.url, { publicUrl: PUBLIC_URL, route: 'sms', from, to: SMS_FROM, body })).status).toBe(200);
  };
  const slackEvent = async (event: Record<string, unknown>) => {
    expect((await postSlackEvent(server.url, event, { signingSecret: SLACK_SIGNING_SECRET })).status).toBe(200);
  };
  const inboxItem = async (conversationId: string): Promise<InboxItem | undefined> => {
    const { status, body } = await admin.get('/api/admin/handoffs');
    expect(status).toBe(200);
    return (body.items as InboxItem[]).find((item) => item.conversationId === conversationId);
  };
  const conversationOf = (channel: string, externalUserId: string, threadKey = ''): Promise<Conversation> =>
    waitFor(() => server.app.store.conversations.findConversation({ channel, externalUserId, threadKey }), `the ${channel} conversation of ${externalUserId}`, 10_000);
  const smsTo = (to: string) => twilioApi.messages.filter((m) => m.to === to).map((m) => m.body);
  const waitForSmsTo = (to: string, count: number) => waitFor(() => (smsTo(to).length >= count ? smsTo(to) : undefined), `${count} SMS to ${to}`, 10_000);
  const opsPostsFor = (conversationId: string) =>
    slack.posts.filter((p) => p.channel === OPS_CHANNEL && p.text.includes(`/admin#/conversations/${conversationId}`));

  beforeAll(async () => {
    twilioApi = await startFakeTwilioApi();
    slack = await startFakeSlackApi();
    provider = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test-handoff',
      OPENAI_BASE_URL: provider.url,
      OPENAI_MODEL: 'gpt-fake',
      LLM_PROVIDERS: 'openai',
      LLM_RETRIES: '0',
      // The fallback case fails every request; the breaker must not open over the other cases.
      BREAKER_MIN_REQUESTS: '1000',
      FALLBACK_REPLY,
      FOLLOW_UP_ENABLED: 'false',
      PUBLIC_URL,
      ADMIN_TOKEN,
      TWILIO_ACCOUNT_SID: FAKE_TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: FAKE_TWILIO_AUTH_TOKEN,
      TWILIO_SMS_FROM: SMS_FROM,
      TWILIO_API_URL: twilioApi.url,
      SLACK_SIGNING_SECRET,
      SLACK_BOT_TOKEN: FAKE_SLACK_BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      CHANNEL_DELIVERY_ATTEMPTS: '3',
      CHANNEL_DELIVERY_BASE_DELAY_MS: '10',
      CHANNEL_DELIVERY_MAX_DELAY_MS: '50',
      RATE_LIMIT_USER_PER_MINUTE: '30',
      HANDOFF_KEYWORDS: 'human,agent',
      HANDOFF_NOTICE_BY_CHANNEL: JSON.stringify({ sms: SMS_NOTICE }),
      HANDOFF_SLACK_CHANNEL: OPS_CHANNEL,
      // No "everyone is busy" sweep in the middle of a case.
      HANDOFF_WAIT_NOTICE_S: '0',
    });
    admin = AdminClient.bearer(server.url, ADMIN_TOKEN);
  });

  afterEach(() => {
    twilioApi.reset();
    slack.reset();
    provider.reset();
  });

  afterAll(async () => {
    await server?.stop();
    await provider?.close();
    await slack?.close();
    await twilioApi?.close();
  });

  it('SMS: request_human → notice by SMS and waiting; takeover and reply as "Support: …"; held while human; released → the agent answers with the reply in its history', async () => {
    const from = newNumber();
    provider.push({ toolCalls: [{ name: 'request_human', arguments: { reason: 'wants to cancel the contract' } }] });
    await sms(from, 'I want to cancel, can I talk to someone?');
    expect(await waitForSmsTo(from, 1)).toEqual([SMS_NOTICE]);
    expect(provider.requests).toHaveLength(1);
    expect(provider.requests[0]!.body.tools.map((t: { function: { name: string } }) => t.function.name)).toContain('request_human');

    const conversation = await conversationOf('sms', from);
    expect(await waitFor(() => inboxItem(conversation.id), 'the inbox item', 10_000)).toMatchObject({
      channel: 'sms',
      status: 'waiting',
      reason: 'requested',
      summary: 'wants to cancel the contract',
      operator: null,
    });
    expect((await conversationOf('sms', from)).mode).toBe('human');

    const takeover = await admin.post(`/api/admin/conversations/${conversation.id}/takeover`);
    expect(takeover.status).toBe(200);
    expect(takeover.body).toMatchObject({ status: 'active', operator: 'Support' });
    expect(await inboxItem(conversation.id)).toMatchObject({ status: 'active', operator: 'Support' });
    // Claiming a waiting handoff tells the person nothing new: they had the notice.
    expect(smsTo(from)).toHaveLength(1);

    const operatorText = 'Hi, this is Dana. I can cancel it for you today.';
    const reply = await admin.post(`/api/admin/conversations/${conversation.id}/messages`, { text: operatorText });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ messageId: expect.any(String), delivery: 'sent' });
    expect(twilioApi.messages.at(-1)).toMatchObject({ to: from, from: SMS_FROM, body: `Support: ${operatorText}` });
    const [delivery] = await server.app.store.channels.listDeliveries({ conversationId: conversation.id, status: 'sent' });
    expect(delivery).toMatchObject({ channel: 'sms', kind: 'reply', messageId: reply.body.messageId, attempts: 1, providerIds: [twilioApi.messages.at(-1)!.sid] });

    // The person writes while the operator holds the conversation: kept for the operator, no model call.
    await sms(from, 'Thanks, please go ahead.');
    const held = await waitFor(
      async () => (await listMessages(server.app.database.db, conversation.id)).find((m) => m.role === 'user' && m.text === 'Thanks, please go ahead.'),
      'the held message',
      10_000,
    );
    expect(held.status).toBe('human');
    await sleep(300);
    expect(provider.requests).toHaveLength(1);
    expect(smsTo(from)).toHaveLength(2);

    const release = await admin.post(`/api/admin/conversations/${conversation.id}/release`);
    expect(release.status).toBe(200);
    expect(release.body).toMatchObject({ status: 'released' });
    expect(await inboxItem(conversation.id)).toBeUndefined();
    expect((await conversationOf('sms', from)).mode).toBe('agent');

    provider.push({ text: 'Your contract is cancelled. Anything else?' });
    await sms(from, 'Is it done?');
    expect((await waitForSmsTo(from, 3)).at(-1)).toBe('Your contract is cancelled. Anything else?');
    expect(provider.requests).toHaveLength(2);
    const history = provider.requests[1]!.body.messages.filter((m: { role: string }) => m.role !== 'system');
    // The whole conversation, the operator's reply and what the person told them included.
    expect(history).toEqual([
      { role: 'user', content: 'I want to cancel, can I talk to someone?' },
      { role: 'assistant', content: SMS_NOTICE },
      { role: 'assistant', content: operatorText },
      { role: 'user', content: 'Thanks, please go ahead.' },
      { role: 'user', content: 'Is it done?' },
    ]);
  });

  it('SMS keyword: "HUMAN" goes to a person with no model call, and the SMS notice is sent', async () => {
    const from = newNumber();
    await sms(from, 'HUMAN');
    expect(await waitForSmsTo(from, 1)).toEqual([SMS_NOTICE]);
    const conversation = await conversationOf('sms', from);
    expect(await inboxItem(conversation.id)).toMatchObject({ channel: 'sms', status: 'waiting', reason: 'keyword' });
    const [message] = (await listMessages(server.app.database.db, conversation.id)).filter((m) => m.role === 'user');
    expect(message).toMatchObject({ text: 'HUMAN', status: 'human' });
    await sleep(200);
    expect(provider.requests).toHaveLength(0);
  });

  it('Slack thread: an operator takes a mention thread from the agent and replies in the same thread as "Support: …"', async () => {
    const ts = slackTs();
    provider.push({ text: 'Here is what the agent knows.' });
    await slackEvent({ type: 'app_mention', user: 'U0THREAD', text: `<@${FAKE_SLACK_BOT_USER_ID}> my invoice is wrong`, ts, channel: 'C0GENERAL', event_ts: ts });
    await slack.waitForDeliveries(1);
    expect(slack.posts[0]).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: 'Here is what the agent knows.' });
    const conversation = await conversationOf('slack', 'T0TEST:U0THREAD', `C0GENERAL:${ts}`);

    const takeover = await admin.post(`/api/admin/conversations/${conversation.id}/takeover`);
    expect(takeover.status).toBe(200);
    expect(takeover.body).toMatchObject({ status: 'active', operator: 'Support' });
    // Taken straight from the agent: the person learns in the thread that a person answers from here.
    expect(slack.posts[1]).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: 'Support from our team has joined the conversation.' });

    const reply = await admin.post(`/api/admin/conversations/${conversation.id}/messages`, { text: 'I fixed the invoice; check again.' });
    expect(reply.body).toEqual({ messageId: expect.any(String), delivery: 'sent' });
    expect(slack.posts[2]).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: 'Support: I fixed the invoice; check again.' });

    // An operator's takeover is no waiting handoff: nothing is posted for the team.
    await sleep(200);
    expect(opsPostsFor(conversation.id)).toHaveLength(0);
    expect(provider.requests).toHaveLength(1);
  });

  it('Slack notify: a waiting handoff posts one message to HANDOFF_SLACK_CHANNEL with the reason and the console link; asking again posts nothing more', async () => {
    const from = newNumber();
    await sms(from, 'agent');
    await waitForSmsTo(from, 1);
    const conversation = await conversationOf('sms', from);
    const [post] = await waitFor(() => (opsPostsFor(conversation.id).length > 0 ? opsPostsFor(conversation.id) : undefined), 'the post for the team', 10_000);
    expect(post!.thread_ts).toBeUndefined();
    expect(post!.text).toContain('(keyword)');
    expect(post!.text).toContain('*sms*');
    expect(post!.text).toContain(`<${PUBLIC_URL}/admin#/conversations/${conversation.id}|`);
    // The person's number is masked as in the console's lists.
    expect(post!.text).not.toContain(from);

    await sms(from, 'Human!');
    await waitFor(
      async () => (await listMessages(server.app.database.db, conversation.id)).filter((m) => m.role === 'user').length === 2,
      'the second message',
      10_000,
    );
    await sleep(300);
    expect(opsPostsFor(conversation.id)).toHaveLength(1);
    expect(slack.posts.filter((p) => p.channel === OPS_CHANNEL)).toHaveLength(1);
    expect(smsTo(from)).toEqual([SMS_NOTICE]);

    // From a Slack DM through request_human: the reason and the model's summary.
    provider.push({ toolCalls: [{ name: 'request_human', arguments: { reason: 'billing dispute' } }] });
    await slackEvent({ type: 'message', user: 'U0DMHANDOFF', text: 'I need a person', ts: slackTs(), channel: 'D0HANDOFF', channel_type: 'im' });
    const dm = await conversationOf('slack', 'T0TEST:U0DMHANDOFF', 'D0HANDOFF');
    const [dmPost] = await waitFor(() => (opsPostsFor(dm.id).length > 0 ? opsPostsFor(dm.id) : undefined), 'the post for the team about the DM', 10_000);
    expect(dmPost!.text).toContain('(requested)');
    expect(dmPost!.text).toContain('*slack*');
    expect(dmPost!.text).toContain('billing dispute');
    expect(dmPost!.text).toContain(`<${PUBLIC_URL}/admin#/conversations/${dm.id}|`);
    // The turn ends with the notice as its reply, in the DM (no thread).
    const dmReplies = await waitFor(
      () => {
        const posts = slack.posts.filter((p) => p.channel === 'D0HANDOFF');
        return posts.length > 0 ? posts : undefined;
      },
      'the reply in the DM',
      10_000,
    );
    expect(dmReplies.map((p) => [p.text, p.thread_ts])).toEqual([[DEFAULT_NOTICE, undefined]]);
  });

  it('Fallback → waiting: every provider failing, the person gets the fallback reply, then the notice, and the handoff waits (fallback)', async () => {
    provider.setResponder(() => ({ error: { status: 500 } }));
    const from = newNumber();
    await sms(from, 'Where is my parcel?');
    expect(await waitForSmsTo(from, 2)).toEqual([FALLBACK_REPLY, SMS_NOTICE]);
    expect(provider.requests.length).toBeGreaterThanOrEqual(1);
    const conversation = await conversationOf('sms', from);
    expect(conversation.mode).toBe('human');
    expect(await inboxItem(conversation.id)).toMatchObject({ channel: 'sms', status: 'waiting', reason: 'fallback' });
    const [post] = await waitFor(() => (opsPostsFor(conversation.id).length > 0 ? opsPostsFor(conversation.id) : undefined), 'the post for the team', 10_000);
    expect(post!.text).toContain('(fallback)');

    // With a person now, the next message is not sent to the (still failing) model.
    const requests = provider.requests.length;
    await sms(from, 'Hello?');
    await waitFor(
      async () => (await listMessages(server.app.database.db, conversation.id)).find((m) => m.text === 'Hello?' && m.status === 'human'),
      'the held message',
      10_000,
    );
    await sleep(200);
    expect(provider.requests).toHaveLength(requests);
    expect(smsTo(from)).toHaveLength(2);
  });

  it('an operator reply Twilio refuses for good: the API answers delivery "failed", the message is stored, and the failure is recorded', async () => {
    const from = newNumber();
    await sms(from, 'human');
    await waitForSmsTo(from, 1);
    const conversation = await conversationOf('sms', from);
    expect((await admin.post(`/api/admin/conversations/${conversation.id}/takeover`)).status).toBe(200);

    twilioApi.failNext(500, 3);
    const reply = await admin.post(`/api/admin/conversations/${conversation.id}/messages`, { text: 'Are you still there?' });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ messageId: expect.any(String), delivery: 'failed' });
    expect(twilioApi.calls.slice(-3)).toEqual([500, 500, 500]);
    expect(smsTo(from)).toEqual([SMS_NOTICE]);

    const stored = (await listMessages(server.app.database.db, conversation.id)).find((m) => m.id === reply.body.messageId);
    expect(stored).toMatchObject({ role: 'assistant', text: 'Are you still there?', author: 'operator', authorName: 'Support' });
    const [failed] = await server.app.store.channels.listDeliveries({ conversationId: conversation.id, status: 'failed' });
    expect(failed).toMatchObject({
      channel: 'sms',
      kind: 'reply',
      messageId: reply.body.messageId,
      attempts: 3,
      error: 'Twilio answered 500 (error 20500)',
    });
    // The handoff is untouched: still held by the operator.
    expect(await inboxItem(conversation.id)).toMatchObject({ status: 'active', operator: 'Support' });
  });

  it('Slack slash command: the notice and operator replies stay private to the person (response_url, then ephemeral), never posted to the channel', async () => {
    const hook = `slash-${slackCounter++}`;
    const body = new URLSearchParams({
      token: 'deprecated',
      team_id: 'T0TEST',
      team_domain: 'switchboard',
      channel_id: 'C0SLASH',
      channel_name: 'support',
      user_id: 'U0SLASH',
      user_name: 'sam',
      command: '/ask',
      text: 'human',
      api_app_id: 'A0TEST',
      response_url: slack.responseUrl(hook),
      trigger_id: `${Date.now()}.${Math.random().toString(36).slice(2)}`,
    }).toString();
    const response = await postSlackRequest(server.url, body, { signingSecret: SLACK_SIGNING_SECRET, contentType: 'application/x-www-form-urlencoded' });
    expect(response.status).toBe(200);
    const conversation = await conversationOf('slack', 'T0TEST:U0SLASH', 'C0SLASH');
    await waitFor(() => slack.hooks.length >= 1, 'the notice through the response_url', 10_000);
    expect(slack.hooks[0]).toMatchObject({ path: `/hooks/${hook}`, body: { response_type: 'ephemeral', text: DEFAULT_NOTICE } });

    expect((await admin.post(`/api/admin/conversations/${conversation.id}/takeover`)).status).toBe(200);
    // The operator's reply answers no message of its own: it takes the conversation's latest route.
    expect((await admin.post(`/api/admin/conversations/${conversation.id}/messages`, { text: 'Private answer.' })).body.delivery).toBe('sent');
    expect(slack.hooks[1]).toMatchObject({ path: `/hooks/${hook}`, body: { response_type: 'ephemeral', text: 'Support: Private answer.' } });

    // Once the response_url has expired, the reply goes to the person alone (chat.postEphemeral).
    await server.app.database.db.execute(sql`update channel_reply_routes set expires_at = now() - interval '1 minute'`);
    expect((await admin.post(`/api/admin/conversations/${conversation.id}/messages`, { text: 'Still private.' })).body.delivery).toBe('sent');
    const toChannel = slack.posts.filter((post) => post.channel === 'C0SLASH');
    expect(toChannel).toEqual([expect.objectContaining({ text: 'Support: Still private.', ephemeralTo: 'U0SLASH' })]);
  });
});
