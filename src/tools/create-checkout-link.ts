import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import { z } from 'zod';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import { ToolExecutionError } from '../errors/index.js';
import { floorToMinorUnits, isStripeCurrency, toMinorUnits } from '../config/currencies.js';
import { defineTool, type Tool, type ToolContext } from './tool.js';

const DEFAULT_TIMEOUT_MS = 10_000;
/** Stripe rejects longer Idempotency-Key values. */
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * The Stripe client the tools use. Stripe's own retries are off: the project keeps
 * one retry owner (STYLE.md point 7), and a retried tool call reuses its idempotency
 * key, so a retry never creates a second session whoever owns it.
 */
export function createStripeClient(config: { secretKey: string; apiUrl?: string; timeoutMs?: number }): Stripe {
  return new Stripe(config.secretKey, {
    maxNetworkRetries: 0,
    timeout: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    appInfo: { name: 'switchboard' },
    ...(config.apiUrl !== undefined && apiAddress(config.apiUrl)),
  });
}

/** `STRIPE_API_URL` as the SDK's host/port/protocol; the SDK adds `/v1/...` itself, so a path cannot be honoured. */
function apiAddress(apiUrl: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const url = new URL(apiUrl);
  const protocol = url.protocol.slice(0, -1);
  if (protocol !== 'http' && protocol !== 'https') {
    throw new Error(`STRIPE_API_URL must be an http(s) URL, got protocol "${url.protocol}"`);
  }
  if (url.pathname !== '/' || url.search !== '') {
    throw new Error('STRIPE_API_URL must be an origin such as https://api.stripe.com, without a path or query');
  }
  const port = url.port === '' ? (protocol === 'https' ? 443 : 80) : Number(url.port);
  // URL keeps the brackets of an IPv6 host; node:http wants the bare address.
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, protocol };
}

export interface CheckoutLinkOptions {
  stripe: Stripe;
  successUrl: string;
  cancelUrl: string;
  /** Cap on the total (amount × quantity) in the currency's major unit. */
  maxAmount: number;
  /**
   * When the tool is sensitive: per currency (ISO 4217, upper-case), totals above this
   * many of its major units need the person's confirmation. A currency not listed always
   * needs it: amounts are never compared across currencies. Default {}: every link.
   */
  confirmAbove?: Readonly<Record<string, number>>;
}

export interface CheckoutLink {
  url: string;
  sessionId: string;
  /** Unit price in the currency's major unit, as requested. */
  amount: number;
  /** ISO 4217, upper-case. */
  currency: string;
  quantity: number;
  /** When the link stops working, ISO 8601; null when Stripe's answer did not say. */
  expiresAt: string | null;
}

/**
 * The fields of Stripe's answer the tool relies on. The SDK types promise more than
 * a proxy, an older API version or a mock may send, so the answer is checked like
 * any other input: only `id` and `url` are needed to give the person a link.
 */
const sessionAnswer = z.object({
  id: z.string().min(1),
  url: z.string().min(1).nullish(),
  expires_at: z.unknown().optional(),
});

const expiryFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

export function checkoutLinkInput(maxAmount: number) {
  return z
    .object(
      {
        amount: z
          .number({ error: 'amount must be a number in the currency’s major unit, e.g. 49.99' })
          .positive({ error: 'amount must be greater than 0' })
          .max(maxAmount, { error: `amount must be at most ${maxAmount}` })
          .describe('Unit price in the currency’s major unit: 49.99 means 49.99 USD, 4900 means 4900 JPY.'),
        currency: z
          .string({ error: 'currency must be a 3-letter ISO 4217 code such as USD' })
          .trim()
          .regex(/^[A-Za-z]{3}$/, { error: 'currency must be a 3-letter ISO 4217 code such as USD' })
          .toUpperCase()
          .refine(isStripeCurrency, {
            error: (issue) => `currency "${String(issue.input)}" is not an ISO 4217 code that Stripe can charge in`,
          })
          .describe('ISO 4217 currency code, e.g. USD, EUR, JPY.'),
        description: z
          .string({ error: 'description must be text' })
          .trim()
          .min(1, { error: 'description must not be empty' })
          .max(500, { error: 'description must be at most 500 characters' })
          .describe('What is being paid for; shown to the customer on the payment page.'),
        quantity: z
          .number({ error: 'quantity must be a whole number' })
          .int({ error: 'quantity must be a whole number' })
          .min(1, { error: 'quantity must be at least 1' })
          .max(100, { error: 'quantity must be at most 100' })
          .default(1)
          .describe('How many units; defaults to 1.'),
      },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys'
            ? `unknown field ${issue.keys.map((key) => `"${key}"`).join(', ')}; the fields are amount, currency, description and quantity`
            : undefined,
      },
    )
    .strict()
    .superRefine((input, ctx) => {
      // Field checks passed, so amount and currency are valid here.
      const minor = toMinorUnits(input.amount, input.currency);
      if (!minor.ok) {
        ctx.addIssue({ code: 'custom', path: ['amount'], message: minor.reason });
        return;
      }
      if (BigInt(minor.value) * BigInt(input.quantity) > floorToMinorUnits(maxAmount, input.currency)) {
        ctx.addIssue({
          code: 'custom',
          path: [],
          message: `the total (amount × quantity) must be at most ${maxAmount} ${input.currency}`,
        });
      }
    });
}

export type CheckoutLinkInput = z.output<ReturnType<typeof checkoutLinkInput>>;

export function createCheckoutLinkTool(options: CheckoutLinkOptions): Tool<CheckoutLinkInput, CheckoutLink> {
  return defineTool({
    name: 'create_checkout_link',
    description:
      'Create a Stripe payment link for a one-off purchase and return its URL to share with the person. ' +
      'Give the unit price in the currency’s major unit (49.99 for $49.99). Only ever share a link this tool returned.',
    input: checkoutLinkInput(options.maxAmount),
    confirmation: {
      required: (input) => exceedsConfirmThreshold(options.confirmAbove ?? {}, input),
      summary: (input) =>
        `Create a payment link for ${input.quantity > 1 ? `${input.quantity} × ` : ''}“${input.description}” at ${input.amount} ${input.currency}` +
        `${input.quantity > 1 ? ` each (${+(input.amount * input.quantity).toFixed(3)} ${input.currency} in total)` : ''}.`,
    },
    describeResult: (link) =>
      `Here is the payment link (${link.amount} ${link.currency}${link.quantity > 1 ? ` × ${link.quantity}` : ''}): ${link.url}${describeExpiry(link.expiresAt)}`,
    execute: (input, context) => createCheckoutLink(options, input, context),
  });
}

async function createCheckoutLink(
  options: CheckoutLinkOptions,
  input: CheckoutLinkInput,
  context: ToolContext,
): Promise<CheckoutLink> {
  const minor = toMinorUnits(input.amount, input.currency);
  // The schema already refused these; this guards a caller that skipped it.
  if (!minor.ok) throw new ToolExecutionError(`invalid amount: ${minor.reason}`);
  if (context.signal.aborted) throw cancelled();

  const request = options.stripe.checkout.sessions.create(
    {
      mode: 'payment',
      line_items: [
        {
          price_data: {
            currency: input.currency.toLowerCase(),
            unit_amount: minor.value,
            product_data: { name: input.description },
          },
          quantity: input.quantity,
        },
      ],
      success_url: options.successUrl,
      cancel_url: options.cancelUrl,
      // Stripe's webhook events about this session find their workspace, conversation and call by
      // these (payments/), never by guessing from amounts or times. No workspace_id: the default
      // workspace (as for links made before workspaces).
      client_reference_id: context.conversationId,
      metadata: {
        conversation_id: context.conversationId,
        tool_call_id: context.toolCallId,
        channel: context.channel,
        ...(context.workspaceId !== undefined && context.workspaceId !== DEFAULT_WORKSPACE_ID && { workspace_id: context.workspaceId }),
      },
    },
    { idempotencyKey: stripeIdempotencyKey(context.idempotencyKey) },
  );

  let answer: unknown;
  try {
    answer = await untilAborted(request, context.signal);
  } catch (error) {
    throw toToolError(error);
  }
  const session = sessionAnswer.safeParse(answer);
  if (!session.success) throw new ToolExecutionError('the payment provider answered without a session id, so no link can be shared');
  if (!session.data.url) throw new ToolExecutionError('the payment provider created the session but returned no payment link');
  return {
    url: session.data.url,
    sessionId: session.data.id,
    amount: input.amount,
    currency: input.currency,
    quantity: input.quantity,
    expiresAt: expiryOf(session.data.expires_at),
  };
}

/** Stripe's `expires_at` (Unix seconds) as ISO 8601, or null when it is missing or not a usable time: the link works either way. */
function expiryOf(expiresAt: unknown): string | null {
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt) || expiresAt <= 0) return null;
  const date = new Date(expiresAt * 1000);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** The expiry for the person, when known. The link may also come back from `tool_calls` JSON, so nothing is assumed about the field. */
function describeExpiry(expiresAt: string | null | undefined): string {
  const time = typeof expiresAt === 'string' ? Date.parse(expiresAt) : Number.NaN;
  return Number.isNaN(time) ? '' : ` (valid until ${expiryFormat.format(time)} UTC)`;
}

/**
 * Whether the total is above its currency's threshold, compared exactly in minor units
 * (0.1 × 3 is not above 0.3). No threshold for the currency, or an amount the schema
 * should have refused: confirmation, never a silent yes.
 */
function exceedsConfirmThreshold(thresholds: Readonly<Record<string, number>>, input: CheckoutLinkInput): boolean {
  if (!Object.hasOwn(thresholds, input.currency)) return true;
  const minor = toMinorUnits(input.amount, input.currency);
  if (!minor.ok) return true;
  // Totals are whole minor units, so "above 499.995" is "above floor(49999.5) cents".
  return BigInt(minor.value) * BigInt(input.quantity) > floorToMinorUnits(thresholds[input.currency]!, input.currency);
}

/** The key as given, unless it is longer than Stripe accepts; then a digest that is just as stable. */
function stripeIdempotencyKey(key: string): string {
  if (key.length <= MAX_IDEMPOTENCY_KEY_LENGTH) return key;
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * The SDK takes no AbortSignal, so the call is raced against it: the turn stops
 * waiting at once, and the request finishes (or times out) on its own. A retry
 * reuses the idempotency key, so it gets this session rather than a second one.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function cancelled(): ToolExecutionError {
  return new ToolExecutionError('creating the checkout link was cancelled before the payment provider answered');
}

/**
 * Stripe's errors become messages the model can act on. They are built without
 * `cause`: the SDK error carries raw response data a logger would print.
 */
function toToolError(error: unknown): unknown {
  if (error instanceof ToolExecutionError) return error;
  const { errors } = Stripe;
  if (!(error instanceof errors.StripeError)) return error;
  const request = error.requestId ? ` (Stripe request ${error.requestId})` : '';

  if (error instanceof errors.StripeAuthenticationError || error instanceof errors.StripePermissionError) {
    return new ToolExecutionError(
      `the payment provider rejected our credentials (a configuration problem on our side), so checkout links cannot be created right now${request}`,
    );
  }
  if (error instanceof errors.StripeRateLimitError) {
    return new ToolExecutionError(`the payment provider is rate limiting us; try again in a minute${request}`);
  }
  if (error instanceof errors.StripeIdempotencyError) {
    return new ToolExecutionError(`the payment provider refused this request as a conflicting repeat of an earlier one${request}`);
  }
  if (error instanceof errors.StripeInvalidRequestError) {
    const param = error.param ? ` (parameter ${error.param})` : '';
    return new ToolExecutionError(`the payment provider rejected the request: ${redactKeys(error.message)}${param}${request}`);
  }
  if (error instanceof errors.StripeConnectionError) {
    return new ToolExecutionError('could not reach the payment provider (network error or timeout); try again shortly');
  }
  if (error instanceof errors.StripeAPIError) {
    return new ToolExecutionError(`the payment provider had an internal error; try again later${request}`);
  }
  return new ToolExecutionError(`the payment provider returned an unexpected error${request}`);
}

/** Stripe masks keys in its messages; this makes sure no key-shaped text gets through regardless. */
function redactKeys(message: string): string {
  return message.replace(/\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]+/g, '[redacted key]');
}
