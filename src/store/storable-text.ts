import { z } from 'zod';

/**
 * The one rule for text that reaches the database, applied at every boundary (channels'
 * payloads, the intake, model output): PostgreSQL's text and jsonb cannot hold U+0000
 * ("invalid byte sequence for encoding UTF8"), and a lone UTF-16 surrogate is not valid
 * UTF-8. So NUL is removed and a lone surrogate becomes U+FFFD, instead of a 500 that a
 * retry could never fix. Admin query filters refuse such text instead (a search is not a
 * message to keep).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** The same, without the global flag (whose `lastIndex` state would make `test` depend on the call before). */
const LONE_SURROGATE_ANYWHERE = new RegExp(LONE_SURROGATE.source);

export function storableText(text: string): string {
  const withoutNul = text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
  return withoutNul.replace(LONE_SURROGATE, '\uFFFD');
}

/** Whether the text holds something the database cannot store as it is. */
export function hasUnstorableText(text: string): boolean {
  return text.includes('\u0000') || LONE_SURROGATE_ANYWHERE.test(text);
}

/** `storableText` over every string (keys included) of a JSON value, e.g. a tool's arguments or result. */
export function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [storableText(key), storableJson(item)]));
  }
  return value;
}

/** A zod string made storable first, then checked against its limits (so a string of NULs is empty, not long). */
export function storableString(limits: { min?: number; max?: number } = {}) {
  let checked = z.string();
  if (limits.min !== undefined) checked = checked.min(limits.min);
  if (limits.max !== undefined) checked = checked.max(limits.max);
  return z.string().transform(storableText).pipe(checked);
}
