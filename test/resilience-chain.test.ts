import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropicServer } from './fakes/fake-anthropic-server.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { listMessages } from './helpers/store-queries.js';

/** A real pino logger whose JSON lines the test can read (the app's logs are part of the contract for 401s). */
function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

const providersEnv = (openai: FakeProviderServer, anthropic: FakeProviderServer) => ({
  OPENAI_API_KEY: 'sk-openai-secret-key',
  OPENAI_BASE_URL: openai.url,
  ANTHROPIC_API_KEY: 'sk-ant-secret-key',
  ANTHROPIC_BASE_URL: anthropic.url,
  LLM_PROVIDERS: 'openai,anthropic',
  FALLBACK_REPLY: 'Busy right now; we saved your message.',
});

async function breakerStates(url: string): Promise<Record<string, number>> {
  const body = await (await fetch(`${url}/metrics`)).text();
  const states: Record<string, number> = {};
  for (const match of body.matchAll(/^switchboard_breaker_state\{breaker="([^"]+)"\} (\d+)$/gm)) states[match[1]!] = Number(match[2]);
  return states;
}

describe('retries, fallback order and attempt budget', () => {
  let openai: FakeProviderServer;
  let anthropic: FakeProviderServer;
  let server: RunningApp;
  let socket: ClientSocket;
  let conversationId: string;
  const captured = capturingLogger();

  beforeAll(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAIServer(), startFakeAnthropicServer()]);
    server = await startTestApp(
      {
        ...providersEnv(openai, anthropic),
        LLM_RETRIES: '2',
        LLM_MAX_ATTEMPTS: '4',
        LLM_RETRY_BASE_MS: '20',
        LLM_RETRY_MAX_DELAY_MS: '100',
        // Breakers are exercised below; here they must stay closed.
        BREAKER_MIN_REQUESTS: '1000',
      },
      { logger: captured.logger },
    );
  });
  afterEach(() => {
    socket?.disconnect();
    openai.reset();
    anthropic.reset();
  });
  afterAll(async () => {
    await server?.stop();
    await Promise.all([openai?.close(), anthropic?.close()]);
  });

  const newClient = async () => {
    const connected = await connectClient(server.url);
    socket = connected.socket;
    conversationId = connected.session.conversationId;
  };
  const answerRow = async () => (await listMessages(server.app.database.db, conversationId)).find((row) => row.role === 'assistant')!;

  it('retries a 5xx on the same provider before moving on', async () => {
    await newClient();
    openai.push({ error: { status: 500 } }, { text: 'Second time lucky.' });
    const { reply } = await sendAndCollect(socket, 'retry me');
    expect(reply.done).toMatchObject({ text: 'Second time lucky.', fallback: false });
    expect(openai.requests).toHaveLength(2);
    expect(anthropic.requests).toHaveLength(0);
    const answer = await answerRow();
    expect(answer.provider).toBe('openai');
    expect(answer.attempts).toEqual([
      expect.objectContaining({ provider: 'openai', outcome: 'error', errorKind: 'server', status: 500 }),
      expect.objectContaining({ provider: 'openai', outcome: 'ok' }),
    ]);
  });

  it('waits as long as a 429 retry-after-ms asks before retrying', async () => {
    await newClient();
    openai.push({ error: { status: 429, headers: { 'retry-after-ms': '600' } } }, { text: 'After the pause.' });
    const started = Date.now();
    const { reply } = await sendAndCollect(socket, 'rate limited');
    expect(reply.done.text).toBe('After the pause.');
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(openai.requests).toHaveLength(2);
  });

  it('never retries a 401, logs it as a configuration error, and falls to the next provider', async () => {
    await newClient();
    captured.lines.length = 0;
    openai.push({ error: { status: 401 } });
    anthropic.push({ text: 'Claude here.' });
    const { reply } = await sendAndCollect(socket, 'who answers?');
    expect(reply.done.text).toBe('Claude here.');
    expect(openai.requests).toHaveLength(1);
    const configErrors = captured.lines.filter((line) => line.includes('configuration error'));
    expect(configErrors).toHaveLength(1);
    expect(JSON.parse(configErrors[0]!)).toMatchObject({ level: 50, provider: 'openai' });
    expect(captured.lines.join('\n')).not.toContain('sk-openai-secret-key');
  });

  it('tries providers in LLM_PROVIDERS order after the retries of the first are spent', async () => {
    await newClient();
    openai.push({ error: { status: 503 } }, { error: { status: 502 } }, { error: { status: 500 } });
    anthropic.push({ text: 'Fallback provider answer.' });
    const { reply } = await sendAndCollect(socket, 'order please');
    expect(reply.done.text).toBe('Fallback provider answer.');
    const answer = await answerRow();
    expect((answer.attempts as { provider: string; outcome: string }[]).map((a) => `${a.provider}:${a.outcome}`)).toEqual([
      'openai:error',
      'openai:error',
      'openai:error',
      'anthropic:ok',
    ]);
  });

  it('bounds the provider calls per turn by LLM_MAX_ATTEMPTS, then answers with the fallback reply', async () => {
    await newClient();
    openai.setResponder(() => ({ error: { status: 500 } }));
    anthropic.setResponder(() => ({ error: { status: 529 } }));
    const { reply } = await sendAndCollect(socket, 'everything is down');
    expect(reply.done).toMatchObject({ text: 'Busy right now; we saved your message.', fallback: true });
    expect(openai.requests.length + anthropic.requests.length).toBe(4);
    const [question] = await listMessages(server.app.database.db, conversationId);
    expect(question).toMatchObject({ status: 'fallback', fallbackReason: 'attempt_budget_exhausted', followUp: 'pending' });
  });
});

describe('fallback reply time bound', () => {
  let openai: FakeProviderServer;
  let anthropic: FakeProviderServer;
  let server: RunningApp;

  beforeAll(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAIServer(), startFakeAnthropicServer()]);
    // Defaults on purpose: FALLBACK_AFTER_MS is 5 s out of the box.
    server = await startTestApp({ ...providersEnv(openai, anthropic), FOLLOW_UP_ENABLED: 'false' });
  });
  afterAll(async () => {
    await server?.stop();
    await Promise.all([openai?.close(), anthropic?.close()]);
  });

  it('answers within 5 s when every provider hangs, and tries each of them', async () => {
    openai.setResponder(() => ({ hang: true }));
    anthropic.setResponder(() => ({ hang: true }));
    const { socket, session } = await connectClient(server.url);
    try {
      const started = Date.now();
      const { reply } = await sendAndCollect(socket, 'hello?', undefined, 10_000);
      const waited = Date.now() - started;
      expect(reply.done).toMatchObject({ text: 'Busy right now; we saved your message.', fallback: true });
      // Measured by the client (ack and delivery included) and by the server from the turn's start.
      expect(waited).toBeLessThan(5600);
      expect(openai.requests).toHaveLength(1);
      expect(anthropic.requests).toHaveLength(1);
      const [question] = await listMessages(server.app.database.db, session.conversationId);
      expect(question).toMatchObject({ status: 'fallback', fallback: true, followUp: null });
      expect(question!.latencyMs).toBeLessThanOrEqual(5100);
      expect(question!.attempts).toEqual([
        expect.objectContaining({ provider: 'openai', outcome: 'error', errorKind: 'timeout' }),
        expect.objectContaining({ provider: 'anthropic', outcome: 'error', errorKind: 'timeout' }),
      ]);
    } finally {
      socket.disconnect();
    }
  }, 15_000);
});

describe('circuit breaker per provider+model', () => {
  let openai: FakeProviderServer;
  let anthropic: FakeProviderServer;
  let server: RunningApp;
  let socket: ClientSocket;

  beforeAll(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAIServer(), startFakeAnthropicServer()]);
    server = await startTestApp({
      ...providersEnv(openai, anthropic),
      LLM_RETRIES: '0',
      BREAKER_MIN_REQUESTS: '3',
      BREAKER_FAILURE_RATIO: '0.5',
      BREAKER_WINDOW_MS: '20000',
      BREAKER_HALF_OPEN_AFTER_MS: '800',
    });
    socket = (await connectClient(server.url)).socket;
  });
  afterAll(async () => {
    socket?.disconnect();
    await server?.stop();
    await Promise.all([openai?.close(), anthropic?.close()]);
  });

  it('opens on 429s, sends the provider nothing while open, half-opens after the cooldown, and closes on success', async () => {
    const openaiBreaker = 'openai:gpt-4o-mini';
    const anthropicBreaker = 'anthropic:claude-sonnet-5-5';
    expect(await breakerStates(server.url)).toEqual({ [openaiBreaker]: 0, [anthropicBreaker]: 0 });

    openai.setResponder(() => ({ error: { status: 429, headers: { 'retry-after': '0' } } }));
    for (let i = 0; i < 3; i++) {
      const { reply } = await sendAndCollect(socket, `busy ${i}`);
      expect(reply.done.fallback).toBe(false);
    }
    expect(openai.requests).toHaveLength(3);
    // Open: 2. A 429 on OpenAI never trips Anthropic's breaker.
    expect(await breakerStates(server.url)).toEqual({ [openaiBreaker]: 2, [anthropicBreaker]: 0 });

    const { ack, reply } = await sendAndCollect(socket, 'while open');
    expect(reply.done.text).toBe('echo: while open');
    expect(openai.requests).toHaveLength(3);
    const question = await server.app.store.messages.getMessage(ack.messageId);
    expect(question!.attempts).toEqual([
      expect.objectContaining({ provider: 'openai', outcome: 'skipped', errorKind: 'circuit_open' }),
      expect.objectContaining({ provider: 'anthropic', outcome: 'ok' }),
    ]);

    openai.setResponder(undefined);
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect((await breakerStates(server.url))[openaiBreaker]).toBe(1);
    const recovered = await sendAndCollect(socket, 'after cooldown');
    expect(openai.requests).toHaveLength(4);
    expect(recovered.reply.done.text).toBe('echo: after cooldown');
    expect(await breakerStates(server.url)).toEqual({ [openaiBreaker]: 0, [anthropicBreaker]: 0 });
    const anthropicCalls = anthropic.requests.length;
    await sendAndCollect(socket, 'closed again');
    expect(openai.requests).toHaveLength(5);
    expect(anthropic.requests).toHaveLength(anthropicCalls);
  });
});

describe('follow-up after recovery', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-openai-secret-key',
      OPENAI_BASE_URL: openai.url,
      LLM_PROVIDERS: 'openai',
      LLM_RETRIES: '0',
      FALLBACK_REPLY: 'Busy right now; we saved your message.',
      FOLLOW_UP_INTERVAL_MS: '200',
      // Follow-ups answer fallback-answered messages when nobody else will: with the default
      // HANDOFF_ON_FALLBACK the conversation would go to a person instead (test/handoff-api.test.ts).
      HANDOFF_ON_FALLBACK: 'false',
    });
  });
  afterAll(async () => {
    await server?.stop();
    await openai?.close();
  });

  it('answers a fallback-answered message properly once the provider is back, in the same conversation', async () => {
    const { socket, session } = await connectClient(server.url);
    try {
      openai.setResponder(() => ({ error: { status: 503 } }));
      const followUp = new Promise<any>((resolve) => {
        socket.on('reply.done', (payload) => {
          if (!payload.fallback) resolve(payload);
        });
      });
      const { ack, reply } = await sendAndCollect(socket, 'what are your hours?');
      expect(reply.done.fallback).toBe(true);
      const pending = await server.app.store.messages.getMessage(ack.messageId);
      expect(pending).toMatchObject({ status: 'fallback', followUp: 'pending' });
      // Still down: the follow-up keeps waiting.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await server.app.store.messages.getMessage(ack.messageId))!.followUp).toBe('pending');

      openai.setResponder((body) => ({ text: `Proper answer to: ${body.messages.at(-1).content}` }));
      const delivered = await followUp;
      expect(delivered).toMatchObject({ messageId: ack.messageId, text: 'Proper answer to: what are your hours?', fallback: false });
      const rows = await listMessages(server.app.database.db, session.conversationId);
      expect(rows.map((row) => [row.role, row.fallback])).toEqual([
        ['user', true],
        ['assistant', true],
        ['assistant', false],
      ]);
      expect(rows[0]).toMatchObject({ status: 'answered', followUp: 'answered', provider: 'openai' });
      // Answered once: later passes leave it alone.
      const calls = openai.requests.length;
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(openai.requests.length).toBe(calls);
    } finally {
      socket.disconnect();
    }
  });
});

describe('per-channel fallback text', () => {
  it('uses FALLBACK_REPLY_BY_CHANNEL for the channel that has one, and refuses a malformed value at start-up', async () => {
    const server = await startTestApp({ FALLBACK_REPLY: 'Generic apology.', FALLBACK_REPLY_BY_CHANNEL: '{"web":"Web apology.","sms":"Text apology."}' });
    const { socket } = await connectClient(server.url);
    try {
      const { reply } = await sendAndCollect(socket, 'anyone?');
      expect(reply.done).toMatchObject({ text: 'Web apology.', fallback: true });
    } finally {
      socket.disconnect();
      await server.stop();
    }
    const { loadConfig } = await import('../src/config/config.js');
    expect(() => loadConfig({ FALLBACK_REPLY_BY_CHANNEL: '{"web": 3}' })).toThrow(/^Invalid configuration: FALLBACK_REPLY_BY_CHANNEL: /);
  });
});
