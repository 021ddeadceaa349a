import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { FakeWhatsAppWebClient } from './fakes/fake-whatsapp-web-client.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';
import { listMessages } from './helpers/store-queries.js';
import { waitFor } from './helpers/wait-for.js';
import type { WhatsAppWebChannel } from '../src/channels/whatsapp-web/whatsapp-web-channel.js';

describe('WhatsApp via whatsapp-web.js: message events → agent → sendMessage', () => {
  let provider: FakeProviderServer;
  let server: RunningApp;
  const clients: FakeWhatsAppWebClient[] = [];
  const current = () => clients.at(-1)!;

  beforeAll(async () => {
    provider = await startFakeOpenAIServer();
    server = await startTestApp(
      {
        OPENAI_API_KEY: 'sk-test-wweb',
        OPENAI_BASE_URL: provider.url,
        OPENAI_MODEL: 'gpt-fake',
        LLM_PROVIDERS: 'openai',
        WHATSAPP_WEB_ENABLED: 'true',
        ADMIN_TOKEN: 'admin-token-for-pairing',
        WHATSAPP_WEB_RECONNECT_DELAY_MS: '50',
        CHANNEL_DELIVERY_ATTEMPTS: '4',
        CHANNEL_DELIVERY_BASE_DELAY_MS: '20',
        CHANNEL_DELIVERY_MAX_DELAY_MS: '100',
        LLM_RETRIES: '0',
      },
      {
        whatsAppWebClient: () => {
          const client = new FakeWhatsAppWebClient();
          clients.push(client);
          return client;
        },
      },
    );
  });

  afterEach(() => provider.reset());

  afterAll(async () => {
    await server?.stop();
    await provider?.close();
  });

  it('shows the QR code for pairing until the phone links, then is ready', async () => {
    const channel = (server.app.channels.get('whatsapp-web') as WhatsAppWebChannel);
    const pairing = await waitFor(() => (channel.pairing.state === 'qr' ? channel.pairing : undefined), 'the QR code', 10_000);
    expect(pairing.qr).toMatch(/^2@/);
    // The admin console's health view shows the same QR code to pair with.
    const health = await fetch(`${server.url}/api/admin/health`, { headers: { authorization: 'Bearer admin-token-for-pairing' } });
    const shown = ((await health.json()) as { whatsappWeb: { state: string; qr: string; qrImage: string } }).whatsappWeb;
    expect(shown).toMatchObject({ state: 'qr', qr: pairing.qr });
    expect(shown.qrImage).toMatch(/^data:image\/png;base64,/);
    expect(current().initialized).toBe(true);
    current().pair();
    expect(channel.pairing).toMatchObject({ state: 'ready', qr: undefined });
  });

  it('answers a chat message in the same chat, once, even if the event repeats', async () => {
    provider.push({ text: 'Hi from the bot.', delayMs: 100 });
    const message = current().receive({ from: '15551230001@c.us', body: 'hello?' });
    current().emit('message', message);
    await waitFor(() => current().sent.length === 1, 'the reply', 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(current().sent).toEqual([{ chatId: '15551230001@c.us', content: 'Hi from the bot.', id: expect.any(String) }]);
    expect(provider.requests).toHaveLength(1);
    const conversation = await server.app.store.conversations.findOrCreateConversation({ channel: 'whatsapp-web', externalUserId: '15551230001@c.us' });
    const rows = await listMessages(server.app.database.db, conversation.id);
    expect(rows.map((row) => [row.role, row.text])).toEqual([
      ['user', 'hello?'],
      ['assistant', 'Hi from the bot.'],
    ]);
    expect(rows[0]!.externalMessageId).toBe(message.id._serialized);
  });

  it('ignores our own messages, groups, status updates and media', async () => {
    const client = current();
    const before = client.sent.length;
    client.receive({ from: '15551230002@c.us', body: 'sent by us', fromMe: true });
    client.receive({ from: '120363000000000000@g.us', body: 'group chatter', author: '15551230003@c.us' });
    client.receive({ from: 'status@broadcast', body: 'my status', isStatus: true });
    client.receive({ from: '15551230004@c.us', body: '', type: 'image' as never, hasMedia: true } as never);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(provider.requests).toHaveLength(0);
    expect(client.sent.length).toBe(before);
  });

  it('reconnects with a fresh client after a disconnect and keeps delivering, retrying sends meanwhile', async () => {
    const channel = (server.app.channels.get('whatsapp-web') as WhatsAppWebChannel);
    const first = current();
    first.emit('disconnected', 'NAVIGATION');
    expect(channel.pairing.state).toBe('disconnected');
    const second = await waitFor(() => (clients.length >= 2 && current() !== first ? current() : undefined), 'a new client', 10_000);
    expect(first.destroyed).toBe(true);
    await waitFor(() => channel.pairing.state === 'qr', 'a new QR code', 10_000);
    second.pair();

    second.failSends = 1;
    provider.push({ text: 'Back online.' });
    second.receive({ from: '15551230005@c.us', body: 'still there?' });
    await waitFor(() => second.sent.length === 1, 'the reply after the retry', 10_000);
    expect(second.sent[0]).toMatchObject({ chatId: '15551230005@c.us', content: 'Back online.' });
    const delivery = await waitFor(
      async () => (await server.app.store.channels.listDeliveries({ status: 'sent' })).find((d) => d.channel === 'whatsapp-web' && d.attempts === 2),
      'the delivery sent on the second attempt',
      10_000,
    );
    expect(delivery.parts).toBe(1);
  });

  it('hands a chat to a person: the model asks for one, an operator takes it and answers in the chat as "Support: …", the agent stays out', async () => {
    const client = current();
    const chatId = '15551230009@c.us';
    provider.push({ toolCalls: [{ name: 'request_human', arguments: { reason: 'delivery complaint' } }] });
    client.receive({ from: chatId, body: 'I need a person' });
    await waitFor(() => client.sent.filter((sent) => sent.chatId === chatId).length === 1, 'the notice', 10_000);
    expect(client.sent.filter((sent) => sent.chatId === chatId)[0]!.content).toBe(server.config.HANDOFF_NOTICE);
    const conversation = await server.app.store.conversations.findOrCreateConversation({ channel: 'whatsapp-web', externalUserId: chatId });
    expect(conversation.mode).toBe('human');

    const admin = (path: string, body?: unknown) =>
      fetch(`${server.url}/api/admin/conversations/${conversation.id}/${path}`, {
        method: 'POST',
        headers: { authorization: 'Bearer admin-token-for-pairing', 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      }).then(async (response) => ({ status: response.status, json: (await response.json()) as any }));
    expect((await admin('takeover')).status).toBe(200);
    const reply = await admin('messages', { text: 'Your parcel is at the depot.' });
    expect(reply.json).toEqual({ messageId: expect.any(String), delivery: 'sent' });
    expect(client.sent.filter((sent) => sent.chatId === chatId).map((sent) => sent.content)).toEqual([
      server.config.HANDOFF_NOTICE,
      'Support: Your parcel is at the depot.',
    ]);

    const requests = provider.requests.length;
    client.receive({ from: chatId, body: 'thank you!' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(provider.requests).toHaveLength(requests);
    expect(client.sent.filter((sent) => sent.chatId === chatId)).toHaveLength(2);
  });
});
