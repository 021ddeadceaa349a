import type { FastifyInstance } from 'fastify';
import Stripe from 'stripe';
import { keepRawBodies } from '../channels/raw-body.js';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import { SwitchboardError } from '../errors/index.js';
import type { NewPaymentEvent, Store } from '../store/index.js';
import type { WorkspaceConfigs } from '../workspaces/workspace-configs.js';
import type { WorkspaceDirectory } from '../workspaces/workspace-directory.js';
import type { PaymentEventProcessor } from './payment-processor.js';
import { namedWorkspace, StripeEventError, toPaymentEvent } from './stripe-event.js';
import { rotatingSecrets } from '../config/secret.js';

/** Stripe's events are a few kilobytes; anything near this is not one. */
export const STRIPE_WEBHOOK_BODY_LIMIT = 512 * 1024;
/** Stripe's default: a signature older than five minutes is refused (replays). */
const TOLERANCE_S = 300;

export interface StripeWebhookDeps {
  /** The deployment's STRIPE_WEBHOOK_SECRET: one, or the old and the new during a rotation. */
  secrets: readonly string[];
  store: Store;
  processor: PaymentEventProcessor;
  /**
   * Which workspaces exist, and each one's STRIPE_WEBHOOK_SECRET (its own, or the deployment's as
   * its credential mode says). Without them, an event naming a workspace is refused like one
   * naming a workspace we do not have; the others are the default workspace's.
   */
  workspaces?: { directory: WorkspaceDirectory; configs: WorkspaceConfigs } | undefined;
}

/** What `/stripe/webhook` records as the source of a refused event (inbound_refusals.channel). */
const STRIPE_SOURCE = 'stripe';

/**
 * `POST /stripe/webhook`: the `Stripe-Signature` header is verified over the raw body with the
 * SDK (any `v1` signature of the header may match, as during Stripe's own secret rotation; and any
 * of our secrets). A verified event is stored once by its id and answered 200 at once; it is
 * handled after (PaymentEventProcessor). A redelivery answers 200 and does nothing again.
 * Missing, forged or stale signatures: 400 with a precise code, nothing stored.
 *
 * Workspaces: an event belongs to the workspace its metadata names (`workspace_id`, written by
 * `create_checkout_link`; none: the default workspace). That name is read from the body before
 * the signature is checked, only to choose the secrets: the named workspace's, then the
 * deployment's. Nothing is believed until one of them matches; a workspace's own secret can only
 * vouch for events naming that workspace (any other name is checked with other secrets). A
 * verified event naming a workspace we do not have is stored `ignored` (`unknown_workspace`, in
 * the default workspace, without its conversation and call) and recorded as a refusal; it is
 * never applied. The processor checks in turn that the conversation is the event's workspace's.
 */
export function registerStripeWebhook(http: FastifyInstance, deps: StripeWebhookDeps): void {
  void http.register(async (scope) => {
    // The signature covers the exact bytes Stripe sent: keep them as they are.
    keepRawBodies(scope);
    scope.post('/stripe/webhook', { bodyLimit: STRIPE_WEBHOOK_BODY_LIMIT }, async (request) => {
      const raw = request.body;
      if (!Buffer.isBuffer(raw)) throw new SwitchboardError('invalid_payload', 'expected a JSON body (content-type: application/json)');
      const header = request.headers['stripe-signature'];
      if (typeof header !== 'string' || header.trim() === '') throw new SwitchboardError('signature_missing', 'the Stripe-Signature header is missing');
      const event = verify(raw, header, [...(await secretsOfClaimed(raw, deps)), ...deps.secrets]);
      let row: NewPaymentEvent;
      try {
        row = toPaymentEvent(event);
      } catch (error) {
        if (error instanceof StripeEventError) throw new SwitchboardError('invalid_payload', error.message);
        throw error;
      }
      const named = namedWorkspace(event);
      const known = named === undefined || named === DEFAULT_WORKSPACE_ID || deps.workspaces?.directory.get(named) !== undefined;
      row = known
        ? { ...row, workspaceId: named ?? DEFAULT_WORKSPACE_ID }
        : { ...row, workspaceId: DEFAULT_WORKSPACE_ID, conversationId: null, toolCallId: null, status: 'ignored', outcome: 'unknown_workspace' };
      const stored = await deps.store.payments.insert(row, { claim: true });
      if (!stored) return { received: true, duplicate: true };
      if (!known) await deps.workspaces?.directory.refuse(STRIPE_SOURCE, named, 'unknown_identity');
      if (stored.status === 'received') deps.processor.schedule(stored);
      return { received: true };
    });
  });
}

/**
 * The webhook secrets of the workspace the (unverified) body names, when we have that workspace;
 * none otherwise (the deployment's are tried in any case). Only chooses what to verify with.
 */
async function secretsOfClaimed(raw: Buffer, deps: StripeWebhookDeps): Promise<string[]> {
  let claimed: string | undefined;
  try {
    claimed = namedWorkspace(JSON.parse(raw.toString('utf8')));
  } catch {
    return [];
  }
  if (claimed === undefined || claimed === DEFAULT_WORKSPACE_ID || !deps.workspaces?.directory.get(claimed)) return [];
  const { config } = await deps.workspaces.configs.configFor(claimed);
  const own = rotatingSecrets(config.STRIPE_WEBHOOK_SECRET);
  return own.filter((secret) => !deps.secrets.includes(secret));
}

/** The event, when one of our secrets signed the body within the tolerance; a precise error otherwise. */
function verify(raw: Buffer, header: string, secrets: readonly string[]): unknown {
  let failure: SwitchboardError | undefined;
  for (const secret of secrets) {
    try {
      return Stripe.webhooks.constructEvent(raw, header, secret, TOLERANCE_S);
    } catch (error) {
      failure = toSignatureError(error);
      // A stale timestamp or a malformed header fails the same way for every secret.
      if (failure.code !== 'signature_invalid') throw failure;
    }
  }
  throw failure ?? new SwitchboardError('signature_invalid', 'no webhook secret is configured');
}

function toSignatureError(error: unknown): SwitchboardError {
  if (error instanceof SyntaxError) return new SwitchboardError('invalid_payload', 'the body is not valid JSON');
  const message = error instanceof Error ? error.message : '';
  if (/tolerance/i.test(message)) return new SwitchboardError('signature_expired', `the signature's timestamp is more than ${TOLERANCE_S} s old`);
  if (/Unable to extract timestamp and signatures/i.test(message)) {
    return new SwitchboardError('signature_invalid', 'the Stripe-Signature header is malformed (expected t=…,v1=…)');
  }
  return new SwitchboardError('signature_invalid', 'no signature in the Stripe-Signature header matches the payload');
}
