import { randomInt } from 'node:crypto';
import { metaWebhookPayload, newWamid, signMeta, textMessage } from '../test/helpers/meta-webhook.js';
import type { PacedRequest } from './paced-requests.js';

/** Every 20th delivery is a redelivery: 5 %. */
const REDELIVERY_EVERY = 20;

export type WhatsAppDeliveryKind = 'new' | 'redelivery';

export interface WhatsAppDelivery {
  kind: WhatsAppDeliveryKind;
  wamid: string;
  /** The sender's wa_id. */
  from: string;
  request: PacedRequest;
}

/**
 * What Meta would send to `POST /whatsapp/webhook`: one text message per delivery, from
 * `senders` people in turn (message i comes from sender i mod senders, so each writes again
 * after `senders` messages), each text unique (no reply-cache hit); and every 20th, a
 * redelivery of a message already acknowledged: the same body, signed again.
 */
export class WhatsAppDeliveries {
  readonly #payloads = new Map<string, { from: string; payload: string }>();
  readonly #acknowledged: string[] = [];
  /** wa_ids are digits: a random prefix per run, then the sender's number. */
  readonly #prefix = `1${randomInt(100_000, 1_000_000)}`;
  #built = 0;
  #created = 0;

  constructor(
    private readonly label: string,
    private readonly appSecret: string,
    private readonly senders: number,
  ) {}

  next(): WhatsAppDelivery {
    const position = ++this.#built;
    if (position % REDELIVERY_EVERY === 0 && this.#acknowledged.length > 0) {
      const wamid = this.#acknowledged[randomInt(this.#acknowledged.length)]!;
      const { from, payload } = this.#payloads.get(wamid)!;
      return { kind: 'redelivery', wamid, from, request: this.#signed(payload) };
    }
    const index = this.#created++;
    const from = `${this.#prefix}${String(index % this.senders).padStart(6, '0')}`;
    const wamid = newWamid();
    const message = textMessage(`Bench ${this.label} question ${index}: when will my order arrive?`, { from, id: wamid });
    const payload = JSON.stringify(metaWebhookPayload({ messages: [message] }));
    this.#payloads.set(wamid, { from, payload });
    return { kind: 'new', wamid, from, request: this.#signed(payload) };
  }

  /** A message answered 200: from now on it may be redelivered. */
  acknowledge(wamid: string): void {
    this.#acknowledged.push(wamid);
  }

  /** Every wamid sent at least once, with its sender. */
  sent(): ReadonlyMap<string, string> {
    return new Map([...this.#payloads].map(([wamid, { from }]) => [wamid, from]));
  }

  #signed(payload: string): PacedRequest {
    return {
      method: 'POST',
      path: '/whatsapp/webhook',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMeta(payload, this.appSecret) },
      body: payload,
    };
  }
}
