import { DeliveryError, isRetryableStatus } from '../delivery-retry.js';

export interface GraphApiOptions {
  /** WHATSAPP_API_URL: https://graph.facebook.com, or a local endpoint in tests. */
  baseUrl: string;
  /** WHATSAPP_API_VERSION, e.g. v21.0. */
  version: string;
  phoneNumberId: string;
  accessToken: string;
  timeoutMs?: number;
}

/** Meta's codes worth another try besides 429/5xx: throughput and rate limits, temporary errors. */
const RETRYABLE_CODES = new Set([4, 80007, 130429, 131000, 131016, 131048, 131056, 133004]);

/** The error object of a Graph API answer. */
interface GraphError {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  error_data?: { details?: string };
}

/**
 * The WhatsApp Cloud API's messages endpoint (`POST /{version}/{phone-number-id}/messages`,
 * bearer token) over Node's fetch (undici: a pooled keep-alive client). Failures become
 * DeliveryErrors the channels' one retry policy understands (429, 5xx and Meta's rate-limit
 * codes are retried; other 4xx never), with Meta's code and title and never the token.
 */
export class GraphApiClient {
  /** Messages and read receipts share the one endpoint. */
  readonly #url: string;

  constructor(private readonly options: GraphApiOptions) {
    this.#url = `${options.baseUrl.replace(/\/$/, '')}/${options.version}/${options.phoneNumberId}/messages`;
  }

  /** Resolves to the sent message's id (`wamid…`). */
  async sendText(to: string, body: string): Promise<string> {
    return this.send({ messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body, preview_url: false } });
  }

  /** Interactive reply buttons (at most 3, titles of at most 20 characters). */
  async sendButtons(to: string, body: string, buttons: { id: string; title: string }[]): Promise<string> {
    return this.send({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to,
      type: 'interactive',
      interactive: { type: 'button', body: { text: body }, action: { buttons: buttons.map((reply) => ({ type: 'reply', reply })) } },
    });
  }

  /** An approved template whose body has one text parameter: what may be sent outside the 24-hour window. */
  async sendTemplate(to: string, template: { name: string; language: string }, parameter: string): Promise<string> {
    return this.send({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to,
      type: 'template',
      template: { name: template.name, language: { code: template.language }, components: [{ type: 'body', parameters: [{ type: 'text', text: parameter }] }] },
    });
  }

  /** Marks an inbound message read (the person sees the blue ticks). */
  async markRead(messageId: string): Promise<void> {
    await this.post({ messaging_product: 'whatsapp', status: 'read', message_id: messageId });
  }

  private async send(payload: Record<string, unknown>): Promise<string> {
    const answer = (await this.post(payload)) as { messages?: { id?: unknown }[] } | undefined;
    const id = answer?.messages?.[0]?.id;
    if (typeof id !== 'string') throw new DeliveryError({ message: 'the WhatsApp Cloud API answered without a message id', retryable: false });
    return id;
  }

  private async post(payload: Record<string, unknown>): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new DeliveryError({ message: 'the WhatsApp Cloud API is not reachable', retryable: true, cause: scrub(error) });
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (response.ok) return body;
    const error = (body as { error?: GraphError } | undefined)?.error;
    const code = typeof error?.code === 'number' ? error.code : undefined;
    const title = describe(error);
    throw new DeliveryError({
      message: `the WhatsApp Cloud API answered ${response.status}${code !== undefined ? ` (error ${code}${title ? `: ${title}` : ''})` : ''}`,
      status: response.status,
      retryable: isRetryableStatus(response.status) || (code !== undefined && RETRYABLE_CODES.has(code)),
    });
  }
}

/** Meta's message for an error, without anything token-shaped (access tokens start with EAA). */
function describe(error: GraphError | undefined): string {
  const text = (error?.error_data?.details ?? error?.message ?? '').slice(0, 300);
  return text.replace(/\bEAA[A-Za-z0-9]+/g, '[redacted token]');
}

/** Network errors may carry the request (and its authorization header): keep only the message. */
function scrub(error: unknown): Error {
  return new Error(error instanceof Error ? error.message : String(error));
}
