/**
 * A fake Stripe API on 127.0.0.1 (port 0) for Checkout Sessions, speaking the
 * documented wire format so the real `stripe` SDK can be pointed at it:
 *
 * - `POST /v1/checkout/sessions` with a form-encoded body (`line_items[0][price_data][currency]=usd`),
 *   answered with a `checkout.session` object; `GET /v1/checkout/sessions/:id` retrieves one.
 * - `Authorization: Bearer <secret key>`; a missing or wrong key is a 401 whose message
 *   masks the key (`Invalid API Key provided: sk_test_****1234`).
 * - Errors as `{"error":{"type","message","code"?,"param"?}}` with Stripe's statuses
 *   (400 invalid_request_error / idempotency_error, 401, 404, 429 with code rate_limit, 500 api_error).
 * - `Idempotency-Key` as API v1 documents it: the first response is saved once the
 *   endpoint starts executing (a created session, or a 500); a repeat with the same
 *   parameters gets the saved status and body with `Idempotent-Replayed: true`; a repeat
 *   with different parameters is a 400 idempotency_error. Auth failures, rate limits and
 *   parameter errors happen before execution, so they are not saved.
 *
 * Only what the checkout tool needs is modelled; unknown routes answer 404 like Stripe.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_STRIPE_SECRET_KEY = 'sk_test_fakeSwitchboardKey0000001234';

export interface FakeStripeServerOptions {
  /** The one key the fake accepts. Default: FAKE_STRIPE_SECRET_KEY. */
  secretKey?: string;
  /** Unix seconds, for `created` and `expires_at`. Default: the wall clock. */
  now?: () => number;
}

/** A response to force on the next request, after the key is checked and before anything else. */
export type StripeFailure =
  | { status: 400; message?: string; param?: string; code?: string }
  | { status: 401; message?: string }
  | { status: 429; message?: string }
  | { status: 500; message?: string }
  /** Read the request and never answer, for timeout and abort tests. */
  | { hang: true };

export interface RecordedStripeResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export interface RecordedStripeRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The form-encoded body as received. */
  rawBody: string;
  /** The body decoded into Stripe's nested structure; every leaf is a string, as on the wire. */
  body: Record<string, unknown>;
  /** What the fake answered; undefined while the request hangs. */
  response?: RecordedStripeResponse;
}

/** The fields of a Checkout Session the fake fills in (a subset of Stripe's object). */
export interface FakeCheckoutSession {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number;
  amount_total: number;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string;
  customer: null;
  customer_email: string | null;
  expires_at: number;
  livemode: false;
  metadata: Record<string, string>;
  mode: 'payment' | 'setup' | 'subscription';
  payment_intent: null;
  payment_method_types: string[];
  payment_status: 'unpaid';
  status: 'open';
  success_url: string | null;
  ui_mode: 'hosted';
  url: string;
}

export interface FakeLineItem {
  currency: string;
  unit_amount: number;
  quantity: number;
  amount_total: number;
  description: string;
}

export interface FakeStripeServer {
  /** The origin to give as STRIPE_API_URL (the SDK adds `/v1/...`). */
  readonly url: string;
  readonly secretKey: string;
  /** Every request received, in arrival order, with the fake's answer. */
  readonly requests: RecordedStripeRequest[];
  /** Sessions actually created, in full (the answer may leave fields out: `omitFromNextSession`); idempotent replays add none. */
  readonly sessions: FakeCheckoutSession[];
  /** Each session's line items by session id (Stripe only returns them when expanded, so the wire object lacks them). */
  readonly lineItems: ReadonlyMap<string, FakeLineItem[]>;
  /** Queue forced responses: each request takes the next one. */
  failNext(...failures: StripeFailure[]): void;
  /**
   * Leave these fields out of the next created session's answer (and of its idempotent
   * replays), for clients that must cope with a sparser object than the one documented.
   */
  omitFromNextSession(...fields: (keyof FakeCheckoutSession)[]): void;
  /** Forget queued failures, omissions, requests, sessions and saved idempotent responses. */
  reset(): void;
  /** Stop listening and cut every open connection, hanging requests included. */
  close(): Promise<void>;
}

/** Checkout Sessions expire 24 hours after creation unless `expires_at` says otherwise. */
const DEFAULT_EXPIRY_SECONDS = 24 * 60 * 60;
const THREE_DECIMAL_CURRENCIES = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);
const MODES = ['payment', 'setup', 'subscription'] as const;

interface SavedResponse {
  fingerprint: string;
  requestId: string;
  status: number;
  body: unknown;
}

class StripeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: { error: Record<string, unknown> },
  ) {
    super(String(body.error.message));
  }
}

const invalidRequest = (message: string, extra: { param?: string; code?: string; status?: number } = {}) =>
  new StripeHttpError(extra.status ?? 400, {
    error: {
      type: 'invalid_request_error',
      message,
      ...(extra.code !== undefined && { code: extra.code, doc_url: `https://stripe.com/docs/error-codes/${extra.code.replaceAll('_', '-')}` }),
      ...(extra.param !== undefined && { param: extra.param }),
    },
  });

export async function startFakeStripeServer(options: FakeStripeServerOptions = {}): Promise<FakeStripeServer> {
  const secretKey = options.secretKey ?? FAKE_STRIPE_SECRET_KEY;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const requests: RecordedStripeRequest[] = [];
  const sessions: FakeCheckoutSession[] = [];
  const lineItems = new Map<string, FakeLineItem[]>();
  const failures: StripeFailure[] = [];
  let omitted: (keyof FakeCheckoutSession)[] = [];
  const saved = new Map<string, SavedResponse>();
  let sequence = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    const method = req.method ?? 'GET';
    const recorded: RecordedStripeRequest = { method, path, headers: req.headers, rawBody, body: {} };
    requests.push(recorded);
    const requestId = `req_fake${String(++sequence).padStart(6, '0')}`;
    const idempotencyKey = headerValue(req.headers['idempotency-key']);

    const send = (status: number, body: unknown, extraHeaders: Record<string, string> = {}) => {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'request-id': requestId,
        ...(req.headers['stripe-version'] !== undefined && { 'stripe-version': String(req.headers['stripe-version']) }),
        ...(idempotencyKey !== undefined && { 'idempotency-key': idempotencyKey }),
        ...extraHeaders,
      };
      recorded.response = { status, headers, body };
      res.writeHead(status, headers).end(JSON.stringify(body));
    };

    try {
      recorded.body = parseStripeForm(method === 'GET' ? query : rawBody);
      checkAuthorization(req.headers.authorization, secretKey);

      const failure = failures.shift();
      if (failure && 'hang' in failure) return;
      const fingerprint = `${method} ${path} ${canonicalJson(recorded.body)}`;
      if (failure) {
        const error = scriptedError(failure);
        // Stripe saves a 500 under the key (the endpoint had started); the others happen before that.
        if (failure.status === 500 && idempotencyKey !== undefined && method === 'POST') {
          saved.set(idempotencyKey, { fingerprint, requestId, status: error.status, body: error.body });
        }
        throw error;
      }

      if (method === 'POST' && idempotencyKey !== undefined) {
        if (idempotencyKey.length > 255) {
          throw invalidRequest('Invalid Idempotency-Key: it must be at most 255 characters long.');
        }
        const previous = saved.get(idempotencyKey);
        if (previous && previous.fingerprint !== fingerprint) {
          throw new StripeHttpError(400, {
            error: {
              type: 'idempotency_error',
              message:
                `Keys for idempotent requests can only be used with the same parameters they were first used with. ` +
                `Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            },
          });
        }
        if (previous) {
          send(previous.status, previous.body, { 'idempotent-replayed': 'true', 'original-request': previous.requestId });
          return;
        }
      }

      const retrieved = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
      if (method === 'POST' && path === '/v1/checkout/sessions') {
        const { session, items } = createSession(recorded.body, now(), ++sequence);
        sessions.push(session);
        lineItems.set(session.id, items);
        const answer: Partial<FakeCheckoutSession> = { ...session };
        for (const field of omitted) delete answer[field];
        omitted = [];
        if (idempotencyKey !== undefined) saved.set(idempotencyKey, { fingerprint, requestId, status: 200, body: answer });
        send(200, answer);
      } else if (method === 'GET' && retrieved) {
        const id = decodeURIComponent(retrieved[1]!);
        const session = sessions.find((candidate) => candidate.id === id);
        if (!session) {
          throw invalidRequest(`No such checkout.session: '${id}'`, { status: 404, code: 'resource_missing', param: 'session' });
        }
        send(200, session);
      } else {
        throw invalidRequest(
          `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
          { status: 404 },
        );
      }
    } catch (error) {
      if (!(error instanceof StripeHttpError)) throw error;
      send(error.status, error.body);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A fake that fails must fail loudly in the test, not hang it.
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'api_error', message: `fake server bug: ${String(error)}` } }));
      } else {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    secretKey,
    requests,
    sessions,
    lineItems,
    failNext: (...next) => void failures.push(...next),
    omitFromNextSession: (...fields) => {
      omitted = fields;
    },
    reset: () => {
      failures.length = 0;
      omitted = [];
      requests.length = 0;
      sessions.length = 0;
      lineItems.clear();
      saved.clear();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function checkAuthorization(header: string | undefined, secretKey: string): void {
  const provided = /^Bearer (.+)$/.exec(header ?? '')?.[1];
  if (provided === undefined) {
    throw new StripeHttpError(401, {
      error: {
        type: 'invalid_request_error',
        message:
          "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
      },
    });
  }
  if (provided !== secretKey) {
    throw new StripeHttpError(401, {
      error: { type: 'invalid_request_error', message: `Invalid API Key provided: ${maskKey(provided)}` },
    });
  }
}

/** `sk_test_abc…1234` → `sk_test_****1234`, as Stripe echoes a rejected key. */
function maskKey(key: string): string {
  const prefix = /^(?:sk|rk|pk)_(?:test|live)_/.exec(key)?.[0] ?? '';
  return `${prefix}****${key.slice(-4)}`;
}

function scriptedError(failure: Exclude<StripeFailure, { hang: true }>): StripeHttpError {
  switch (failure.status) {
    case 400:
      return invalidRequest(failure.message ?? 'Invalid request.', {
        ...(failure.param !== undefined && { param: failure.param }),
        ...(failure.code !== undefined && { code: failure.code }),
      });
    case 401:
      return new StripeHttpError(401, {
        error: { type: 'invalid_request_error', message: failure.message ?? 'Invalid API Key provided: sk_test_****1234' },
      });
    case 429:
      return invalidRequest(
        failure.message ?? 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
        { status: 429, code: 'rate_limit' },
      );
    case 500:
      return new StripeHttpError(500, {
        error: {
          type: 'api_error',
          message:
            failure.message ?? 'An unknown error occurred. Please contact us at https://support.stripe.com/contact if the problem persists.',
        },
      });
  }
}

/** Validates the create parameters the way Stripe does for a one-off payment, then builds the session. */
function createSession(
  body: Record<string, unknown>,
  created: number,
  sequence: number,
): { session: FakeCheckoutSession; items: FakeLineItem[] } {
  const mode = body.mode;
  if (mode === undefined) throw invalidRequest('Missing required param: mode.', { param: 'mode', code: 'parameter_missing' });
  if (!MODES.includes(mode as (typeof MODES)[number])) {
    throw invalidRequest(`Invalid mode: must be one of ${MODES.join(', ')}`, { param: 'mode' });
  }
  const items = body.line_items;
  if (mode === 'payment' && (!Array.isArray(items) || items.length === 0)) {
    throw invalidRequest('Missing required param: line_items.', { param: 'line_items', code: 'parameter_missing' });
  }
  const lineItems = (Array.isArray(items) ? items : []).map((item, index) => lineItem(item, `line_items[${index}]`));
  const currencies = new Set(lineItems.map((item) => item.currency));
  if (currencies.size > 1) throw invalidRequest('All line items must use the same currency.', { param: 'line_items' });

  const amountTotal = lineItems.reduce((sum, item) => sum + item.amount_total, 0);
  const id = `cs_test_${sequence.toString(36)}${randomBytes(24).toString('hex')}`;
  const expiresAt = body.expires_at === undefined ? created + DEFAULT_EXPIRY_SECONDS : integerParam(body.expires_at, 'expires_at');
  const session: FakeCheckoutSession = {
    id,
    object: 'checkout.session',
    amount_subtotal: amountTotal,
    amount_total: amountTotal,
    cancel_url: optionalString(body.cancel_url),
    client_reference_id: optionalString(body.client_reference_id),
    created,
    currency: lineItems[0]?.currency ?? 'usd',
    customer: null,
    customer_email: optionalString(body.customer_email),
    expires_at: expiresAt,
    livemode: false,
    metadata: isRecord(body.metadata) ? (body.metadata as Record<string, string>) : {},
    mode: mode as FakeCheckoutSession['mode'],
    payment_intent: null,
    payment_method_types: ['card'],
    payment_status: 'unpaid',
    status: 'open',
    success_url: optionalString(body.success_url),
    ui_mode: 'hosted',
    url: `https://checkout.stripe.com/c/pay/${id}`,
  };
  return { session, items: lineItems };
}

function lineItem(item: unknown, at: string): FakeLineItem {
  if (!isRecord(item)) throw invalidRequest(`Invalid object`, { param: at });
  if (item.price !== undefined) {
    throw invalidRequest(`No such price: '${String(item.price)}'`, { param: `${at}[price]`, code: 'resource_missing' });
  }
  const priceData = item.price_data;
  if (!isRecord(priceData)) {
    throw invalidRequest(`Missing required param: ${at}[price_data].`, { param: `${at}[price_data]`, code: 'parameter_missing' });
  }
  const currency = priceData.currency;
  if (currency === undefined) {
    throw invalidRequest(`Missing required param: ${at}[price_data][currency].`, {
      param: `${at}[price_data][currency]`,
      code: 'parameter_missing',
    });
  }
  if (typeof currency !== 'string' || !/^[a-z]{3}$/.test(currency)) {
    throw invalidRequest(`Invalid currency: ${String(currency)}. Use a lowercase three-letter ISO code.`, {
      param: `${at}[price_data][currency]`,
    });
  }
  const unitAmount = integerParam(priceData.unit_amount, `${at}[price_data][unit_amount]`);
  if (THREE_DECIMAL_CURRENCIES.has(currency) && unitAmount % 10 !== 0) {
    throw invalidRequest(`Amounts in ${currency} must be a multiple of 10: the last of the three decimal places must be 0.`, {
      param: `${at}[price_data][unit_amount]`,
    });
  }
  const productData = priceData.product_data;
  const name = isRecord(productData) ? productData.name : undefined;
  if (typeof name !== 'string' || name === '') {
    throw invalidRequest(`Missing required param: ${at}[price_data][product_data][name].`, {
      param: `${at}[price_data][product_data][name]`,
      code: 'parameter_missing',
    });
  }
  const quantity = integerParam(item.quantity, `${at}[quantity]`);
  if (quantity < 1) throw invalidRequest('Quantity must be at least 1.', { param: `${at}[quantity]` });
  return { currency, unit_amount: unitAmount, quantity, amount_total: unitAmount * quantity, description: name };
}

function integerParam(value: unknown, param: string): number {
  if (value === undefined) throw invalidRequest(`Missing required param: ${param}.`, { param, code: 'parameter_missing' });
  if (typeof value !== 'string' || !/^-?\d+$/.test(value)) {
    throw invalidRequest(`Invalid integer: ${String(value)}`, { param, code: 'parameter_invalid_integer' });
  }
  return Number(value);
}

/**
 * Decodes `a[b][0][c]=x&a[b][1][c]=y` into `{ a: { b: [{ c: 'x' }, { c: 'y' }] } }`, as
 * Stripe reads the SDK's encoding. Objects whose keys are 0..n-1 become arrays.
 */
export function parseStripeForm(text: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const path = parseKeyPath(key);
    let node = root;
    path.forEach((segment, index) => {
      const name = segment === '' ? String(Object.keys(node).length) : segment;
      if (index === path.length - 1) {
        node[name] = value;
        return;
      }
      const child = node[name];
      if (child !== undefined && !isRecord(child)) throw invalidRequest(`Invalid parameter: ${key}`, { param: key });
      node[name] = child ?? {};
      node = node[name] as Record<string, unknown>;
    });
  }
  return toArrays(root) as Record<string, unknown>;
}

function parseKeyPath(key: string): string[] {
  const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
  if (!match) throw invalidRequest(`Invalid parameter name: ${key}`, { param: key });
  const path = [match[1]!, ...[...match[2]!.matchAll(/\[([^[\]]*)\]/g)].map((part) => part[1]!)];
  if (path.some((segment) => segment === '__proto__' || segment === 'constructor' || segment === 'prototype')) {
    throw invalidRequest(`Received unknown parameter: ${key}`, { param: key, code: 'parameter_unknown' });
  }
  return path;
}

function toArrays(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const keys = Object.keys(value);
  const converted = Object.fromEntries(keys.map((key) => [key, toArrays(value[key])]));
  const isList = keys.length > 0 && keys.every((key, index) => key === String(index));
  return isList ? keys.map((key) => converted[key]) : converted;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isRecord(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
