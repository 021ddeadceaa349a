import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { configuredProviders, loadConfig } from '../src/config/config.js';
import { Secret } from '../src/config/secret.js';
import { startFakeOpenAIServer } from './fakes/fake-openai-server.js';
import { connectClient, sendAndCollect, startTestApp } from './helpers/test-app.js';
import { REDIS_TEST_URL } from './helpers/test-database.js';
import { listMessages } from './helpers/store-queries.js';

describe('configuration', () => {
  it('applies the documented defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ PORT: 3000, DATA_DIR: './data', MAX_TOOL_STEPS: 6, MAX_MESSAGE_CHARS: 4000 });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(configuredProviders(config)).toEqual([]);
  });

  it('orders providers by LLM_PROVIDERS, or the default order of the configured ones', () => {
    const keys = { OPENAI_API_KEY: 'a', GROQ_API_KEY: 'b', ANTHROPIC_API_KEY: 'c' };
    expect(configuredProviders(loadConfig(keys))).toEqual(['anthropic', 'openai', 'groq']);
    expect(configuredProviders(loadConfig({ ...keys, LLM_PROVIDERS: 'groq, openai' }))).toEqual(['groq', 'openai']);
    // A listed provider without a key is skipped, not an error.
    expect(configuredProviders(loadConfig({ OPENAI_API_KEY: 'a', LLM_PROVIDERS: 'anthropic,openai' }))).toEqual(['openai']);
  });

  it('fails with one line naming the variable, never echoing a value', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^Invalid configuration: PORT: /);
    expect(() => loadConfig({ LLM_PROVIDERS: 'openai,mistral' })).toThrow(/LLM_PROVIDERS: unknown provider "mistral"/);
    expect(() => loadConfig({ MAX_TOOL_STEPS: '0' })).toThrow(/MAX_TOOL_STEPS/);
    let message = '';
    try {
      loadConfig({ OPENAI_BASE_URL: 'not a url sk-live-123' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/OPENAI_BASE_URL/);
    expect(message).not.toContain('sk-live-123');
    expect(message.split('\n')).toHaveLength(1);
  });

  it('keeps secrets out of strings, JSON and inspection', () => {
    const config = loadConfig({ OPENAI_API_KEY: 'sk-very-secret', DATABASE_URL: 'postgres://u:pw@h/db' });
    const rendered = [String(config.OPENAI_API_KEY), JSON.stringify(config), inspect(config)].join('\n');
    expect(rendered).not.toContain('sk-very-secret');
    expect(rendered).not.toContain('pw@h');
    expect(config.OPENAI_API_KEY).toBeInstanceOf(Secret);
    expect(config.OPENAI_API_KEY!.reveal()).toBe('sk-very-secret');
  });
});

describe('HTTP endpoints', () => {
  it('answers /health, /ready, serves the widget and gives JSON 404s', async () => {
    const server = await startTestApp({ REDIS_URL: REDIS_TEST_URL });
    try {
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${server.url}/ready`);
      expect(await ready.json()).toEqual({
        status: 'ready',
        checks: { database: 'ok', redis: 'ok', shuttingDown: false },
      });
      const widget = await fetch(`${server.url}/widget.js`);
      expect(widget.headers.get('content-type')).toMatch(/javascript/);
      const page = await fetch(`${server.url}/`);
      expect(await page.text()).toContain('/widget.js');
      const missing = await fetch(`${server.url}/nope?x=1`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: { code: 'not_found', message: 'no route for GET /nope' } });
    } finally {
      await server.stop();
    }
  });

  it('reports 503 on /ready when the configured Redis does not answer', async () => {
    const server = await startTestApp({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'not_ready', checks: { database: 'ok', redis: 'down' } });
    } finally {
      await server.stop();
    }
  });

  it('runs on embedded PGlite with no DATABASE_URL', async () => {
    const server = await startTestApp({}, { embedded: true });
    try {
      expect(server.app.database.kind).toBe('pglite');
      const { socket, session } = await connectClient(server.url);
      const { reply } = await sendAndCollect(socket, 'hello embedded');
      socket.disconnect();
      expect(reply.done.fallback).toBe(true);
      // No provider on a fresh machine: the fallback reply hands the conversation to a person
      // (HANDOFF_ON_FALLBACK), who is told so once.
      const rows = await listMessages(server.app.database.db, session.conversationId);
      expect(rows.map((row) => [row.role, row.author])).toEqual([
        ['user', null],
        ['assistant', null], // a turn's reply: the agent's (the column marks operators and notices)
        ['assistant', 'system'],
      ]);
      expect(rows[2]!.text).toBe(server.config.HANDOFF_NOTICE);
      expect((await server.app.store.conversations.getConversation(session.conversationId))!.mode).toBe('human');
    } finally {
      await server.stop();
    }
  });
});

describe('graceful shutdown', () => {
  it('finishes a turn in flight, refuses new messages, then closes', async () => {
    const provider = await startFakeOpenAIServer();
    const server = await startTestApp({ OPENAI_API_KEY: 'sk-x', OPENAI_BASE_URL: provider.url, LLM_PROVIDERS: 'openai' });
    try {
      const { socket, session } = await connectClient(server.url);
      const second = await connectClient(server.url);
      provider.push({ text: 'slow but complete', delayMs: 400 });
      const inFlight = sendAndCollect(socket, 'take your time');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(server.app.spine.inFlight.count).toBe(1);
      const closing = server.app.close();
      const refused = await second.socket.timeout(2000).emitWithAck('message', { text: 'too late', clientMessageId: 'late' });
      expect(refused).toMatchObject({ ok: false, error: { code: 'shutting_down' } });
      const { reply } = await inFlight;
      expect(reply.done.text).toBe('slow but complete');
      await closing;
      const rows = await (async () => {
        // The app closed its own pool; read the outcome with a fresh one.
        const { openDatabase } = await import('../src/store/database.js');
        const database = await openDatabase({ url: server.database!.url, dataDir: '/nonexistent' });
        try {
          return await listMessages(database.db, session.conversationId);
        } finally {
          await database.close();
        }
      })();
      expect(rows.map((row) => row.status)).toEqual(['answered', 'answered']);
    } finally {
      await server.database?.drop();
      await provider.close();
    }
  });
});

describe('the run command on a fresh machine', () => {
  it('`npm start` starts with no database, Redis or keys, answers with the fallback, and exits 0 on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sb-fresh-'));
    // The README's command itself: its build step (up to date after test/global-setup.ts), then `node dist/main.js`.
    // Its own process group, so that a failed test can stop npm and the server together.
    const child = spawn('npm', ['start'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stderr.on('data', (chunk) => (output += chunk));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line in: ${output}`)), 90_000);
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk;
          const match = /"address":"(http:\/\/[^"]+)"/.exec(output);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
      });
      expect(output).toContain('no LLM provider configured');
      const { socket } = await connectClient(address);
      const { reply } = await sendAndCollect(socket, 'is anyone there?');
      socket.disconnect();
      expect(reply.done.fallback).toBe(true);
      expect(output).not.toContain('is anyone there?');

      // npm hands SIGTERM to the server (the script `exec`s node) and exits with the server's code.
      const exitCode = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exitCode).toBe(0);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // The group has already exited.
      }
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses to start on a bad setting with one line naming it', async () => {
    const child = spawn(process.execPath, ['dist/main.js'], {
      env: { PATH: process.env.PATH, PORT: 'not-a-port' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^Invalid configuration: PORT: /)]);
  }, 60_000);
});
