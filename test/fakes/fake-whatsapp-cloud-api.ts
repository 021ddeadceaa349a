/**
 * A fake of Meta's WhatsApp Business Cloud API (the Graph API messages endpoint) on 127.0.0.1
 * (port 0). The client calls `${url}/${version}/${phoneNumberId}/messages`:
 *
 * - `POST /{version}/{phone-number-id}/messages`, JSON, `Authorization: Bearer <token>`. Accepts
 *   the documented bodies for text, interactive reply buttons (1–3 buttons, title ≤ 20, id ≤ 256,
 *   body ≤ 1024) and template messages, and answers
 *   `{ messaging_product, contacts: [{ input, wa_id }], messages: [{ id: 'wamid.…' }] }`
 *   (templates add `message_status: 'accepted'`). `{ messaging_product, status: 'read',
 *   message_id }` marks a message read and answers `{ success: true }`.
 * - Errors as Graph sends them: `{ error: { message: '(#code) title', type, code, error_data:
 *   { messaging_product, details }, fbtrace_id } }`. A wrong token is 401 / 190 (OAuthException,
 *   "Error validating access token: Session has expired on …"); an unknown phone number id is
 *   400 / 100 (GraphMethodException, subcode 33); a bad body is 400 with 100, 131008 or 131009.
 * - Optional `templates`: the approved templates; a send naming another one is refused (132001),
 *   one with the wrong number of body parameters too (132000).
 *
 * Tests script failures of the next message sends (not read receipts) with `failNext`, and read
 * what arrived in `messages` / `reads` / `calls`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_WHATSAPP_TOKEN = 'EAAFakeSwitchboardWhatsAppCloudToken0001';
/** The phone number id and display number Meta's own examples use. */
export const FAKE_PHONE_NUMBER_ID = '106540352242922';
export const FAKE_DISPLAY_NUMBER = '15550783881';

/**
 * Meta's titles (sent as `message: "(#code) title"`, and as `title` in status webhooks) and
 * `details` for the codes tests script, from the Cloud API error-codes reference.
 */
export const WHATSAPP_ERRORS = {
  130429: { title: 'Rate limit hit', details: 'Cloud API message throughput has been reached.' },
  131000: { title: 'Something went wrong', details: 'Message failed to send due to an unknown error.' },
  131026: {
    title: 'Message undeliverable',
    details:
      'Unable to deliver message. Reasons can include: The recipient phone number is not a WhatsApp phone number. ' +
      'Recipient has not accepted the new Terms of Service and Privacy Policy. Recipient using an old WhatsApp version.',
  },
  131047: { title: 'Re-engagement message', details: 'More than 24 hours have passed since the recipient last replied to the sender number.' },
  131049: {
    title: 'This message was not delivered to maintain healthy ecosystem engagement.',
    details: 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.',
  },
} as const;
export type WhatsAppErrorCode = keyof typeof WHATSAPP_ERRORS;

export type WhatsAppFailure =
  | { status: 429; code: 130429 }
  | { status: 400; code: 131047 }
  | { status: 400; code: 131026 }
  | { status: 401; code: 190 }
  | { status: 500; code: 131000 };

interface OutboundCommon {
  messaging_product: 'whatsapp';
  recipient_type?: 'individual';
  to: string;
  /** Quote a message: `{ message_id: 'wamid.…' }`. */
  context?: { message_id: string };
  biz_opaque_callback_data?: string;
}
export interface WhatsAppTextBody extends OutboundCommon {
  type: 'text';
  text: { body: string; preview_url?: boolean };
}
export interface WhatsAppReplyButton {
  type: 'reply';
  reply: { id: string; title: string };
}
export interface WhatsAppButtonsBody extends OutboundCommon {
  type: 'interactive';
  interactive: {
    type: 'button';
    header?: Record<string, unknown>;
    body: { text: string };
    footer?: { text: string };
    action: { buttons: WhatsAppReplyButton[] };
  };
}
export interface WhatsAppTemplateParameter {
  type: string;
  text?: string;
  parameter_name?: string;
  [key: string]: unknown;
}
export interface WhatsAppTemplateBody extends OutboundCommon {
  type: 'template';
  template: {
    name: string;
    language: { code: string; policy?: string };
    components?: { type: string; sub_type?: string; index?: string | number; parameters?: WhatsAppTemplateParameter[] }[];
  };
}
export type WhatsAppOutboundBody = WhatsAppTextBody | WhatsAppButtonsBody | WhatsAppTemplateBody;

export interface WhatsAppSentMessage {
  phoneNumberId: string;
  /** The wamid answered. */
  id: string;
  body: WhatsAppOutboundBody;
}

/** An approved template: its name, language code and number of body parameters. */
export interface FakeWhatsAppTemplate {
  name: string;
  language: string;
  bodyParameters: number;
}

export interface FakeWhatsAppCloudApi {
  /** Base URL: the client calls `${url}/${version}/${phoneNumberId}/messages`. */
  readonly url: string;
  /** Every accepted message send, in order. */
  readonly messages: WhatsAppSentMessage[];
  /** The message ids marked as read, in order. */
  readonly reads: string[];
  /** Every request, in order, with the HTTP status answered. */
  readonly calls: { method: string; path: string; status: number }[];
  /** Refuse the next `count` well-formed message sends with Meta's error for `failure.code`. */
  failNext(count: number, failure: WhatsAppFailure): void;
  /** Accept only `token` from now on (the token the app holds becomes invalid). */
  setToken(token: string): void;
  waitForMessages(count: number, timeoutMs?: number): Promise<void>;
  waitForReads(count: number, timeoutMs?: number): Promise<void>;
  /** Clears recordings and scripted failures, and accepts the starting token again. */
  reset(): void;
  close(): Promise<void>;
}

type GraphError = { status: number; error: Record<string, unknown> };

const fbtraceId = () => randomBytes(17).toString('base64url').slice(0, 23);
const wamid = () => `wamid.${randomBytes(30).toString('base64')}`;

/** A WhatsApp error as the Cloud API returns it (error_subcode is not returned from v16.0). */
function whatsAppError(status: number, code: number, title: string, details?: string): GraphError {
  return {
    status,
    error: {
      message: `(#${code}) ${title}`,
      type: 'OAuthException',
      code,
      ...(details !== undefined && { error_data: { messaging_product: 'whatsapp', details } }),
      fbtrace_id: fbtraceId(),
    },
  };
}

const missing = (details: string) => whatsAppError(400, 131008, 'Required parameter is missing', details);
const invalid = (details: string) => whatsAppError(400, 131009, 'Parameter value is not valid', details);
/** Graph's length check: `(#100) Param <path> must be at most <n> characters long.` */
const tooLong = (param: string, max: number): GraphError => ({
  status: 400,
  error: { message: `(#100) Param ${param} must be at most ${max} characters long.`, type: 'OAuthException', code: 100, fbtrace_id: fbtraceId() },
});
const noMessagingProduct = (): GraphError => ({
  status: 400,
  error: { message: '(#100) The parameter messaging_product is required.', type: 'OAuthException', code: 100, fbtrace_id: fbtraceId() },
});

/** Graph's date format in OAuth errors, e.g. "Wednesday, 14-Feb-18 18:00:00 PST". */
function graphTime(date: Date): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/Los_Angeles',
      weekday: 'long',
      day: '2-digit',
      month: 'short',
      year: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'short',
    })
      .formatToParts(date)
      .map((part) => [part.type, part.value]),
  );
  return `${parts.weekday}, ${parts.day}-${parts.month}-${parts.year} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
}

function expiredToken(): GraphError {
  const now = new Date();
  return {
    status: 401,
    error: {
      message: `Error validating access token: Session has expired on ${graphTime(new Date(now.getTime() - 3600_000))}. The current time is ${graphTime(now)}.`,
      type: 'OAuthException',
      code: 190,
      error_subcode: 463,
      fbtrace_id: fbtraceId(),
    },
  };
}

function unknownObject(method: string, id: string): GraphError {
  return {
    status: 400,
    error: {
      message:
        `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, ` +
        'or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api',
      type: 'GraphMethodException',
      code: 100,
      error_subcode: 33,
      fbtrace_id: fbtraceId(),
    },
  };
}

function scriptedFailure(failure: WhatsAppFailure): GraphError {
  if (failure.code === 190) return expiredToken();
  const known = WHATSAPP_ERRORS[failure.code];
  return whatsAppError(failure.status, failure.code, known.title, known.details);
}

const isObject = (value: unknown): value is Record<string, any> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

function validateText(body: Record<string, any>): GraphError | undefined {
  if (!isObject(body.text)) return missing('The parameter text is required.');
  if (!isText(body.text.body)) return missing("The parameter text['body'] is required.");
  if (body.text.body.length > 4096) return tooLong("text['body']", 4096);
  if (body.text.preview_url !== undefined && typeof body.text.preview_url !== 'boolean') return invalid("Param text['preview_url'] must be a boolean.");
  return undefined;
}

function validateButtons(body: Record<string, any>): GraphError | undefined {
  const interactive = body.interactive;
  if (!isObject(interactive)) return missing('The parameter interactive is required.');
  if (interactive.type !== 'button') return invalid(`Interactive message type '${String(interactive.type)}' is not supported here; expected 'button'.`);
  if (!isObject(interactive.body) || !isText(interactive.body.text)) return missing("The parameter interactive['body']['text'] is required.");
  if (interactive.body.text.length > 1024) return tooLong("interactive['body']['text']", 1024);
  if (interactive.footer !== undefined) {
    if (!isObject(interactive.footer) || !isText(interactive.footer.text)) return missing("The parameter interactive['footer']['text'] is required.");
    if (interactive.footer.text.length > 60) return tooLong("interactive['footer']['text']", 60);
  }
  const buttons = isObject(interactive.action) ? interactive.action.buttons : undefined;
  if (!Array.isArray(buttons)) return missing("The parameter interactive['action']['buttons'] is required.");
  if (buttons.length < 1 || buttons.length > 3) return invalid('Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3');
  const ids = new Set<string>();
  const titles = new Set<string>();
  for (const [index, button] of buttons.entries()) {
    const param = `interactive['action']['buttons'][${index}]`;
    if (!isObject(button) || button.type !== 'reply' || !isObject(button.reply)) return invalid(`${param} must be { type: 'reply', reply: { id, title } }.`);
    const { id, title } = button.reply;
    if (!isText(id)) return missing(`The parameter ${param}['reply']['id'] is required.`);
    if (id.length > 256) return tooLong(`${param}['reply']['id']`, 256);
    if (!isText(title) || title.length > 20) return invalid('Button title length invalid. Min length: 1, Max length: 20');
    if (ids.has(id)) return invalid('Duplicate button id. Button ids must be unique.');
    if (titles.has(title)) return invalid('Duplicate button title. Button titles must be unique.');
    ids.add(id);
    titles.add(title);
  }
  return undefined;
}

function validateTemplate(body: Record<string, any>, approved: FakeWhatsAppTemplate[] | undefined): GraphError | undefined {
  const template = body.template;
  if (!isObject(template)) return missing('The parameter template is required.');
  if (!isText(template.name)) return missing("The parameter template['name'] is required.");
  if (!isObject(template.language) || !isText(template.language.code)) return missing("The parameter template['language']['code'] is required.");
  const components = template.components ?? [];
  if (!Array.isArray(components)) return invalid("Param template['components'] must be an array.");
  let bodyParameters = 0;
  for (const [index, component] of components.entries()) {
    const param = `template['components'][${index}]`;
    if (!isObject(component) || !['header', 'body', 'button'].includes(component.type)) return invalid(`${param}['type'] must be one of header, body, button.`);
    if (component.type === 'button' && (!isText(component.sub_type) || component.index === undefined)) {
      return missing(`The parameters ${param}['sub_type'] and ${param}['index'] are required.`);
    }
    const parameters = component.parameters ?? [];
    if (!Array.isArray(parameters)) return invalid(`Param ${param}['parameters'] must be an array.`);
    for (const [at, parameter] of parameters.entries()) {
      if (!isObject(parameter) || !isText(parameter.type)) return missing(`The parameter ${param}['parameters'][${at}]['type'] is required.`);
      if (parameter.type === 'text' && typeof parameter.text !== 'string') return missing(`The parameter ${param}['parameters'][${at}]['text'] is required.`);
    }
    if (component.type === 'body') bodyParameters += parameters.length;
  }
  if (approved) {
    const found = approved.find((candidate) => candidate.name === template.name && candidate.language === template.language.code);
    if (!found) {
      return whatsAppError(400, 132001, 'Template name does not exist in the translation', `template name (${template.name}) does not exist in ${template.language.code}`);
    }
    if (found.bodyParameters !== bodyParameters) {
      return whatsAppError(
        400,
        132000,
        'Number of parameters does not match the expected number of params',
        `body: number of localizable_params (${bodyParameters}) does not match the expected number of params (${found.bodyParameters})`,
      );
    }
  }
  return undefined;
}

/** Checks a send body; `undefined` means Meta would accept it. */
function validateSend(body: Record<string, any>, approved: FakeWhatsAppTemplate[] | undefined): GraphError | undefined {
  if (body.recipient_type !== undefined && body.recipient_type !== 'individual') return invalid("Param recipient_type must be 'individual'.");
  if (!isText(body.to)) return missing('The parameter to is required.');
  if (!/^\+?[\d\s()-]{5,30}$/.test(body.to)) return invalid('The phone number is malformed: Please use the format: +1234567890.');
  if (body.context !== undefined && !(isObject(body.context) && isText(body.context.message_id))) {
    return missing("The parameter context['message_id'] is required.");
  }
  if (!isText(body.type)) return missing('The parameter type is required.');
  switch (body.type) {
    case 'text':
      return validateText(body);
    case 'interactive':
      return validateButtons(body);
    case 'template':
      return validateTemplate(body, approved);
    default:
      return whatsAppError(400, 131051, 'Unsupported message type', 'Unsupported message type.');
  }
}

export async function startFakeWhatsAppCloudApi(
  options: {
    token?: string;
    phoneNumberId?: string;
    templates?: FakeWhatsAppTemplate[];
    /** More business phone numbers on the same endpoint, each with its own access token (other workspaces' numbers). */
    numbers?: { phoneNumberId: string; token: string }[];
  } = {},
): Promise<FakeWhatsAppCloudApi> {
  const startingToken = options.token ?? FAKE_WHATSAPP_TOKEN;
  const phoneNumberId = options.phoneNumberId ?? FAKE_PHONE_NUMBER_ID;
  let token = startingToken;
  const messages: WhatsAppSentMessage[] = [];
  const reads: string[] = [];
  const calls: { method: string; path: string; status: number }[] = [];
  const failures: WhatsAppFailure[] = [];
  const waiters = new Set<() => void>();

  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  const answer = (req: IncomingMessage, res: ServerResponse, path: string, status: number, body: unknown) => {
    calls.push({ method: req.method ?? 'GET', path, status });
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(body));
  };
  const fail = (req: IncomingMessage, res: ServerResponse, path: string, graphError: GraphError) =>
    answer(req, res, path, graphError.status, { error: graphError.error });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '/').split('?')[0]!;
    const match = /^\/v\d+\.\d+\/([^/]+)\/messages$/.exec(path);
    const other = options.numbers?.find((number) => number.phoneNumberId === match?.[1]);
    if (req.headers.authorization !== `Bearer ${other ? other.token : token}`) return fail(req, res, path, expiredToken());
    if (!match || req.method !== 'POST' || (match[1] !== phoneNumberId && !other)) {
      return fail(req, res, path, unknownObject(req.method ?? 'GET', match?.[1] ?? path.split('/')[2] ?? ''));
    }
    const sender = match[1]!;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return fail(req, res, path, noMessagingProduct());
    }
    if (!isObject(body) || body.messaging_product !== 'whatsapp') return fail(req, res, path, noMessagingProduct());

    if (body.status !== undefined) {
      if (body.status !== 'read') return fail(req, res, path, invalid("Param status must be 'read'."));
      if (!isText(body.message_id)) return fail(req, res, path, missing('The parameter message_id is required.'));
      if (!body.message_id.startsWith('wamid.')) return fail(req, res, path, invalid('Invalid message_id: expected the wamid of a received message.'));
      reads.push(body.message_id);
      answer(req, res, path, 200, { success: true });
      return notify();
    }

    const refused = validateSend(body, options.templates);
    if (refused) return fail(req, res, path, refused);
    const failure = failures.shift();
    if (failure) return fail(req, res, path, scriptedFailure(failure));
    const sent = body as unknown as WhatsAppOutboundBody;
    const id = wamid();
    messages.push({ phoneNumberId: sender, id, body: sent });
    answer(req, res, path, 200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: sent.to, wa_id: sent.to.replace(/\D/g, '') }],
      messages: [{ id, ...(sent.type === 'template' && { message_status: 'accepted' }) }],
    });
    return notify();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const waitUntil = async (done: () => boolean, describe: () => string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(describe());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, Math.min(remaining, 200));
        function wake() {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        }
        waiters.add(wake);
      });
    }
  };

  return {
    url,
    messages,
    reads,
    calls,
    failNext(count, failure) {
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    setToken(next) {
      token = next;
    },
    waitForMessages: (count, timeoutMs = 10_000) =>
      waitUntil(() => messages.length >= count, () => `expected ${count} WhatsApp messages, got ${messages.length}`, timeoutMs),
    waitForReads: (count, timeoutMs = 10_000) =>
      waitUntil(() => reads.length >= count, () => `expected ${count} WhatsApp read receipts, got ${reads.length}`, timeoutMs),
    reset() {
      messages.length = 0;
      reads.length = 0;
      calls.length = 0;
      failures.length = 0;
      token = startingToken;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
