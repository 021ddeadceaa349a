import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChatModels } from '../src/agent/providers/create-chat-models.js';
import { loadConfig } from '../src/config/config.js';
import { startFakeAnthropicServer } from './fakes/fake-anthropic-server.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { chatRequest, collectEvents, textOf } from './helpers/chat-stream.js';

describe('createChatModels', () => {
  let openai: FakeProviderServer;
  let anthropic: FakeProviderServer;
  beforeAll(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAIServer(), startFakeAnthropicServer()]);
  });
  afterAll(() => Promise.all([openai.close(), anthropic.close()]));

  it('builds only the providers with a key, in the default order', async () => {
    const models = await createChatModels(loadConfig({ GROQ_API_KEY: 'gsk_1', OPENAI_API_KEY: 'sk-1' }));
    expect(models.map((model) => [model.provider, model.model])).toEqual([
      ['openai', 'gpt-4o-mini'],
      ['groq', 'llama-3.3-70b-versatile'],
    ]);
  });

  it('follows LLM_PROVIDERS order and the *_MODEL settings', async () => {
    const models = await createChatModels(
      loadConfig({
        LLM_PROVIDERS: 'groq,anthropic,openai',
        ANTHROPIC_API_KEY: 'sk-ant-1',
        ANTHROPIC_MODEL: 'claude-x',
        GROQ_API_KEY: 'gsk_1',
        GROQ_MODEL: 'llama-x',
      }),
    );
    expect(models.map((model) => [model.provider, model.model])).toEqual([
      ['groq', 'llama-x'],
      ['anthropic', 'claude-x'],
    ]);
  });

  it('returns no models when no key is configured', async () => {
    expect(await createChatModels(loadConfig({}))).toEqual([]);
  });

  it('wires each model to its *_BASE_URL and *_API_KEY', async () => {
    const models = await createChatModels(
      loadConfig({
        ANTHROPIC_API_KEY: 'sk-ant-from-config',
        ANTHROPIC_BASE_URL: anthropic.url,
        ANTHROPIC_MODEL: 'claude-test',
        OPENAI_API_KEY: 'sk-from-config',
        OPENAI_BASE_URL: openai.url,
        GROQ_API_KEY: 'gsk_from_config',
        GROQ_BASE_URL: openai.origin,
      }),
    );
    expect(models.map((model) => model.provider)).toEqual(['anthropic', 'openai', 'groq']);

    for (const model of models) {
      const events = await collectEvents(model.stream(chatRequest({ messages: [{ role: 'user', content: model.provider } ] })));
      expect(textOf(events)).toBe(`echo: ${model.provider}`);
    }

    expect(anthropic.requests.map((request) => request.headers['authorization'] ?? request.headers['x-api-key'])).toEqual([
      'Bearer sk-ant-from-config',
    ]);
    expect(openai.requests.map((request) => [request.path, request.headers['authorization']])).toEqual([
      ['/v1/chat/completions', 'Bearer sk-from-config'],
      ['/openai/v1/chat/completions', 'Bearer gsk_from_config'],
    ]);
  });
});
