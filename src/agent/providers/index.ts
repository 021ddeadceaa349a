import type { ChatModelPlugin } from './chat-model-plugin.js';
import { anthropic } from './anthropic/plugin.js';
import { groq } from './groq/plugin.js';
import { openai } from './openai/plugin.js';
import type { PROVIDER_SETTINGS } from './settings.js';

/**
 * THE list of LLM providers, in the default fallback order. A new provider is one folder
 * (settings.ts, plugin.ts, its model) plus one entry here and its settings in ./settings.ts.
 */
export const PROVIDERS = [anthropic, openai, groq] as const satisfies readonly ChatModelPlugin[];

type NamesOf<List> = { [Index in keyof List]: List[Index] extends { readonly name: infer Name } ? Name : never };
type ListsAgree = [NamesOf<typeof PROVIDERS>, NamesOf<typeof PROVIDER_SETTINGS>] extends [NamesOf<typeof PROVIDER_SETTINGS>, NamesOf<typeof PROVIDERS>] ? true : false;
// The config is built from ./settings.ts: a provider missing from either list, or out of order, fails to compile here.
true satisfies ListsAgree;

export function pluginFor(name: string): ChatModelPlugin | undefined {
  return PROVIDERS.find((plugin) => plugin.name === name);
}

/** "ANTHROPIC_API_KEY, OPENAI_API_KEY or GROQ_API_KEY": what an operator may set to enable a provider. */
export function apiKeyVariableList(): string {
  const variables = PROVIDERS.map((plugin) => plugin.settings.variables.apiKey);
  return variables.length <= 1 ? variables.join('') : `${variables.slice(0, -1).join(', ')} or ${variables.at(-1)}`;
}
