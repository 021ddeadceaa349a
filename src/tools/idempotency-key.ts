import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every depth, so the same arguments always give the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The idempotency key of a tool call, from what the turn knows: the user message, the step of
 * the tool loop, the tool and its canonical arguments. Never the model's own call id, which a
 * real model draws afresh on every call: with it, every retry of a turn (a worker crash, a
 * storage error, a provider switch) would run the side effect again under a new key. A retried
 * turn that asks for the same call in the same step finds the recorded outcome instead.
 */
export function toolCallKey(call: { messageId: string; step: number; toolName: string; arguments: unknown }): string {
  const digest = createHash('sha256').update(canonicalJson(call.arguments)).digest('base64url').slice(0, 22);
  return `${call.messageId}:${call.step}:${call.toolName}:${digest}`;
}
