/**
 * Inbound WhatsApp Cloud API webhooks as Meta sends them (the `messages` field of the
 * `whatsapp_business_account` object), built from the webhook reference's syntax and examples:
 *
 *   { object: 'whatsapp_business_account', entry: [{ id: <WABA id>, changes: [{ value: {
 *     messaging_product: 'whatsapp', metadata: { display_phone_number, phone_number_id },
 *     contacts?, messages?, statuses? }, field: 'messages' }] }] }
 *
 * Build messages (`textMessage`, `buttonReplyMessage`, …) and statuses (`messageStatus`,
 * `failedStatus`), wrap them with `metaWebhookPayload` (several messages, or several changes, in
 * one delivery), then `postMetaWebhook` signs the raw body as Meta does (`X-Hub-Signature-256:
 * sha256=<HMAC-SHA256(app secret, body)>`). `verifyHandshake` is Meta's GET subscription check.
 */
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { FAKE_DISPLAY_NUMBER, FAKE_PHONE_NUMBER_ID, WHATSAPP_ERRORS, type WhatsAppErrorCode } from '../fakes/fake-whatsapp-cloud-api.js';
import { postWebhook, type WebhookAnswer } from './post-webhook.js';

/** The WhatsApp Business Account id and the customer of Meta's examples. */
export const FAKE_WABA_ID = '102290129340398';
export const FAKE_CUSTOMER_WA_ID = '16505551234';
export const FAKE_CUSTOMER_NAME = 'Sheena Nelson';

/** `from`/`id`: the business message a reply refers to; `forwarded`: a forwarded message. */
export type MetaMessageContext = { from: string; id: string } | { forwarded?: true; frequently_forwarded?: true };

interface MetaMessageBase {
  from: string;
  id: string;
  /** Unix seconds, as a string. */
  timestamp: string;
  context?: MetaMessageContext;
}
export interface MetaMedia {
  mime_type: string;
  sha256: string;
  id: string;
  url?: string;
}
export interface MetaSharedContact {
  name: { formatted_name: string; first_name?: string; last_name?: string; middle_name?: string; suffix?: string; prefix?: string };
  phones?: { phone: string; wa_id?: string; type?: string }[];
  emails?: { email: string; type?: string }[];
  addresses?: { street?: string; city?: string; state?: string; zip?: string; country?: string; country_code?: string; type?: string }[];
  org?: { company?: string; department?: string; title?: string };
  urls?: { url: string; type?: string }[];
  birthday?: string;
}
export type MetaInboundMessage = MetaMessageBase &
  (
    | { type: 'text'; text: { body: string } }
    | { type: 'interactive'; interactive: { type: 'button_reply'; button_reply: { id: string; title: string } } }
    | { type: 'interactive'; interactive: { type: 'list_reply'; list_reply: { id: string; title: string; description?: string } } }
    | { type: 'button'; button: { payload: string; text: string } }
    | { type: 'image'; image: MetaMedia & { caption?: string } }
    | { type: 'audio'; audio: MetaMedia & { voice: boolean } }
    | { type: 'document'; document: MetaMedia & { filename: string; caption?: string } }
    | { type: 'video'; video: MetaMedia & { caption?: string } }
    | { type: 'sticker'; sticker: MetaMedia & { animated: boolean } }
    | { type: 'location'; location: { latitude: number; longitude: number; name?: string; address?: string; url?: string } }
    | { type: 'contacts'; contacts: MetaSharedContact[] }
  );

export interface MetaStatusError {
  code: number;
  title: string;
  message: string;
  error_data: { details: string };
  href: string;
}
export interface MetaStatus {
  id: string;
  status: 'sent' | 'delivered' | 'read' | 'played' | 'failed';
  timestamp: string;
  recipient_id: string;
  conversation?: { id: string; expiration_timestamp?: string; origin: { type: string } };
  pricing?: { billable: boolean; pricing_model: 'PMP' | 'CBP'; type: string; category: string };
  errors?: MetaStatusError[];
}

export interface MetaChangeValue {
  messaging_product: 'whatsapp';
  metadata: { display_phone_number: string; phone_number_id: string };
  contacts?: { profile: { name: string }; wa_id: string }[];
  messages?: MetaInboundMessage[];
  statuses?: MetaStatus[];
}
export interface MetaWebhookPayload {
  object: 'whatsapp_business_account';
  entry: { id: string; changes: { value: MetaChangeValue; field: 'messages' }[] }[];
}

export interface InboundOptions {
  /** The sender's phone number (digits, no `+`). Default FAKE_CUSTOMER_WA_ID. */
  from?: string;
  /** Default: a fresh wamid. */
  id?: string;
  /** Unix seconds or a Date. Default: now. */
  timestamp?: number | Date;
  /** The wamid of the business message this answers (sets `context: { from, id }`). */
  replyTo?: string;
  context?: MetaMessageContext;
}

const unixSeconds = (value: number | Date | undefined) =>
  String(value instanceof Date ? Math.floor(value.getTime() / 1000) : (value ?? Math.floor(Date.now() / 1000)));

/** A fresh message id shaped like Meta's (`wamid.` + base64). */
export const newWamid = () => `wamid.${randomBytes(30).toString('base64')}`;
const mediaId = () => String(1e15 + randomInt(0, 2 ** 47));
const media = (mimeType: string): MetaMedia => {
  const id = mediaId();
  return {
    mime_type: mimeType,
    sha256: randomBytes(32).toString('base64'),
    id,
    url: `https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=${id}`,
  };
};

function base(options: InboundOptions): MetaMessageBase {
  const context = options.context ?? (options.replyTo ? { from: FAKE_DISPLAY_NUMBER, id: options.replyTo } : undefined);
  return {
    ...(context && { context }),
    from: options.from ?? FAKE_CUSTOMER_WA_ID,
    id: options.id ?? newWamid(),
    timestamp: unixSeconds(options.timestamp),
  };
}

export const textMessage = (body: string, options: InboundOptions = {}): MetaInboundMessage => ({
  ...base(options),
  type: 'text',
  text: { body },
});

/** A tap on an interactive reply button (`replyTo`: the wamid of the buttons message). */
export const buttonReplyMessage = (reply: { id: string; title: string }, options: InboundOptions = {}): MetaInboundMessage => ({
  ...base(options),
  type: 'interactive',
  interactive: { type: 'button_reply', button_reply: reply },
});

export const listReplyMessage = (reply: { id: string; title: string; description?: string }, options: InboundOptions = {}): MetaInboundMessage => ({
  ...base(options),
  type: 'interactive',
  interactive: { type: 'list_reply', list_reply: reply },
});

/** A tap on a template's quick-reply button (type `button`). */
export const templateButtonMessage = (button: { payload: string; text: string }, options: InboundOptions = {}): MetaInboundMessage => ({
  ...base(options),
  type: 'button',
  button,
});

export const imageMessage = (image: Partial<MetaMedia> & { caption?: string } = {}, options: InboundOptions = {}): MetaInboundMessage => ({
  ...base(options),
  type: 'image',
  image: { ...media('image/jpeg'), ...image },
});

/** `voice: true` is a recorded voice note (OGG/Opus). */
export const audioMessage = (audio: Partial<MetaMedia> & { voice?: boolean } = {}, options: InboundOptions = {}): MetaInboundMessage => ({
  ...base(options),
  type: 'audio',
  audio: { ...media('audio/ogg; codecs=opus'), voice: true, ...audio },
});

export const documentMessage = (
  document: Partial<MetaMedia> & { filename?: string; caption?: string } = {},
  options: InboundOptions = {},
): MetaInboundMessage => ({
  ...base(options),
  type: 'document',
  document: { ...media('application/pdf'), filename: 'receipt.pdf', ...document },
});

export const videoMessage = (video: Partial<MetaMedia> & { caption?: string } = {}, options: InboundOptions = {}): MetaInboundMessage => ({
  ...base(options),
  type: 'video',
  video: { ...media('video/mp4'), ...video },
});

export const stickerMessage = (sticker: Partial<MetaMedia> & { animated?: boolean } = {}, options: InboundOptions = {}): MetaInboundMessage => ({
  ...base(options),
  type: 'sticker',
  sticker: { ...media('image/webp'), animated: false, ...sticker },
});

export const locationMessage = (
  location: { latitude: number; longitude: number; name?: string; address?: string; url?: string },
  options: InboundOptions = {},
): MetaInboundMessage => ({
  ...base(options),
  type: 'location',
  location,
});

export const contactsMessage = (contacts: MetaSharedContact[], options: InboundOptions = {}): MetaInboundMessage => ({
  ...base(options),
  type: 'contacts',
  contacts,
});

export interface StatusOptions {
  /** Default FAKE_CUSTOMER_WA_ID. */
  recipientId?: string;
  timestamp?: number | Date;
  /** Default on `sent`: a service conversation (as sent for API versions up to v23.0); `false` omits it. */
  conversation?: MetaStatus['conversation'] | false;
  /** Default on `sent`: a free customer-service message; `false` omits it. */
  pricing?: MetaStatus['pricing'] | false;
  errors?: MetaStatusError[];
}

/** A status update for a message the business sent (`messageId`: its wamid). */
export function messageStatus(messageId: string, status: MetaStatus['status'], options: StatusOptions = {}): MetaStatus {
  const timestamp = unixSeconds(options.timestamp);
  const conversation =
    options.conversation ??
    (status === 'sent'
      ? { id: randomBytes(16).toString('hex'), expiration_timestamp: String(Number(timestamp) + 24 * 3600), origin: { type: 'service' } }
      : undefined);
  const pricing =
    options.pricing ?? (status === 'sent' ? { billable: false, pricing_model: 'PMP' as const, type: 'free_customer_service', category: 'service' } : undefined);
  return {
    id: messageId,
    status,
    timestamp,
    recipient_id: options.recipientId ?? FAKE_CUSTOMER_WA_ID,
    ...(conversation && { conversation }),
    ...(pricing && { pricing }),
    ...(options.errors && { errors: options.errors }),
  };
}

/** The `errors` entry of a failed status, with Meta's title and details for `code`. */
export function statusError(code: WhatsAppErrorCode): MetaStatusError {
  const { title, details } = WHATSAPP_ERRORS[code];
  return { code, title, message: title, error_data: { details }, href: '/documentation/business-messaging/whatsapp/support/error-codes' };
}

/** A `failed` status for `messageId`, e.g. `failedStatus(wamid, 131047)` when the 24-hour window had closed. */
export const failedStatus = (messageId: string, code: WhatsAppErrorCode, options: Omit<StatusOptions, 'errors'> = {}): MetaStatus =>
  messageStatus(messageId, 'failed', { ...options, errors: [statusError(code)] });

export interface ChangeInput {
  messages?: MetaInboundMessage[];
  statuses?: MetaStatus[];
  /** Default with messages: one contact per distinct sender, named `profileName`. */
  contacts?: { profile: { name: string }; wa_id: string }[];
  profileName?: string;
  phoneNumberId?: string;
  displayPhoneNumber?: string;
}

function changeValue(input: ChangeInput): MetaChangeValue {
  const senders = [...new Set((input.messages ?? []).map((message) => message.from))];
  const contacts = input.contacts ?? (senders.length > 0 ? senders.map((waId) => ({ profile: { name: input.profileName ?? FAKE_CUSTOMER_NAME }, wa_id: waId })) : undefined);
  return {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: input.displayPhoneNumber ?? FAKE_DISPLAY_NUMBER, phone_number_id: input.phoneNumberId ?? FAKE_PHONE_NUMBER_ID },
    ...(contacts && { contacts }),
    ...(input.messages && { messages: input.messages }),
    ...(input.statuses && { statuses: input.statuses }),
  };
}

/**
 * One webhook delivery. Several messages go in one change (`{ messages: [a, b] }`); an array of
 * inputs is several changes in one entry, as Meta batches them.
 */
export function metaWebhookPayload(input: ChangeInput | ChangeInput[], options: { wabaId?: string } = {}): MetaWebhookPayload {
  const changes = (Array.isArray(input) ? input : [input]).map((change) => ({ value: changeValue(change), field: 'messages' as const }));
  return { object: 'whatsapp_business_account', entry: [{ id: options.wabaId ?? FAKE_WABA_ID, changes }] };
}

/** The X-Hub-Signature-256 header value: `sha256=` + hex HMAC-SHA256 of the raw body under the app secret. */
export function signMeta(body: string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body, 'utf8').digest('hex')}`;
}

/**
 * POSTs a webhook to `${baseUrl}/whatsapp/webhook`. A string is sent as the raw body as is.
 * `appSecret` signs it; `signature` replaces the header, `null` leaves it out.
 */
export function postMetaWebhook(
  baseUrl: string,
  payload: MetaWebhookPayload | Record<string, unknown> | string,
  options: { appSecret?: string; signature?: string | null } = {},
): Promise<WebhookAnswer> {
  const raw = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const signature = options.signature !== undefined ? options.signature : options.appSecret !== undefined ? signMeta(raw, options.appSecret) : null;
  return postWebhook(`${baseUrl}/whatsapp/webhook`, raw, {
    'content-type': 'application/json',
    ...(signature !== null && { 'x-hub-signature-256': signature }),
  });
}

/** Meta's subscription check: GET `/whatsapp/webhook?hub.mode=…&hub.verify_token=…&hub.challenge=…`. */
export async function verifyHandshake(
  baseUrl: string,
  params: { mode?: string; token: string; challenge?: string },
): Promise<{ status: number; text: string }> {
  const query = new URLSearchParams({
    'hub.mode': params.mode ?? 'subscribe',
    'hub.verify_token': params.token,
    'hub.challenge': params.challenge ?? String(randomInt(1e9, 2e9)),
  });
  const response = await fetch(`${baseUrl}/whatsapp/webhook?${query}`);
  return { status: response.status, text: await response.text() };
}
