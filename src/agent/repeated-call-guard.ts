import { canonicalJson } from '../tools/idempotency-key.js';
import type { ToolCallRequest } from './chat-model.js';

/** How often one exact call (tool and canonical arguments) may run in a turn; the next is refused. */
export const MAX_IDENTICAL_TOOL_CALLS = 2;

/**
 * Stops the loop peers are known for (one tool called 121 times with the same arguments): within
 * a turn, a call identical to `allowed` earlier ones is not run, and the model reads why. The same
 * tool with other arguments is another call. Replayed steps count like live ones, so a resumed
 * turn refuses the same calls.
 */
export class RepeatedCallGuard {
  readonly #seen = new Map<string, number>();

  constructor(private readonly allowed = MAX_IDENTICAL_TOOL_CALLS) {}

  /** Counts the call; returns the error for the model when it is one too many, else undefined. */
  admit(call: ToolCallRequest): string | undefined {
    const key = `${call.name}\u0000${canonicalArguments(call.arguments)}`;
    const count = (this.#seen.get(key) ?? 0) + 1;
    this.#seen.set(key, count);
    if (count <= this.allowed) return undefined;
    return `this exact call already ran ${timesText(this.allowed)} in this turn with the same arguments; use its result or change the arguments`;
  }
}

/** `{"b":1,"a":2}` and `{"a":2,"b":1}` are the same call; text that is not JSON is compared as sent. */
function canonicalArguments(text: string): string {
  if (text.trim() === '') return '{}';
  try {
    return canonicalJson(JSON.parse(text));
  } catch {
    return text;
  }
}

function timesText(count: number): string {
  return count === 1 ? 'once' : count === 2 ? 'twice' : `${count} times`;
}
