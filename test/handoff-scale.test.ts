import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { AdminClient } from './helpers/admin-client.js';
import { REDIS_TEST_URL, deleteRedisKeys } from './helpers/test-database.js';
import { connectClient, startTestApp, type RunningApp } from './helpers/test-app.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Handoff on two instances sharing PostgreSQL and Redis (socket.io's Redis Streams adapter,
 * BullMQ): an operator acting on instance A reaches a visitor connected to instance B, and the
 * console's live feed on A shows what happens on B.
 */

const ADMIN_TOKEN = 'handoff-scale-token-0123456789abcdef';
const prefix = `test-handoff-${randomBytes(5).toString('hex')}`;
let openai: FakeProviderServer;
let a: RunningApp;
let b: RunningApp;
let redis: Redis;
const sockets: Socket[] = [];
/** How long an event may take to cross between the instances (Redis adapter, BullMQ). */
const CROSSING_MS = 8000;

beforeAll(async () => {
  openai = await startFakeOpenAIServer();
  redis = new Redis(REDIS_TEST_URL);
  const env = {
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: openai.url,
    LLM_PROVIDERS: 'openai',
    REDIS_URL: REDIS_TEST_URL,
    REDIS_PREFIX: prefix,
    ADMIN_TOKEN,
    HANDOFF_KEYWORDS: 'human',
  };
  a = await startTestApp(env);
  b = await startTestApp({ ...env, DATABASE_URL: a.config.DATABASE_URL!.reveal() });
});
afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await b?.stop();
  await a?.stop();
  await openai?.close();
  await deleteRedisKeys(redis, `${prefix}:`);
  redis.disconnect();
});

describe('human handoff across instances', () => {
  it('an operator on instance A reaches a visitor on instance B; the feed on A shows what happens on B', async () => {
    const feed = connect(`${a.url}/admin`, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: ADMIN_TOKEN } });
    sockets.push(feed);
    const feedEvents: { event: string; payload: any }[] = [];
    feed.onAny((event, payload) => feedEvents.push({ event, payload }));
    await new Promise<void>((resolve, reject) => {
      feed.once('connect', () => resolve());
      feed.once('connect_error', reject);
    });

    const { socket, session } = await connectClient(b.url);
    sockets.push(socket);
    const dones: any[] = [];
    const states: any[] = [];
    socket.on('reply.done', (payload) => dones.push(payload));
    socket.on('handoff', (payload) => states.push(payload));
    const send = async (text: string) => (await socket.timeout(5000).emitWithAck('message', { text, clientMessageId: randomUUID() })).messageId as string;

    // The model hands the conversation over on B (a turn that may run on either instance's worker).
    openai.push({ toolCalls: [{ name: 'request_human', arguments: { reason: 'billing question' } }] });
    await send('can I talk to a person?');
    await waitFor(() => dones.length > 0, 'the notice', CROSSING_MS);
    const conversationId = session.conversationId;
    await waitFor(() => feedEvents.find((e) => e.event === 'handoff' && e.payload.conversationId === conversationId), 'the handoff on the feed of A', CROSSING_MS);
    await waitFor(() => feedEvents.find((e) => e.event === 'tool-call' && e.payload.toolName === 'request_human'), 'the tool call on the feed of A', CROSSING_MS);

    // The operator acts on A.
    const operator = AdminClient.bearer(a.url, ADMIN_TOKEN);
    expect((await operator.post(`/api/admin/conversations/${conversationId}/takeover`)).status).toBe(200);
    const reply = await operator.post(`/api/admin/conversations/${conversationId}/messages`, { text: 'Hello from instance A' });
    expect(reply.status).toBe(200);
    const delivered = await waitFor(() => dones.find((done) => done.messageId === reply.body.messageId), 'the operator reply on B', CROSSING_MS);
    expect(delivered).toMatchObject({ text: 'Hello from instance A', author: 'operator', operatorName: 'Support' });
    await waitFor(() => states.find((state) => state.status === 'active'), 'the active state on B', CROSSING_MS);
    expect(dones.filter((done) => done.messageId === reply.body.messageId)).toHaveLength(1);

    // The visitor writes on B: the console on A sees the held message live.
    const held = await send('thanks!');
    const shown = await waitFor(() => feedEvents.find((e) => e.event === 'message' && e.payload.messageId === held), 'the held message on the feed of A', CROSSING_MS);
    expect(shown.payload).toMatchObject({ conversationId, role: 'user', status: 'human' });
    expect(openai.requests).toHaveLength(1);
  });
});
