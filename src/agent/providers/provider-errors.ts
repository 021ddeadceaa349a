import { kindForStatus, ProviderError, type ProviderFailureKind } from '../../errors/index.js';
import { PROVIDER_SETTINGS } from './settings.js';

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * The error classes a Stainless-generated SDK (openai, @anthropic-ai/sdk, groq-sdk)
 * exports as statics of its client class. The three SDKs' classes have the same shape
 * but are distinct, so an instanceof test needs the SDK that made the call: each
 * provider passes its own, and classifying an error never loads another provider's SDK.
 */
export interface SdkErrorClasses {
  readonly APIError: ErrorClass;
  readonly APIUserAbortError: ErrorClass;
  readonly APIConnectionError: ErrorClass;
  readonly APIConnectionTimeoutError: ErrorClass;
}

/** An HTTP or in-stream error as every SDK's `APIError` carries it. */
interface ApiErrorLike extends Error {
  status: number | undefined;
  headers: Headers | undefined;
  error?: unknown;
  type?: unknown;
  code?: unknown;
  apiMessage?: unknown;
  requestID?: string | null;
}

export interface ProviderErrorContext {
  provider: string;
  /** The caller's signal: once it has fired, any failure is reported as an abort. */
  signal?: AbortSignal | undefined;
  /** Scrubbed from every message, in case a provider echoes the key back (OpenAI's 401 does). */
  apiKey?: string | undefined;
  now?: () => number;
  /** The setting that holds this provider's API origin, named when a wrong one is the likely cause. */
  baseUrlVariable?: string | undefined;
  /**
   * The provider's labels for a rate limit in an error event mid-stream (its wire format's
   * quirk); without it, every such event counts as a server error.
   */
  isRateLimitLabel?: ((label: string) => boolean) | undefined;
}

/**
 * Maps anything an SDK call or stream throws into a ProviderError; ProviderErrors pass through.
 * `sdk` is the error classes of the SDK that made the call.
 */
export function toProviderError(error: unknown, context: ProviderErrorContext & { sdk: SdkErrorClasses }): ProviderError {
  if (error instanceof ProviderError) return error;
  const { provider, sdk } = context;
  const redact = (message: string) => redactSecrets(message, context.apiKey);

  if (context.signal?.aborted || error instanceof sdk.APIUserAbortError) {
    return new ProviderError({ provider, kind: 'aborted', message: 'request aborted', cause: error });
  }
  if (error instanceof sdk.APIConnectionTimeoutError) {
    return new ProviderError({ provider, kind: 'timeout', message: 'request timed out', cause: error });
  }
  if (error instanceof sdk.APIConnectionError && isRefusedRedirect(error)) {
    // Clients refuse redirects (sdk-client-options): a wrong base URL, not a passing failure.
    const message = `the provider answered with a redirect, which is refused: check ${context.baseUrlVariable ?? 'its base URL setting'}`;
    return new ProviderError({ provider, kind: 'not_found', message, cause: error });
  }
  if (error instanceof sdk.APIConnectionError) {
    return new ProviderError({ provider, kind: 'network', message: redact(messageOf(error)), cause: error });
  }
  if (error instanceof sdk.APIError) {
    return fromApiError(error as ApiErrorLike, context, redact);
  }
  if (error instanceof SyntaxError) {
    return new ProviderError({ provider, kind: 'invalid_response', message: `unparsable stream data: ${redact(error.message)}`, cause: error });
  }
  if (isSocketFailure(error)) {
    return new ProviderError({ provider, kind: 'network', message: `connection lost: ${redact(messageOf(error))}`, cause: error });
  }
  // Unknown failures are most likely a response we could not make sense of; never retry those blindly.
  return new ProviderError({ provider, kind: 'invalid_response', message: redact(messageOf(error)), cause: error });
}

/**
 * HTTP errors are built without `cause`: the SDK error holds the raw response body,
 * which may echo the API key, and a logger serialising the cause would print it.
 */
function fromApiError(error: ApiErrorLike, context: ProviderErrorContext, redact: (message: string) => string): ProviderError {
  const requestId = error.requestID ? ` (request ${error.requestID})` : '';
  const retryAfterMs = error.headers ? parseRetryAfterMs(error.headers, context.now) : undefined;
  const kind = error.status === undefined ? inStreamErrorKind(error, context) : kindForStatus(error.status);
  const where = error.status === undefined ? 'error event mid-stream: ' : '';
  return new ProviderError({
    provider: context.provider,
    kind,
    message: `${where}${redact(describeApiError(error))}${requestId}`,
    ...(error.status !== undefined && { status: error.status }),
    ...(retryAfterMs !== undefined && { retryAfterMs }),
  });
}

/** "HTTP 429 rate_limit_error: slow down", from whichever fields this SDK filled in. */
function describeApiError(error: ApiErrorLike): string {
  const body = (error.error ?? {}) as { type?: unknown; message?: unknown; error?: { type?: unknown; message?: unknown } };
  const firstString = (...values: unknown[]) => values.find((value): value is string => typeof value === 'string' && value !== '');
  const type = firstString(error.type, body.error?.type, body.type);
  const detail = firstString(error.apiMessage, body.error?.message, body.message) ?? error.message;
  return `${error.status === undefined ? '' : `HTTP ${error.status} `}${type ? `${type}: ` : ''}${detail}`;
}

/** A stream that already answered 200 then sent an error event: overload or rate limit, both transient. */
function inStreamErrorKind(error: ApiErrorLike, context: ProviderErrorContext): ProviderFailureKind {
  const nested = (error.error ?? {}) as { type?: unknown; code?: unknown; error?: { type?: unknown } };
  const labels = [error.type, error.code, nested.type, nested.code, nested.error?.type].filter(
    (label): label is string => typeof label === 'string',
  );
  const isRateLimitLabel = context.isRateLimitLabel;
  return isRateLimitLabel !== undefined && labels.some(isRateLimitLabel) ? 'rate_limited' : 'server';
}

/** `retry-after-ms` (OpenAI) wins over `retry-after`, which is seconds or an HTTP date. */
export function parseRetryAfterMs(headers: Headers, now: () => number = Date.now): number | undefined {
  const millis = headers.get('retry-after-ms');
  if (millis !== null) {
    const value = Number.parseFloat(millis);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const retryAfter = headers.get('retry-after');
  if (retryAfter === null || retryAfter.trim() === '') return undefined;
  const seconds = Number(retryAfter);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now());
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The exact key, plus anything shaped like any provider's key (partial echoes included). */
const KEY_SHAPED = new RegExp(
  `\\b(?:${PROVIDER_SETTINGS.flatMap((settings) => settings.keyPrefixes).map(escapeRegExp).join('|')})[A-Za-z0-9_*.-]{4,}`,
  'g',
);

export function redactSecrets(message: string, apiKey: string | undefined): string {
  const withoutKey = apiKey ? message.split(apiKey).join('[redacted]') : message;
  return withoutKey.replace(KEY_SHAPED, '[redacted]');
}

/** A stream that stopped without its terminal event: report why, never end silently. */
export function streamEndedEarly(context: ProviderErrorContext): ProviderError {
  if (context.signal?.aborted) {
    return new ProviderError({ provider: context.provider, kind: 'aborted', message: 'request aborted' });
  }
  return new ProviderError({
    provider: context.provider,
    kind: 'invalid_response',
    message: 'stream ended before the response finished',
  });
}

/** undici's fetch with `redirect: 'error'` fails with "fetch failed", caused by "unexpected redirect". */
function isRefusedRedirect(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause.message === 'unexpected redirect') return true;
  }
  return false;
}

/** undici reports a body cut mid-read as `TypeError: terminated` with the socket error as cause. */
function isSocketFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.message === 'terminated') return true;
  const code = (error as { code?: unknown; cause?: { code?: unknown } }).cause?.code ?? (error as { code?: unknown }).code;
  return typeof code === 'string' && /^(UND_ERR_|ECONN|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN)/.test(code);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
