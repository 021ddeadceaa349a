import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkSlackSignature, slackSignature } from '../src/channels/slack/slack-signature.js';
import { splitForSlack, toSlackMrkdwn } from '../src/channels/slack/slack-format.js';
import { createLogger } from '../src/observability/logger.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FAKE_SLACK_BOT_TOKEN, FAKE_SLACK_BOT_USER_ID, startFakeSlackApi, type FakeSlackApi } from './fakes/fake-slack-api.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { createRefundTool } from './helpers/refund-tool.js';
import { postSlackRequest, signSlack } from './helpers/slack-webhook.js';
import { waitFor } from './helpers/wait-for.js';

const { tool: refundTool, refunds } = createRefundTool();

const SIGNING_SECRET = 'slack-test-signing-secret-0001';

const nowSeconds = () => String(Math.floor(Date.now() / 1000));

let eventCounter = 0;
const eventId = () => `Ev${Date.now()}${++eventCounter}`;
let tsCounter = 0;
const messageTs = () => `${1_700_100_000 + ++tsCounter}.00${String(tsCounter).padStart(4, '0')}`;

function mention(options: { user?: string; channel?: string; text: string; ts?: string; threadTs?: string; eventId?: string; botId?: string }) {
  return {
    token: 'deprecated-verification-token',
    team_id: 'T0TEST',
    api_app_id: 'A0TEST',
    type: 'event_callback',
    event_id: options.eventId ?? eventId(),
    event_time: Math.floor(Date.now() / 1000),
    event: {
      type: 'app_mention',
      user: options.user ?? 'U0ALICE',
      text: options.text,
      ts: options.ts ?? messageTs(),
      channel: options.channel ?? 'C0GENERAL',
      event_ts: options.ts ?? '1',
      ...(options.threadTs && { thread_ts: options.threadTs }),
      ...(options.botId && { bot_id: options.botId }),
    },
  };
}

describe('Slack channel: signed webhooks → agent → Slack Web API', () => {
  let slack: FakeSlackApi;
  let provider: FakeProviderServer;
  let server: RunningApp;

  const post = async (
    body: string,
    options: { contentType?: string; timestamp?: string; signature?: string | null; headers?: Record<string, string> } = {},
  ) => {
    const timestamp = options.timestamp ?? nowSeconds();
    const headers: Record<string, string> = {
      'content-type': options.contentType ?? 'application/json',
      'x-slack-request-timestamp': timestamp,
      ...options.headers,
    };
    if (options.signature !== null) headers['x-slack-signature'] = options.signature ?? signSlack(timestamp, body, SIGNING_SECRET);
    const started = performance.now();
    const response = await fetch(`${server.url}/slack/events`, { method: 'POST', headers, body });
    const text = await response.text();
    return { status: response.status, text, json: () => JSON.parse(text), ms: performance.now() - started };
  };
  const postEvent = (payload: unknown, headers: Record<string, string> = {}) => post(JSON.stringify(payload), { headers });
  const countRows = async (table: string) => {
    const result = (await server.app.database.db.execute(`select count(*)::int as n from ${table}` as never)) as unknown as
      | { n: number }[]
      | { rows: { n: number }[] };
    return Array.isArray(result) ? result[0]!.n : result.rows[0]!.n;
  };

  beforeAll(async () => {
    slack = await startFakeSlackApi();
    provider = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test-slack',
      OPENAI_BASE_URL: provider.url,
      OPENAI_MODEL: 'gpt-fake',
      LLM_PROVIDERS: 'openai',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: FAKE_SLACK_BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      SLACK_SLASH_COMMAND: '/ask',
      CHANNEL_DELIVERY_ATTEMPTS: '3',
      CHANNEL_DELIVERY_BASE_DELAY_MS: '10',
      CHANNEL_DELIVERY_MAX_DELAY_MS: '50',
      // The slow-model test waits 4 s for the first token; nothing may give up before that.
      LLM_FIRST_TOKEN_TIMEOUT_MS: '20000',
      FALLBACK_AFTER_MS: '20000',
      LLM_RETRIES: '0',
      SENSITIVE_TOOLS: 'issue_refund',
      RATE_LIMIT_USER_PER_MINUTE: '12',
    }, { extraTools: [refundTool] });
  });

  afterEach(() => {
    slack.reset();
    provider.reset();
  });

  afterAll(async () => {
    await server?.stop();
    await provider?.close();
    await slack?.close();
  });

  it("verifies Slack's published signing example, and rejects a changed body and an old timestamp", () => {
    // docs.slack.dev/authentication/verifying-requests-from-slack
    const secret = '8f742231b10e8888abcd99yyyzzz85a5';
    const timestamp = '1531420618';
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const signature = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
    expect(slackSignature(secret, timestamp, body)).toBe(signature);
    const at = (seconds: number) => Number(timestamp) * 1000 + seconds * 1000;
    const check = (overrides: Partial<Parameters<typeof checkSlackSignature>[0]>) =>
      checkSlackSignature({ signingSecret: secret, timestamp, signature, rawBody: Buffer.from(body), nowMs: at(60), ...overrides });
    expect(check({})).toBeUndefined();
    expect(check({ nowMs: at(299) })).toBeUndefined();
    expect(check({ nowMs: at(301) })).toBe('stale');
    expect(check({ nowMs: at(-301) })).toBe('stale');
    expect(check({ rawBody: Buffer.from(body.replace('roadrunner', 'wile.e')) })).toBe('invalid');
    expect(check({ signature: signature.slice(0, -1) })).toBe('invalid');
    expect(check({ signature: undefined })).toBe('missing');
    expect(check({ timestamp: 'yesterday' })).toBe('invalid');
  });

  it('answers url_verification with the challenge, only when signed', async () => {
    const body = JSON.stringify({ token: 'x', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P', type: 'url_verification' });
    const ok = await post(body);
    expect(ok.status).toBe(200);
    expect(ok.json()).toEqual({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
    const forged = await post(body, { signature: signSlack(nowSeconds(), body, 'another-secret') });
    expect(forged.status).toBe(401);
  });

  it('refuses missing (400), invalid (401) and stale (401) signatures without storing anything', async () => {
    const body = JSON.stringify(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> hello` }));
    const before = await countRows('messages');
    const missing = await post(body, { signature: null });
    expect(missing.status).toBe(400);
    expect(missing.json().error.code).toBe('invalid_payload');
    const invalid = await post(body, { signature: signSlack(nowSeconds(), `${body} `, SIGNING_SECRET) });
    expect(invalid.status).toBe(401);
    expect(invalid.json().error).toEqual({ code: 'unauthorized', message: 'signature does not match' });
    const oldTimestamp = String(Math.floor(Date.now() / 1000) - 6 * 60);
    const stale = await post(body, { timestamp: oldTimestamp, signature: signSlack(oldTimestamp, body, SIGNING_SECRET) });
    expect(stale.status).toBe(401);
    expect(stale.json().error.message).toMatch(/5-minute window/);
    const notJson = await post('{not json');
    expect(notJson.status).toBe(400);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await countRows('messages')).toBe(before);
    expect(provider.requests).toHaveLength(0);
    expect(slack.posts).toHaveLength(0);
  });

  it('answers a signed event_callback whose event is null, missing or typeless with 400 and stores nothing (Bolt threw: 500)', async () => {
    const before = await countRows('messages');
    for (const event of [null, undefined, 'app_mention', { text: 'no type' }]) {
      const payload = { ...mention({ text: 'x' }), event };
      const response = await postEvent(payload);
      expect(response.status).toBe(400);
      expect(response.json().error).toMatchObject({ code: 'invalid_payload' });
    }
    // Still healthy: a well-formed event right after is answered.
    provider.push({ text: 'Still here.' });
    expect((await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> ping`, user: 'U0AFTERNULL' }))).status).toBe(200);
    await slack.waitForDeliveries(1);
    expect(await countRows('messages')).toBe(before + 2);
  });

  it('cleans NUL bytes and lone surrogates out of a signed event (text, user, ts) instead of answering 500, and answers it', async () => {
    provider.push({ text: 'Got it.' });
    const ts = messageTs();
    const response = await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> hel\u0000lo \ud800`, user: 'U0N\u0000UL', ts: `${ts}\u0000` }));
    expect(response.status).toBe(200);
    await slack.waitForDeliveries(1);
    expect(provider.requests[0]!.body.messages.at(-1)).toMatchObject({ role: 'user', content: 'hello \ufffd' });
    const rows = (await server.app.database.db.execute(
      "select external_user_id from conversations where external_user_id = 'T0TEST:U0NUL'" as never,
    )) as unknown as { external_user_id: string }[] | { rows: { external_user_id: string }[] };
    expect(Array.isArray(rows) ? rows : rows.rows).toHaveLength(1);
  });

  it('answers an app_mention in its thread, in mrkdwn, and keeps history per thread', async () => {
    provider.push({ text: 'Use **bold** and see [the docs](https://example.com/docs).' });
    const ts = messageTs();
    const first = await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> what is new?`, ts, user: 'U0HIST' }));
    expect(first.status).toBe(200);
    await slack.waitForDeliveries(1);
    expect(slack.posts[0]).toMatchObject({
      channel: 'C0GENERAL',
      thread_ts: ts,
      text: 'Use *bold* and see <https://example.com/docs|the docs>.',
    });
    // The model saw the question without the bot mention.
    expect(provider.requests[0]!.body.messages.at(-1)).toMatchObject({ role: 'user', content: 'what is new?' });

    provider.push({ text: 'Second answer.' });
    await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> and then?`, threadTs: ts, user: 'U0HIST' }));
    await slack.waitForDeliveries(2);
    expect(slack.posts[1]).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: 'Second answer.' });
    const history = provider.requests[1]!.body.messages.filter((m: { role: string }) => m.role !== 'system');
    expect(history.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ['user', 'what is new?'],
      ['assistant', 'Use **bold** and see [the docs](https://example.com/docs).'],
      ['user', 'and then?'],
    ]);
    const conversations = await waitFor(
      async () => {
        const rows = (await server.app.database.db.execute(
          "select external_user_id, thread_key from conversations where channel = 'slack' and external_user_id = 'T0TEST:U0HIST'" as never,
        )) as unknown as { external_user_id: string; thread_key: string }[] | { rows: { external_user_id: string; thread_key: string }[] };
        const list = Array.isArray(rows) ? rows : rows.rows;
        return list.length ? list : undefined;
      },
      'the conversation',
      10_000,
    );
    expect(conversations).toEqual([{ external_user_id: 'T0TEST:U0HIST', thread_key: `C0GENERAL:${ts}` }]);
  });

  it('does not answer a Slack retry of an accepted event twice', async () => {
    provider.push({ text: 'Only once.', delayMs: 300 });
    const payload = mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> retry me` });
    const first = await postEvent(payload);
    expect(first.status).toBe(200);
    const retries = await Promise.all([
      postEvent(payload, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' }),
      postEvent(payload, { 'x-slack-retry-num': '2', 'x-slack-retry-reason': 'http_timeout' }),
    ]);
    expect(retries.map((r) => r.status)).toEqual([200, 200]);
    await slack.waitForDeliveries(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(slack.posts.map((p) => p.text)).toEqual(['Only once.']);
    expect(provider.requests).toHaveLength(1);
  });

  it('processes a retry of an event that was never accepted', async () => {
    const payload = mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> first try was refused` });
    const body = JSON.stringify(payload);
    const refused = await post(body, { signature: signSlack(nowSeconds(), 'tampered', SIGNING_SECRET) });
    expect(refused.status).toBe(401);
    provider.push({ text: 'Got it on the retry.' });
    const retried = await postEvent(payload, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_error' });
    expect(retried.status).toBe(200);
    await slack.waitForDeliveries(1);
    expect(slack.posts[0]!.text).toBe('Got it on the retry.');
  });

  it('ignores its own messages and other bots', async () => {
    const before = await countRows('messages');
    const own = await postEvent({
      ...mention({ text: 'echo', user: FAKE_SLACK_BOT_USER_ID }),
    });
    const otherBot = await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> hi from a bot`, user: 'U0OTHERBOT', botId: 'B0OTHER' }));
    const botDm = await postEvent({
      team_id: 'T0TEST',
      type: 'event_callback',
      event_id: eventId(),
      event: { type: 'message', subtype: 'bot_message', bot_id: 'B0OTHER', text: 'beep', ts: messageTs(), channel: 'D0BOT', channel_type: 'im' },
    });
    expect([own.status, otherBot.status, botDm.status]).toEqual([200, 200, 200]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await countRows('messages')).toBe(before);
    expect(provider.requests).toHaveLength(0);
    expect(slack.posts).toHaveLength(0);
  });

  it('answers a direct message in the DM, without a thread', async () => {
    provider.push({ text: 'Hello in private.' });
    const res = await postEvent({
      team_id: 'T0TEST',
      type: 'event_callback',
      event_id: eventId(),
      event: { type: 'message', user: 'U0DM', text: 'hi there', ts: messageTs(), channel: 'D0DM', channel_type: 'im' },
    });
    expect(res.status).toBe(200);
    await slack.waitForDeliveries(1);
    expect(slack.posts[0]).toEqual({ channel: 'D0DM', text: 'Hello in private.', ts: expect.any(String) });
  });

  const slashBody = (text: string, hook: string) =>
    new URLSearchParams({
      token: 'deprecated',
      team_id: 'T0TEST',
      team_domain: 'switchboard',
      channel_id: 'C0SLASH',
      channel_name: 'support',
      user_id: 'U0SLASH',
      user_name: 'sam',
      command: '/ask',
      text,
      api_app_id: 'A0TEST',
      response_url: slack.responseUrl(hook),
      trigger_id: `${Date.now()}.${Math.random().toString(36).slice(2)}`,
    }).toString();

  it('acknowledges a slash command within 3 s while the model takes 4 s, then answers on response_url', async () => {
    provider.push({ text: 'A considered answer.', delayMs: 4000 });
    const res = await post(slashBody('why is the sky blue?', 'slow-1'), { contentType: 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(200);
    expect(res.ms).toBeLessThan(3000);
    expect(res.json()).toEqual({ response_type: 'ephemeral', text: ':hourglass_flowing_sand: Working on: why is the sky blue?' });
    expect(slack.hooks).toHaveLength(0);
    await slack.waitForDeliveries(1, 15_000);
    expect(slack.hooks[0]).toEqual({
      path: '/hooks/slow-1',
      body: { response_type: 'ephemeral', replace_original: false, text: 'A considered answer.' },
    });
    expect(slack.posts).toHaveLength(0);
  }, 20_000);

  it('answers an empty slash command with usage help and stores nothing', async () => {
    const before = await countRows('messages');
    const res = await post(slashBody('   ', 'empty'), { contentType: 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ response_type: 'ephemeral', text: expect.stringContaining('Usage: `/ask <your question>`') });
    expect(await countRows('messages')).toBe(before);
  });

  it("splits a long answer into parts within Slack's limit", async () => {
    const paragraph = 'This sentence is part of a long answer. '.repeat(50).trim();
    const long = Array.from({ length: 6 }, () => paragraph).join('\n\n');
    provider.push({ text: long, chunkSize: 500 });
    await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> tell me everything` }));
    await slack.waitForDeliveries(3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(slack.posts.length).toBeGreaterThanOrEqual(3);
    for (const p of slack.posts) expect(p.text.length).toBeLessThanOrEqual(4000);
    expect(slack.posts.map((p) => p.text).join('\n\n')).toBe(long);
  });

  it('retries a delivery after 429 and 5xx, and records a delivery that failed for good', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfterSeconds: 1 });
    slack.failNext('chat.postMessage', { status: 503 });
    provider.push({ text: 'Delivered on the third attempt.' });
    await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> flaky slack` }));
    await slack.waitForDeliveries(1);
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.status)).toEqual([429, 503, 200]);
    const ts = slack.posts[0]!.ts;
    const sent = await waitFor(
      async () => (await server.app.store.channels.listDeliveries({ status: 'sent' })).find((d) => (d.providerIds as string[]).includes(ts)),
      'the sent delivery',
      10_000,
    );
    expect(sent).toMatchObject({ channel: 'slack', kind: 'reply', attempts: 3, parts: 1, providerIds: [ts] });

    slack.reset();
    slack.failNext('chat.postMessage', { status: 500 }, 3);
    provider.push({ text: 'This one never arrives.' });
    await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> broken slack` }));
    const failed = await waitFor(async () => (await server.app.store.channels.listDeliveries({ status: 'failed' }))[0], 'the failed delivery', 10_000);
    expect(failed).toMatchObject({ channel: 'slack', kind: 'reply', attempts: 3, error: 'Slack answered HTTP 500' });
    expect(slack.posts).toHaveLength(0);

    // A refusal that retrying cannot fix is not retried.
    slack.reset();
    slack.failNext('chat.postMessage', { okFalse: 'channel_not_found' });
    provider.push({ text: 'Nowhere to go.' });
    await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> gone channel`, channel: 'C0GONE' }));
    const refused = await waitFor(
      async () => (await server.app.store.channels.listDeliveries({ status: 'failed' })).find((d) => d.error?.includes('channel_not_found')),
      'the refused delivery',
      10_000,
    );
    expect(refused.attempts).toBe(1);
  });

  it('asks for a sensitive tool with buttons; only the asker can confirm, and confirming runs it once', async () => {
    provider.push({ toolCalls: [{ name: 'issue_refund', arguments: { amount: 20 } }] }, { text: 'I need your confirmation for the refund.' });
    const ts = messageTs();
    await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> refund me 20`, ts, user: 'U0REFUND' }));
    await slack.waitForDeliveries(2);
    const question = slack.posts.find((p) => p.blocks !== undefined)!;
    expect(question).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: 'Please confirm: Refund 20 USD to the customer.' });
    const actions = (question.blocks as { type: string; elements?: { action_id: string; value: string }[] }[]).find((b) => b.type === 'actions')!;
    expect(actions.elements!.map((e) => e.action_id)).toEqual(['switchboard_confirm', 'switchboard_decline']);
    const value = actions.elements![0]!.value;
    expect(refunds).toEqual([]);

    const click = (user: string, hook: string) =>
      post(
        new URLSearchParams({
          payload: JSON.stringify({
            type: 'block_actions',
            user: { id: user, username: 'x', team_id: 'T0TEST' },
            api_app_id: 'A0TEST',
            token: 'deprecated',
            container: { type: 'message', message_ts: question.ts, channel_id: 'C0GENERAL', is_ephemeral: false },
            trigger_id: `${Date.now()}.1.abc`,
            team: { id: 'T0TEST', domain: 'switchboard' },
            channel: { id: 'C0GENERAL', name: 'general' },
            message: { type: 'message', ts: question.ts, text: question.text },
            response_url: slack.responseUrl(hook),
            actions: [{ action_id: 'switchboard_confirm', block_id: 'b1', value, type: 'button', action_ts: '1' }],
          }),
        }).toString(),
        { contentType: 'application/x-www-form-urlencoded' },
      );
    slack.reset();
    const stranger = await click('U0MALLORY', 'stranger');
    expect(stranger.status).toBe(200);
    await slack.waitForDeliveries(1);
    expect(slack.hooks[0]!.body.text).toBe('Only the person who asked can answer this.');
    expect(refunds).toEqual([]);

    const mine = await click('U0REFUND', 'mine');
    expect(mine.status).toBe(200);
    await slack.waitForDeliveries(3);
    expect(refunds).toEqual([20]);
    expect(slack.hooks.find((h) => h.path === '/hooks/mine')!.body).toMatchObject({ replace_original: true, text: 'Confirmed.' });
    expect(slack.posts.at(-1)).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: 'Refunded 20 USD.' });

    // A second click (Slack double-submit) runs nothing more.
    await click('U0REFUND', 'again');
    await slack.waitForDeliveries(4);
    expect(slack.hooks.find((h) => h.path === '/hooks/again')!.body.text).toMatch(/^Already answered/);
    expect(refunds).toEqual([20]);
  });

  it('tells a rate-limited person once per window, in the thread, and answers nothing else', async () => {
    const results = [];
    for (let i = 0; i < 15; i++) {
      results.push(await postEvent(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> burst ${i}`, user: 'U0LIMIT', channel: 'C0LIMIT' })));
    }
    expect(results.every((r) => r.status === 200)).toBe(true);
    await slack.waitForDeliveries(13);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const notices = slack.posts.filter((p) => p.text.startsWith("You're sending messages faster"));
    expect(notices).toHaveLength(1);
    expect(slack.posts.filter((p) => /burst \d+$/.test(p.text))).toHaveLength(12);
  });
});

describe('Slack channel: logs', () => {
  it("keeps people's messages and our replies out of the log even at LOG_LEVEL=debug (Bolt and Web API debug lines carry bodies)", async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const slack = await startFakeSlackApi();
    const provider = await startFakeOpenAIServer();
    const server = await startTestApp(
      {
        LOG_LEVEL: 'debug',
        OPENAI_API_KEY: 'sk-test-slack-logs',
        OPENAI_BASE_URL: provider.url,
        LLM_PROVIDERS: 'openai',
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_BOT_TOKEN: FAKE_SLACK_BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
      },
      { logger: createLogger({ level: 'debug', destination }) },
    );
    try {
      provider.push({ text: 'The reply secret is plover-7731.' });
      const body = JSON.stringify(mention({ text: `<@${FAKE_SLACK_BOT_USER_ID}> my question mentions heron-5520` }));
      const response = await postSlackRequest(server.url, body, { signingSecret: SIGNING_SECRET });
      expect(response.status).toBe(200);
      await slack.waitForDeliveries(1);
      expect(slack.posts[0]!.text).toBe('The reply secret is plover-7731.');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(lines.length).toBeGreaterThan(0);
      const log = lines.join('');
      expect(log).not.toContain('heron-5520');
      expect(log).not.toContain('plover-7731');
      expect(log).not.toContain(FAKE_SLACK_BOT_TOKEN);
    } finally {
      await server.stop();
      await provider.close();
      await slack.close();
    }
  });
});

describe('Slack formatting', () => {
  it('converts Markdown to mrkdwn without touching code', () => {
    expect(toSlackMrkdwn('# Title\n- **a** & *b*\n~~old~~ `x**y**` <tag>')).toBe('*Title*\n• *a* &amp; _b_\n~old~ `x**y**` &lt;tag&gt;');
    expect(toSlackMrkdwn('```ts\nconst a = 1 < 2;\n```')).toBe('```\nconst a = 1 &lt; 2;\n```');
  });

  it('closes and reopens a code fence across parts', () => {
    const code = '```\n' + Array.from({ length: 200 }, (_, i) => `line ${i} of code`).join('\n') + '\n```';
    const parts = splitForSlack(code, 1000);
    expect(parts.length).toBeGreaterThan(2);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(1000);
      expect((part.match(/```/g) ?? []).length % 2).toBe(0);
    }
  });
});
