/**
 * The one redaction policy for the admin console's API, its UI (which only ever
 * receives redacted data), its exports and the logs.
 *
 * - Always masked: credentials (by key name or by well-known token shape) and card
 *   numbers (digit runs of 13–19 that pass the Luhn check).
 * - Masked in `list` mode, kept in `detail` mode: email addresses and phone numbers.
 *   Only the single-record detail views of the API use `detail`.
 */
export type RedactionMode = 'list' | 'detail';

export const REDACTED = '[redacted]';
export const CARD_MASK = '[card]';

/** Keys whose values are credentials whatever they look like. */
const SECRET_KEY = /(pass(word)?|secret|token|api[-_]?key|authorization|auth[-_]?header|signature|cookie|cvc|cvv|card[-_]?number)$/i;

/** Credential shapes seen in the wild: Stripe/OpenAI/Anthropic keys, Slack tokens, bearer headers, JWTs, Twilio auth. */
const TOKEN_PATTERNS: RegExp[] = [
  /\b(?:sk|pk|rk|whsec)_(?:live|test)_[A-Za-z0-9]{8,}\b/g,
  /\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}\b/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g,
  /\bgsk_[A-Za-z0-9]{16,}\b/g,
];

const CARD_CANDIDATE = /(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])/g;
const EMAIL = /\b[A-Za-z0-9._%+-]+@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b/g;
const PHONE_CANDIDATE = /(?<![\w-])\+?\(?\d[\d\s().-]{6,}\d(?![\w-])/g;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let digit = digits.charCodeAt(i) - 48;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** `alice@example.com` → `a***@example.com`. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return REDACTED;
  return `${email[0]}***${email.slice(at)}`;
}

/** `+1 415 555 0167` → `***67`: the last two digits stay so an admin can tell numbers apart. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  return `***${digits.slice(-2)}`;
}

/** Redacts free text: model and user text, tool errors, values inside arguments. */
export function redactText(text: string, mode: RedactionMode): string {
  let out = text;
  for (const pattern of TOKEN_PATTERNS) out = out.replace(pattern, REDACTED);
  out = out.replace(CARD_CANDIDATE, (match) => (luhnValid(match.replace(/\D/g, '')) ? CARD_MASK : match));
  if (mode === 'detail') return out;
  out = out.replace(EMAIL, (match) => maskEmail(match));
  out = out.replace(PHONE_CANDIDATE, (match) => {
    const digits = match.replace(/\D/g, '').length;
    // 9–15 digits: E.164 numbers and local formats; dates and amounts have fewer.
    return digits >= 9 && digits <= 15 ? maskPhone(match) : match;
  });
  return out;
}

/** Deep-redacts JSON-like data (tool arguments and results). Never mutates its input. */
export function redactValue(value: unknown, mode: RedactionMode, depth = 0): unknown {
  if (depth > 20) return REDACTED;
  if (typeof value === 'string') return redactText(value, mode);
  if (typeof value === 'number' && Number.isInteger(value) && String(Math.abs(value)).length >= 13) {
    return luhnValid(String(Math.abs(value))) ? CARD_MASK : value;
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, mode, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      out[key] = SECRET_KEY.test(key) && inner !== null && inner !== undefined && inner !== '' ? REDACTED : redactValue(inner, mode, depth + 1);
    }
    return out;
  }
  return value;
}

/**
 * pino `formatters.log` hook: list-mode redaction of every string in a log line's
 * plain objects, on top of the logger's path-based redaction. Errors and class
 * instances pass untouched (their serializers run later).
 */
export function redactLogObject(object: Record<string, unknown>): Record<string, unknown> {
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return redactText(value, 'list');
    if (depth > 6 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1));
    if (Object.getPrototypeOf(value) !== Object.prototype) return value;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = walk(inner, depth + 1);
    return out;
  };
  return walk(object, 0) as Record<string, unknown>;
}
