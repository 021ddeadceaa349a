import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';
import { listMessages } from './helpers/store-queries.js';

describe('web chat over socket.io → agent → PostgreSQL', () => {
  let provider: FakeProviderServer;
  let server: RunningApp;
  const sockets: ClientSocket[] = [];

  const client = async (auth: Record<string, unknown> = {}) => {
    const connected = await connectClient(server.url, auth);
    sockets.push(connected.socket);
    return connected;
  };

  beforeAll(async () => {
    provider = await startFakeOpenAIServer();
    server = await startTestApp({
      OPENAI_API_KEY: 'sk-test-web-secret',
      OPENAI_BASE_URL: provider.url,
      OPENAI_MODEL: 'gpt-fake',
      LLM_PROVIDERS: 'openai',
      MAX_MESSAGE_CHARS: '100',
    });
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.disconnect();
    provider.reset();
  });

  afterAll(async () => {
    await server?.stop();
    await provider?.close();
  });

  it('cleans NUL bytes and lone surrogates from a message, its clientMessageId and the model\'s answer, instead of internal_error', async () => {
    const { socket, session } = await client();
    provider.push({ text: 'An answer with a NUL\u0000 byte and a lone \udc00 surrogate.' });
    const { ack, reply } = await sendAndCollect(socket, 'what\u0000 about \ud83d this?', 'client\u0000-nul');
    expect(ack).toEqual({ ok: true, messageId: expect.any(String) });
    // Answered by the model, not the fallback: output the database cannot hold is cleaned, not a failed turn.
    expect(reply.done).toMatchObject({ text: 'An answer with a NUL byte and a lone \ufffd surrogate.', fallback: false });
    expect(provider.requests[0]!.body.messages.at(-1)).toMatchObject({ role: 'user', content: 'what about \ufffd this?' });
    const rows = await listMessages(server.app.database.db, session.conversationId);
    expect(rows.map((row) => [row.role, row.text, row.status, row.externalMessageId])).toEqual([
      ['user', 'what about \ufffd this?', 'answered', 'client-nul'],
      ['assistant', 'An answer with a NUL byte and a lone \ufffd surrogate.', 'answered', null],
    ]);
    // The cleaned id still deduplicates: the same resend is a duplicate, not a second message.
    const again = await socket.emitWithAck('message', { text: 'what\u0000 about \ud83d this?', clientMessageId: 'client\u0000-nul' });
    expect(again).toEqual({ ok: true, messageId: ack.messageId, duplicate: true });
  });

  it('answers a message with 50 binary attachments with an error ack and keeps the connection (it was closed, no ack)', async () => {
    const { socket } = await client();
    const attachments = Array.from({ length: 50 }, (_, i) => Buffer.from([i]));
    const ack = await socket.timeout(5000).emitWithAck('message', { text: 'hi', clientMessageId: 'many-blobs', attachments });
    expect(ack).toEqual({ ok: false, error: { code: 'invalid_payload', message: 'a message may carry at most 10 binary attachments (got 50)' } });
    expect(socket.connected).toBe(true);
    // Within the limit, binary data reaches the channel's own validation (text only), and the socket still answers.
    provider.push({ text: 'Still here.' });
    const { reply } = await sendAndCollect(socket, 'are you there?');
    expect(reply.done.text).toBe('Still here.');
  });

  it('a first message the database refuses leaves no conversation row behind (accepting is one statement)', async () => {
    const db = server.app.database.db;
    // A real refusal at the storage edge: PostgreSQL rejects this one text.
    await db.execute(sql`
      create or replace function refuse_poison() returns trigger language plpgsql as $$
      begin
        if new.text = 'poison' then raise exception 'refused (test)'; end if;
        return new;
      end $$;
      create trigger refuse_poison before insert on messages for each row execute function refuse_poison();`);
    try {
      const { socket, session } = await client();
      const ack = await socket.timeout(5000).emitWithAck('message', { text: 'poison', clientMessageId: 'poison-1' });
      expect(ack).toMatchObject({ ok: false, error: { code: 'internal_error' } });
      expect(await server.app.store.conversations.getConversation(session.conversationId)).toBeUndefined();
      // The same visitor's next message creates the conversation with its resume token, as usual.
      const { reply } = await sendAndCollect(socket, 'hello again', 'poison-2');
      expect(reply.done.text).toBe('echo: hello again');
      expect(await server.app.store.conversations.getConversation(session.conversationId)).toMatchObject({ id: session.conversationId, tokenHash: expect.any(String) });
    } finally {
      await db.execute(sql`drop trigger if exists refuse_poison on messages; drop function if exists refuse_poison();`);
    }
  });

  it('streams a reply and stores both sides of the turn', async () => {
    const { socket, session } = await client();
    expect(session.conversationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(session.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Paced like a real provider: each delta comes later than the coalescing window, so each is sent.
    provider.push({ text: 'Hello there, how can I help you today?', chunkSize: 5, interChunkDelayMs: 80 });

    const { ack, reply } = await sendAndCollect(socket, '  hi  ', 'client-1');
    expect(ack).toEqual({ ok: true, messageId: expect.any(String) });
    expect(reply.deltas.length).toBeGreaterThan(3);
    expect(reply.deltas.join('')).toBe('Hello there, how can I help you today?');
    expect(reply.done).toEqual({
      messageId: ack.messageId,
      text: 'Hello there, how can I help you today?',
      fallback: false,
      cached: false,
      toolCalls: [],
      author: 'agent',
    });

    const rows = await listMessages(server.app.database.db, session.conversationId);
    expect(rows.map((row) => [row.role, row.text, row.status])).toEqual([
      ['user', 'hi', 'answered'],
      ['assistant', 'Hello there, how can I help you today?', 'answered'],
    ]);
    expect(rows[1]).toMatchObject({ provider: 'openai', model: 'gpt-fake', fallback: false, replyToId: ack.messageId });
    expect(rows[1]!.outputTokens).toBeGreaterThan(0);
    expect(rows[0]!.latencyMs).toBeGreaterThanOrEqual(0);

    const request = provider.requests[0]!;
    expect(request.headers.authorization).toBe('Bearer sk-test-web-secret');
    expect(request.body.model).toBe('gpt-fake');
    expect(request.body.stream).toBe(true);
    expect(request.body.messages[0].role).toBe('system');
    expect(request.body.messages.at(-1)).toEqual({ role: 'user', content: 'hi' });
  });

  it('sends a burst of provider deltas as fewer, larger pieces: the first at once, the rest joined', async () => {
    const { socket } = await client();
    const text = 'One two three four five six seven eight nine ten eleven twelve.';
    provider.push({ text, chunkSize: 2 });
    const { reply } = await sendAndCollect(socket, 'count for me', 'client-burst');
    expect(reply.deltas.join('')).toBe(text);
    expect(reply.deltas[0]).toBe('On');
    // 32 provider deltas within one 40 ms window (STREAM_COALESCE_MS default): a handful of frames.
    expect(reply.deltas.length).toBeLessThan(8);
    expect(reply.done).toMatchObject({ text });
  });

  it('resumes a conversation with its token and sends the history to the model', async () => {
    const first = await client();
    await sendAndCollect(first.socket, 'my name is Ada');
    first.socket.disconnect();

    const again = await client({ token: first.session.token });
    expect(again.session).toEqual(first.session);
    const { reply } = await sendAndCollect(again.socket, 'what is my name?');
    expect(reply.done.text).toBe('echo: what is my name?');
    const messages = provider.requests.at(-1)!.body.messages;
    expect(messages.map((m: { role: string; content: string }) => [m.role, m.content]).slice(1)).toEqual([
      ['user', 'my name is Ada'],
      ['assistant', 'echo: my name is Ada'],
      ['user', 'what is my name?'],
    ]);
  });

  it('gives a forged, foreign or junk token a new conversation, never someone else’s', async () => {
    const owner = await client();
    await sendAndCollect(owner.socket, 'private details');
    const forgedTokens: unknown[] = [
      'A'.repeat(43),
      owner.session.conversationId,
      owner.session.token.slice(0, 42) + (owner.session.token.endsWith('A') ? 'B' : 'A'),
      { $ne: null },
      12345,
      null,
    ];
    for (const token of forgedTokens) {
      const intruder = await client({ token });
      expect(intruder.session.conversationId).not.toBe(owner.session.conversationId);
      expect(intruder.session.token).not.toBe(owner.session.token);
      const { reply } = await sendAndCollect(intruder.socket, 'what did I say?');
      const sentToModel = JSON.stringify(provider.requests.at(-1)!.body.messages);
      expect(sentToModel).not.toContain('private details');
      expect(reply.done.text).toBe('echo: what did I say?');
    }
  });

  it('rejects bad input with a precise code, stores nothing, and keeps the socket usable', async () => {
    const { socket, session } = await client();
    const cases: [unknown, string][] = [
      [{ text: '', clientMessageId: 'a' }, 'empty_message'],
      [{ text: '   \n\t ', clientMessageId: 'b' }, 'empty_message'],
      [{ text: 'x'.repeat(101), clientMessageId: 'c' }, 'message_too_long'],
      [{ text: 42, clientMessageId: 'd' }, 'invalid_payload'],
      [{ text: 'hello' }, 'invalid_payload'],
      [{ text: 'hello', clientMessageId: '' }, 'invalid_payload'],
      [{ text: 'hello', clientMessageId: 'x'.repeat(129) }, 'invalid_payload'],
      [{ clientMessageId: 'e' }, 'invalid_payload'],
      ['just a string', 'invalid_payload'],
      [12, 'invalid_payload'],
      [null, 'invalid_payload'],
      [[1, 2, 3], 'invalid_payload'],
    ];
    for (const [payload, code] of cases) {
      const ack = await socket.timeout(5000).emitWithAck('message', payload);
      expect(ack.ok, JSON.stringify(payload)).toBe(false);
      expect(ack.error.code, JSON.stringify(payload)).toBe(code);
      expect(typeof ack.error.message).toBe('string');
    }
    expect(provider.requests).toHaveLength(0);
    expect(await server.app.store.conversations.getConversation(session.conversationId)).toBeUndefined();

    const { ack, reply } = await sendAndCollect(socket, 'x'.repeat(100));
    expect(ack.ok).toBe(true);
    expect(reply.done.text).toBe(`echo: ${'x'.repeat(100)}`);
    expect(await listMessages(server.app.database.db, session.conversationId)).toHaveLength(2);
  });

  it('does not answer a repeated clientMessageId twice', async () => {
    const { socket, session } = await client();
    const { ack: first } = await sendAndCollect(socket, 'charge me once', 'same-id');
    const replayed = new Promise<{ messageId: string; text: string }>((resolve) => socket.once('reply.done', resolve));
    const second = await socket.timeout(5000).emitWithAck('message', { text: 'charge me once', clientMessageId: 'same-id' });
    expect(second).toEqual({ ok: true, messageId: first.messageId, duplicate: true });
    // The client that resent (e.g. after a reconnect) still gets the stored answer.
    expect(await replayed).toMatchObject({ messageId: first.messageId, text: 'echo: charge me once' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(provider.requests).toHaveLength(1);
    expect(await listMessages(server.app.database.db, session.conversationId)).toHaveLength(2);
  });

  it('delivers the reply to every tab of the same conversation', async () => {
    const tabA = await client();
    await sendAndCollect(tabA.socket, 'first message creates the conversation');
    const tabB = await client({ token: tabA.session.token });
    expect(tabB.session.conversationId).toBe(tabA.session.conversationId);
    const seenByB = new Promise<{ text: string }>((resolve) => tabB.socket.once('reply.done', resolve));
    const { reply } = await sendAndCollect(tabA.socket, 'both tabs');
    expect((await seenByB).text).toBe(reply.done.text);
  });

  it('answers concurrent messages from many sockets, each to its own conversation', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => client()));
    const results = await Promise.all(clients.map(({ socket }, i) => sendAndCollect(socket, `question ${i}`)));
    results.forEach(({ reply }, i) => expect(reply.done.text).toBe(`echo: question ${i}`));
    const ids = new Set(clients.map(({ session }) => session.conversationId));
    expect(ids.size).toBe(20);
  });
});
