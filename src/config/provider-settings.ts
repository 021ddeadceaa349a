import type { z } from 'zod';
import type { Secret } from './secret.js';

/** What any provider needs to be built: its key, where its API is, and which model. */
export interface ProviderConnection {
  apiKey: Secret | undefined;
  baseURL: string | undefined;
  model: string;
}

/**
 * A provider's slice of the environment, declared in the provider's own folder
 * (`agent/providers/<name>/settings.ts`) and merged into the one config schema.
 * Zod only, so the config can read it without loading any provider code.
 */
export interface ProviderSettings<Name extends string = string, Env extends z.ZodRawShape = z.ZodRawShape> {
  readonly name: Name;
  /** The variables this provider reads, e.g. `ANTHROPIC_API_KEY`. */
  readonly env: Env;
  /** Variable names, for messages that tell an operator what to set or check. */
  readonly variables: { readonly apiKey: string; readonly baseUrl: string };
  /** How this provider's API keys begin: anything shaped like one is scrubbed from error text. */
  readonly keyPrefixes: readonly string[];
  /** This provider's connection, from a parsed config (which always holds the slice). */
  connection(config: object): ProviderConnection;
}

export function defineProviderSettings<const Name extends string, Env extends z.ZodRawShape>(spec: {
  name: Name;
  env: Env;
  variables: { apiKey: keyof Env & string; baseUrl: keyof Env & string };
  keyPrefixes: readonly string[];
  connection(values: z.output<z.ZodObject<Env>>): ProviderConnection;
}): ProviderSettings<Name, Env> {
  return {
    name: spec.name,
    env: spec.env,
    variables: spec.variables,
    keyPrefixes: spec.keyPrefixes,
    // The config schema merges every listed slice, so a parsed config always has these values;
    // the list's callers only hold the common type, which cannot name each provider's fields.
    connection: (config) => spec.connection(config as z.output<z.ZodObject<Env>>),
  };
}
