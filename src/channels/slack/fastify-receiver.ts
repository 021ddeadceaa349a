import type { App, Receiver } from '@slack/bolt';
import { ReceiverMultipleAckError } from '@slack/bolt';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SwitchboardError } from '../../errors/index.js';
import { keepRawBodies, parseForm } from '../raw-body.js';
import { checkSlackSignature } from './slack-signature.js';

export interface SlackReceiverOptions {
  signingSecret: string;
  path: string;
  /** Milliseconds since the epoch; injectable so the 5-minute window can be tested. */
  now?: () => number;
}

/**
 * A Bolt `Receiver` fed by a route on our own Fastify server (Bolt's Express and
 * HTTP receivers want their own server). The route verifies Slack's signature over
 * the raw bytes before anything is parsed, answers `url_verification` and
 * `ssl_check` itself, and hands every other payload to Bolt. The HTTP response is
 * sent only after the listeners finished, i.e. after the message is durably
 * accepted: if that fails Slack gets a 500 and retries, and the retry is processed.
 */
export class FastifySlackReceiver implements Receiver {
  #app: App | undefined;

  constructor(private readonly options: SlackReceiverOptions) {}

  init(app: App): void {
    this.#app = app;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  /** Registers the route in an encapsulated plugin, so only it keeps raw bodies. */
  async mount(http: FastifyInstance): Promise<void> {
    await http.register(async (instance) => {
      keepRawBodies(instance);
      instance.post(this.options.path, async (request, reply) => {
        const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const header = (name: string) => {
          const value = request.headers[name];
          return Array.isArray(value) ? value[0] : value;
        };
        const problem = checkSlackSignature({
          signingSecret: this.options.signingSecret,
          timestamp: header('x-slack-request-timestamp'),
          signature: header('x-slack-signature'),
          rawBody,
          nowMs: (this.options.now ?? Date.now)(),
        });
        if (problem === 'missing') throw new SwitchboardError('invalid_payload', 'X-Slack-Signature and X-Slack-Request-Timestamp are required');
        if (problem === 'stale') throw new SwitchboardError('unauthorized', 'request timestamp is outside the 5-minute window');
        if (problem === 'invalid') throw new SwitchboardError('unauthorized', 'signature does not match');

        const body = parseSlackBody(rawBody, header('content-type'));
        if (body.ssl_check) return reply.status(200).send('');
        if (body.type === 'url_verification' && typeof body.challenge === 'string') {
          return reply.status(200).send({ challenge: body.challenge });
        }
        // Bolt reads `event.type` of every event_callback without checking it is there (a signed
        // `"event": null` threw inside Bolt and answered 500): the envelope is checked first.
        if (body.type === 'event_callback' && !eventEnvelopeSchema.safeParse(body).success) {
          throw new SwitchboardError('invalid_payload', 'event_callback needs an `event` object with a string `type`');
        }
        const retryNum = Number(header('x-slack-retry-num'));
        const response = await this.dispatch(body, Number.isInteger(retryNum) ? retryNum : undefined, header('x-slack-retry-reason'));
        if (response === undefined || response === '') return reply.status(200).send('');
        return reply.status(200).send(response);
      });
    });
  }

  /** Runs Bolt's listeners for one verified payload; resolves to what they acked with. */
  private async dispatch(body: Record<string, unknown>, retryNum: number | undefined, retryReason: string | undefined): Promise<unknown> {
    const app = this.#app;
    if (!app) throw new SwitchboardError('unavailable', 'Slack app is not initialised');
    let acked = false;
    let ackBody: unknown;
    await app.processEvent({
      body,
      ...(retryNum !== undefined && { retryNum }),
      ...(retryReason !== undefined && { retryReason }),
      ack: async (response?: unknown) => {
        if (acked) throw new ReceiverMultipleAckError();
        acked = true;
        ackBody = response;
      },
    });
    return ackBody;
  }
}

/** The Events API envelope, as far as Bolt relies on it before any listener runs. */
const eventEnvelopeSchema = z.object({
  type: z.literal('event_callback'),
  team_id: z.string().optional(),
  event: z.looseObject({ type: z.string().min(1) }),
});

/** Events arrive as JSON; slash commands as a form; interactivity as a form with a JSON `payload` field. */
function parseSlackBody(rawBody: Buffer, contentType: string | undefined): Record<string, unknown> {
  try {
    if (contentType?.startsWith('application/x-www-form-urlencoded')) {
      const form = parseForm(rawBody);
      return typeof form.payload === 'string' ? (JSON.parse(form.payload) as Record<string, unknown>) : form;
    }
    const parsed: unknown = JSON.parse(rawBody.toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through to the precise error below
  }
  throw new SwitchboardError('invalid_payload', 'body is not a Slack payload (JSON object or form)');
}
