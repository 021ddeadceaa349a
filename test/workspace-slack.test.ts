import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { slackInstallUrl } from '../src/channels/slack/slack-install-link.js';
import type { Workspace } from '../src/store/schema.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import {
  FAKE_SLACK_BOT_TOKEN,
  FAKE_SLACK_BOT_USER_ID,
  FAKE_SLACK_CLIENT_ID,
  FAKE_SLACK_CLIENT_SECRET,
  FAKE_SLACK_TEAM_ID,
  startFakeSlackApi,
  type FakeSlackApi,
} from './fakes/fake-slack-api.js';
import { createRefundTool } from './helpers/refund-tool.js';
import { postSlackRequest } from './helpers/slack-webhook.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/*
 * Slack for many workspaces: one Slack app, installed through OAuth (Bolt's InstallProvider and
 * our installation store) by a second Slack team into a second workspace; every event finds its
 * workspace by the receiving team and is answered with that workspace's bot token. Everything
 * past our server is the Slack fake speaking Slack's wire format.
 */

const { tool: refundTool, refunds } = createRefundTool();

const SIGNING_SECRET = 'slack-multi-signing-secret-0001';
const STATE_SECRET = 'slack-multi-state-secret-0001';
const ACME_TEAM = 'T0ACME';
const ACME_TOKEN = `xoxb-acme-${randomBytes(12).toString('hex')}`;
const ACME_BOT_USER = 'UBOT0ACME';

let counter = 0;
const nextTs = () => `${1_700_200_000 + ++counter}.000100`;

function mentionFrom(teamId: string, options: { user: string; text: string; botUserId: string; ts?: string }) {
  return {
    token: 'deprecated',
    team_id: teamId,
    api_app_id: 'A0TEST',
    type: 'event_callback',
    event_id: `Ev${randomBytes(8).toString('hex')}`,
    event_time: Math.floor(Date.now() / 1000),
    // The installation the event is delivered for: Bolt reads the receiving team from here first.
    authorizations: [{ enterprise_id: null, team_id: teamId, user_id: options.botUserId, is_bot: true, is_enterprise_install: false }],
    event: { type: 'app_mention', user: options.user, text: `<@${options.botUserId}> ${options.text}`, ts: options.ts ?? nextTs(), channel: 'C0GENERAL' },
  };
}

describe('Slack for many workspaces: OAuth install, routing by team, replies with the workspace bot', () => {
  let slack: FakeSlackApi;
  let provider: FakeProviderServer;
  let server: RunningApp;
  let acme: Workspace;

  const postEvent = (payload: unknown) => postSlackRequest(server.url, JSON.stringify(payload), { signingSecret: SIGNING_SECRET });
  const rows = async <Row>(sql: string): Promise<Row[]> => {
    const result = (await server.app.database.db.execute(sql as never)) as unknown as Row[] | { rows: Row[] };
    return Array.isArray(result) ? result : result.rows;
  };
  const createWorkspace = async (slug: string) => {
    const workspace = await server.app.workspaceRecords.create({ slug, name: slug });
    await server.app.workspaces.changed();
    return workspace;
  };
  /** The browser's trip: our install link → Slack's authorize page → our redirect, carrying the state cookie. */
  const install = async (link: string, options: { dropCookie?: boolean } = {}) => {
    const start = await fetch(new URL(link, server.url), { redirect: 'manual' });
    if (start.status !== 302) return { start, callback: undefined };
    const cookie = start.headers.get('set-cookie')?.split(';')[0];
    const approved = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    expect(approved.status).toBe(302);
    const callback = await fetch(approved.headers.get('location')!, {
      redirect: 'manual',
      headers: options.dropCookie || !cookie ? {} : { cookie },
    });
    return { start, callback, callbackText: await callback.text() };
  };
  const slackCredentials = (workspaceId: string) =>
    rows<Record<string, unknown>>(`select * from workspace_credentials where workspace_id = '${workspaceId}' and integration = 'slack'`);
  const slackBindings = async () => (await server.app.workspaceRecords.bindings()).filter((binding) => binding.channel === 'slack');

  beforeAll(async () => {
    slack = await startFakeSlackApi();
    provider = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test-slack-multi',
      OPENAI_BASE_URL: provider.url,
      OPENAI_MODEL: 'gpt-fake',
      LLM_PROVIDERS: 'openai',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: FAKE_SLACK_BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      SLACK_CLIENT_ID: FAKE_SLACK_CLIENT_ID,
      SLACK_CLIENT_SECRET: FAKE_SLACK_CLIENT_SECRET,
      SLACK_STATE_SECRET: STATE_SECRET,
      SECRETS_MASTER_KEY: randomBytes(32).toString('base64'),
      CHANNEL_DELIVERY_BASE_DELAY_MS: '10',
      CHANNEL_DELIVERY_MAX_DELAY_MS: '50',
      SENSITIVE_TOOLS: 'issue_refund',
    }, { extraTools: [refundTool] });
    // The Slack app's one configured Redirect URL (no PUBLIC_URL: our install sends no redirect_uri).
    slack.setRedirectUrl(`${server.url}/slack/oauth_redirect`);
    acme = await createWorkspace('acme');
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

  it('refuses an install link that was altered, signed with another secret, or is older than 10 minutes', async () => {
    const link = slackInstallUrl(acme.id, server.config)!;
    expect(link).toMatch(/^\/slack\/install\?workspace=/);
    const other = await createWorkspace('other');
    const tampered = [
      link.replace(acme.id, other.id),
      link.replace(/signature=[^&]+/, 'signature=' + 'A'.repeat(43)),
      slackInstallUrl(acme.id, { ...server.config, SLACK_STATE_SECRET: { reveal: () => 'another-secret' } as never })!,
      link.replace(/&signature=[^&]+/, ''),
    ];
    for (const bad of tampered) {
      const response = await fetch(new URL(bad, server.url), { redirect: 'manual' });
      expect(response.status).toBe(403);
      expect(await response.text()).toContain('not valid');
    }
    const expired = slackInstallUrl(acme.id, server.config, Date.now() - 11 * 60_000)!;
    const response = await fetch(new URL(expired, server.url), { redirect: 'manual' });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('expired');
    expect(slack.authorizeRequests).toHaveLength(0);
    expect(await slackBindings()).toEqual([]);
  });

  it('installs the app for a second workspace through OAuth: the token sealed (no plaintext in the row), the team bound', async () => {
    slack.approveNextInstall({ teamId: ACME_TEAM, teamName: 'Acme Inc', token: ACME_TOKEN, botUserId: ACME_BOT_USER });
    const { start, callback, callbackText } = await install(slackInstallUrl(acme.id, server.config)!);
    // Straight to Slack's authorize page, with the scopes, our client id and a state bound to this browser.
    expect(start.status).toBe(302);
    expect(start.headers.get('location')!.startsWith(slack.authorizeUrl)).toBe(true);
    expect(start.headers.get('set-cookie')).toMatch(/^slack-app-oauth-state=[^;]+;.*HttpOnly/);
    expect(slack.authorizeRequests[0]).toMatchObject({ clientId: FAKE_SLACK_CLIENT_ID, scope: 'app_mentions:read,chat:write,commands,im:history', redirectUri: null });
    expect(slack.authorizeRequests[0]!.state).toBeTruthy();
    // The state carries the workspace, but only signed: it is not the workspace id in the clear.
    expect(slack.authorizeRequests[0]!.state).not.toBe(acme.id);

    expect(callback!.status).toBe(200);
    expect(callbackText).toContain('Slack is connected');
    expect(callbackText).toContain('Acme Inc');
    expect(slack.calls.map((call) => call.method)).toEqual(['oauth.v2.access', 'auth.test']);

    const [row] = await slackCredentials(acme.id);
    expect(row).toBeDefined();
    const raw = JSON.stringify(row);
    expect(raw).not.toContain(ACME_TOKEN);
    expect(raw).not.toContain(ACME_TOKEN.slice(10));
    expect(row!.masked).toMatchObject({ installation: `installed for ${ACME_TEAM}` });
    expect(await slackBindings()).toEqual([{ channel: 'slack', identity: ACME_TEAM, workspaceId: acme.id }]);
  });

  it("answers an event from the installed team in its workspace, with that workspace's bot token", async () => {
    const response = await postEvent(mentionFrom(ACME_TEAM, { user: 'U0BOB', text: 'hello from acme', botUserId: ACME_BOT_USER }));
    expect(response.status).toBe(200);
    await slack.waitForDeliveries(1);
    // The default responder echoes: the mention of Acme's bot user was stripped.
    expect(slack.posts[0]).toMatchObject({ channel: 'C0GENERAL', text: 'echo: hello from acme' });
    expect(slack.tokenOf(slack.posts[0]!)).toBe(ACME_TOKEN);
    const conversations = await rows<{ workspace_id: string }>(`select workspace_id from conversations where external_user_id = '${ACME_TEAM}:U0BOB'`);
    expect(conversations).toEqual([{ workspace_id: acme.id }]);
  });

  it("asks for confirmation with the workspace's bot, takes the click of its own person, and tells the outcome with that bot too", async () => {
    provider.push({ toolCalls: [{ name: 'issue_refund', arguments: { amount: 30 } }] }, { text: 'Please confirm the refund.' });
    const ts = nextTs();
    await postEvent(mentionFrom(ACME_TEAM, { user: 'U0CAROL', text: 'refund me 30', botUserId: ACME_BOT_USER, ts }));
    await slack.waitForDeliveries(2);
    const question = slack.posts.find((post) => post.blocks !== undefined)!;
    expect(question).toMatchObject({ channel: 'C0GENERAL', thread_ts: ts, text: 'Please confirm: Refund 30 USD to the customer.' });
    expect(slack.posts.map((post) => slack.tokenOf(post))).toEqual([ACME_TOKEN, ACME_TOKEN]);
    const actions = (question.blocks as { type: string; elements?: { value: string }[] }[]).find((block) => block.type === 'actions')!;
    const click = (teamId: string, hook: string) =>
      postSlackRequest(
        server.url,
        new URLSearchParams({
          payload: JSON.stringify({
            type: 'block_actions',
            user: { id: 'U0CAROL', username: 'carol', team_id: teamId },
            api_app_id: 'A0TEST',
            token: 'deprecated',
            container: { type: 'message', message_ts: question.ts, channel_id: 'C0GENERAL', is_ephemeral: false },
            trigger_id: `${Date.now()}.1.abc`,
            team: { id: teamId, domain: 'x' },
            channel: { id: 'C0GENERAL', name: 'general' },
            response_url: slack.responseUrl(hook),
            actions: [{ action_id: 'switchboard_confirm', block_id: 'b1', value: actions.elements![0]!.value, type: 'button', action_ts: '1' }],
          }),
        }).toString(),
        { signingSecret: SIGNING_SECRET, contentType: 'application/x-www-form-urlencoded' },
      );
    // The same user id in the deployment's own team is another person, in another workspace.
    expect((await click(FAKE_SLACK_TEAM_ID, 'elsewhere')).status).toBe(200);
    await slack.waitForDeliveries(3);
    expect(slack.hooks[0]!.body.text).toBe('Only the person who asked can answer this.');
    expect(refunds).toEqual([]);

    expect((await click(ACME_TEAM, 'mine')).status).toBe(200);
    await waitFor(() => slack.posts.find((post) => post.text === 'Refunded 30 USD.'), 'the outcome', 10_000);
    expect(refunds).toEqual([30]);
    expect(slack.tokenOf(slack.posts.find((post) => post.text === 'Refunded 30 USD.')!)).toBe(ACME_TOKEN);
  });

  it("tells a person in the installed team with that team's bot when the mention has no question", async () => {
    expect((await postEvent(mentionFrom(ACME_TEAM, { user: 'U0DAN', text: '', botUserId: ACME_BOT_USER }))).status).toBe(200);
    await slack.waitForDeliveries(1);
    expect(slack.posts[0]!.text).toBe(`Ask me something after the mention, e.g. <@${ACME_BOT_USER}> what can you do?`);
    expect(slack.tokenOf(slack.posts[0]!)).toBe(ACME_TOKEN);
  });

  it("answers an event from the env token's team in the default workspace, with the env token", async () => {
    const response = await postEvent(mentionFrom(FAKE_SLACK_TEAM_ID, { user: 'U0ALICE', text: 'hello from home', botUserId: FAKE_SLACK_BOT_USER_ID }));
    expect(response.status).toBe(200);
    await slack.waitForDeliveries(1);
    expect(slack.posts[0]).toMatchObject({ text: 'echo: hello from home' });
    expect(slack.tokenOf(slack.posts[0]!)).toBe(FAKE_SLACK_BOT_TOKEN);
    const conversations = await rows<{ workspace_id: string }>(`select workspace_id from conversations where external_user_id = '${FAKE_SLACK_TEAM_ID}:U0ALICE'`);
    expect(conversations).toEqual([{ workspace_id: 'default' }]);
  });

  it('refuses an event from an unknown team with 200 (Slack would retry), records it, stores and answers nothing', async () => {
    const before = await rows<{ n: number }>('select count(*)::int as n from messages');
    const response = await postEvent(mentionFrom('T0NOBODY', { user: 'U0EVE', text: 'let me in', botUserId: 'UBOT0NOBODY' }));
    expect(response.status).toBe(200);
    const refusals = await server.app.workspaceRecords.refusals();
    expect(refusals.find((refusal) => refusal.identity === 'T0NOBODY')).toMatchObject({ channel: 'slack', reason: 'unknown_identity' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(slack.posts).toEqual([]);
    expect(await rows<{ n: number }>('select count(*)::int as n from messages')).toEqual(before);
    expect(provider.requests).toHaveLength(0);
  });

  it('refuses to install a team bound to another workspace (or the env team), into the default workspace beside SLACK_BOT_TOKEN, and a callback without the state cookie', async () => {
    const beta = await createWorkspace('beta');
    slack.approveNextInstall({ teamId: ACME_TEAM, token: `xoxb-steal-${randomBytes(8).toString('hex')}` });
    const stolen = await install(slackInstallUrl(beta.id, server.config)!);
    expect(stolen.callback!.status).toBe(409);
    expect(stolen.callbackText).toContain('already connected to another Switchboard workspace');

    slack.approveNextInstall({ teamId: FAKE_SLACK_TEAM_ID, token: `xoxb-home-${randomBytes(8).toString('hex')}` });
    const home = await install(slackInstallUrl(beta.id, server.config)!);
    expect(home.callback!.status).toBe(409);

    // The default workspace's bot is SLACK_BOT_TOKEN's: no second bot is installed into it.
    slack.approveNextInstall({ teamId: 'T0OTHER', token: `xoxb-other-${randomBytes(8).toString('hex')}` });
    const intoDefault = await install(slackInstallUrl('default', server.config)!);
    expect(intoDefault.callback!.status).toBe(409);
    expect(await slackCredentials('default')).toEqual([]);

    slack.approveNextInstall({ teamId: 'T0BETA', token: `xoxb-beta-${randomBytes(8).toString('hex')}` });
    const otherBrowser = await install(slackInstallUrl(beta.id, server.config)!, { dropCookie: true });
    expect(otherBrowser.callback!.status).toBe(400);

    expect(await slackCredentials(beta.id)).toEqual([]);
    expect(await slackBindings()).toEqual([{ channel: 'slack', identity: ACME_TEAM, workspaceId: acme.id }]);
  });

  it('removes the installation and its binding on app_uninstalled; the team is refused afterwards', async () => {
    const uninstalled = {
      token: 'deprecated',
      team_id: ACME_TEAM,
      api_app_id: 'A0TEST',
      type: 'event_callback',
      event_id: `Ev${randomBytes(8).toString('hex')}`,
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'app_uninstalled' },
    };
    slack.revoke(ACME_TOKEN);
    expect((await postEvent(uninstalled)).status).toBe(200);
    expect(await slackCredentials(acme.id)).toEqual([]);
    expect(await slackBindings()).toEqual([]);

    const response = await postEvent(mentionFrom(ACME_TEAM, { user: 'U0BOB', text: 'still there?', botUserId: ACME_BOT_USER }));
    expect(response.status).toBe(200);
    const refusals = await server.app.workspaceRecords.refusals();
    expect(refusals.filter((refusal) => refusal.identity === ACME_TEAM)).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(slack.posts).toEqual([]);
  });
});
