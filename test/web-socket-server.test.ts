import { randomBytes } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { connectClient, startTestApp, type RunningApp } from './helpers/test-app.js';

/** CORS of the web channel's socket.io endpoint, as a page on another origin (the widget embedded in a shop) meets it. */
describe('socket.io endpoint CORS', () => {
  let provider: FakeProviderServer;
  let server: RunningApp;
  const shop = 'https://shop.example';

  beforeAll(async () => {
    provider = await startFakeOpenAIServer();
    server = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: provider.url, LLM_PROVIDERS: 'openai' });
  });
  afterAll(async () => {
    await server?.stop();
    await provider?.close();
  });

  const send = (method: string, path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const sent = request(`${server.url}${path}`, { method, headers }, (answer) => {
        let body = '';
        answer.setEncoding('utf8');
        answer.on('data', (chunk: string) => (body += chunk));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 0, headers: answer.headers, body }));
      });
      sent.on('error', reject);
      sent.end();
    });

  it('lets a page on any origin long-poll, without credentials', async () => {
    const handshake = await send('GET', '/socket.io/?EIO=4&transport=polling', { origin: shop });
    expect(handshake.status).toBe(200);
    expect(handshake.body).toMatch(/^0\{"sid":/);
    expect(handshake.headers['access-control-allow-origin']).toBe(shop);
    expect(handshake.headers['access-control-allow-credentials']).toBeUndefined();

    const preflight = await send('OPTIONS', '/socket.io/?EIO=4&transport=polling', {
      origin: shop,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(shop);
    expect(preflight.headers['access-control-allow-methods']).toContain('POST');
    expect(preflight.headers['access-control-allow-headers']).toBe('content-type');
  });

  it('upgrades to WebSocket without CORS headers (browsers apply none to WebSocket), and the channel works over it', async () => {
    const upgraded = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      const sent = request(`${server.url}/socket.io/?EIO=4&transport=websocket`, {
        headers: {
          origin: shop,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': randomBytes(16).toString('base64'),
        },
      });
      sent.on('upgrade', (answer, socket) => {
        socket.destroy();
        resolve(answer.headers);
      });
      sent.on('response', (answer) => reject(new Error(`no upgrade: HTTP ${answer.statusCode}`)));
      sent.on('error', reject);
      sent.end();
    });
    expect(upgraded.upgrade).toBe('websocket');
    expect(upgraded['access-control-allow-origin']).toBeUndefined();

    const { socket, session } = await connectClient(server.url);
    try {
      expect(session.conversationId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      socket.disconnect();
    }
  });
});
