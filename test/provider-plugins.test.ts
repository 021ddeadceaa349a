import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROVIDERS, apiKeyVariableList, pluginFor } from '../src/agent/providers/index.js';
import { PROVIDER_SETTINGS } from '../src/agent/providers/settings.js';
import { redactSecrets } from '../src/agent/providers/provider-errors.js';
import { ConfigError, PROVIDER_NAMES, configuredProviders, loadConfig, providerKey } from '../src/config/config.js';

const root = resolve(import.meta.dirname, '..');

/** Every module a file reaches through static imports and re-exports, and the packages they name. */
function staticImportGraph(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    // `import type` vanishes at runtime, so it is not a dependency the config loads.
    for (const [, typeOnly, specifier] of source.matchAll(/^(?:import|export)\s+(type\s)?[^;]*?from\s+'([^']+)'/gms)) {
      if (typeOnly || specifier === undefined) continue;
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else packages.add(specifier);
    }
  };
  visit(resolve(root, entry));
  return { files: [...files].map((file) => relative(root, file)).sort(), packages: [...packages].sort() };
}

describe('provider plugins', () => {
  it('lists the same providers, in the same order, as the settings the config is built from', () => {
    expect(PROVIDERS.map((plugin) => plugin.name)).toEqual(PROVIDER_SETTINGS.map((settings) => settings.name));
    expect(PROVIDER_NAMES).toEqual(['anthropic', 'openai', 'groq']);
    expect(PROVIDERS.every((plugin, index) => plugin.settings === PROVIDER_SETTINGS[index])).toBe(true);
  });

  it('reads each provider’s key and model through its own settings slice', () => {
    const config = loadConfig({ GROQ_API_KEY: 'gsk_k', GROQ_MODEL: 'llama-x', LLM_PROVIDERS: 'groq,anthropic' });
    expect(configuredProviders(config)).toEqual(['groq']);
    expect(providerKey(config, 'groq')?.reveal()).toBe('gsk_k');
    expect(providerKey(config, 'anthropic')).toBeUndefined();
    expect(pluginFor('groq')?.model(config)).toBe('llama-x');
    expect(pluginFor('openai')?.model(config)).toBe('gpt-4o-mini');
  });

  it('names an unknown provider in LLM_PROVIDERS with the list it expected', () => {
    expect(() => loadConfig({ LLM_PROVIDERS: 'openai,mistral' })).toThrow(ConfigError);
    expect(() => loadConfig({ LLM_PROVIDERS: 'openai,mistral' })).toThrow('unknown provider "mistral" (expected anthropic, openai, groq)');
  });

  it('builds the operator hint from the list', () => {
    expect(apiKeyVariableList()).toBe('ANTHROPIC_API_KEY, OPENAI_API_KEY or GROQ_API_KEY');
  });

  it('refuses to build a provider without its key, naming the variable', async () => {
    await expect(pluginFor('openai')!.create(loadConfig({}))).rejects.toThrow('openai is configured without an API key (OPENAI_API_KEY)');
  });

  it('scrubs every plugin’s key shape from error text', () => {
    expect(redactSecrets('a sk-ant-api03-abcd b sk-proj-abcd c gsk_abcd d', undefined)).toBe('a [redacted] b [redacted] c [redacted] d');
  });

  it('keeps the config a leaf: only zod, the error family and the providers’ zod-only settings slices', () => {
    const { files, packages } = staticImportGraph('src/config/config.ts');
    expect(packages).toEqual(['zod']);
    const outsideConfig = files.filter((file) => !file.startsWith('src/config/') && !file.startsWith('src/errors/'));
    expect(outsideConfig).toEqual([
      'src/agent/providers/anthropic/settings.ts',
      'src/agent/providers/groq/settings.ts',
      'src/agent/providers/openai/settings.ts',
      'src/agent/providers/settings.ts',
    ]);
  });
});
