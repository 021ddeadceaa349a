/**
 * A fake Google APIs endpoint on 127.0.0.1 (port 0) for the real `googleapis` SDK,
 * pointed at it with `rootUrl` (and google-auth-library's token endpoint with
 * `endpoints.oauth2TokenUrl`). It speaks the documented wire formats:
 *
 * - `POST /token` (OAuth 2.0 refresh_token grant, form body) → `{ access_token, expires_in, token_type }`;
 *   an unknown refresh token is `400 { error: 'invalid_grant' }`. The service-account grant
 *   (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>`, claims `iss`,
 *   `scope`, `aud` = https://oauth2.googleapis.com/token, `iat`, `exp`, and `sub` for domain-wide
 *   delegation) gets the same answer for an account registered with `acceptServiceAccount`; a bad
 *   signature or claim is `400 { error: 'invalid_grant', error_description }`.
 * - Calendar v3: `POST /calendar/v3/freeBusy` (`{ timeMin, timeMax, items: [{ id }] }` →
 *   `{ kind: 'calendar#freeBusy', calendars: { id: { busy: [{ start, end }] } | { errors: [...] } } }`),
 *   `POST /calendar/v3/calendars/:calendarId/events` (client-chosen `id` must be base32hex, 5–1024
 *   chars; an existing id is `409 duplicate` "The requested identifier already exists."; a Meet link
 *   only with `conferenceDataVersion=1`), `GET .../events/:eventId` (404 notFound).
 * - Drive v3: `GET /drive/v3/files?q=name = '...' and trashed = false`, `GET /drive/v3/files/:id`,
 *   `POST /drive/v3/files/:id/permissions` (`{ type: 'user', role, emailAddress }`).
 * - Errors as `{ error: { code, message, errors: [{ domain, reason, message }], status } }`.
 * - `Authorization: Bearer <access token>` on every API call; anything else is 401 authError.
 */
import { randomBytes, verify } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_GOOGLE_CLIENT_ID = 'fake-client.apps.googleusercontent.com';
export const FAKE_GOOGLE_CLIENT_SECRET = 'fake-google-client-secret-0001';
export const FAKE_GOOGLE_REFRESH_TOKEN = '1//fake-google-refresh-token-0001';

export type GoogleFailure = { status: 401 | 403 | 404 | 429 | 500 | 503; reason?: string } | { hang: true };

export interface RecordedGoogleRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: any;
  status?: number;
}

/** An access token the fake issued at `/token`, and for whom. */
export interface IssuedGoogleToken {
  grant: 'refresh_token' | 'jwt-bearer';
  /** The service account (`iss`) of a jwt-bearer grant. */
  serviceAccount?: string;
  /** The delegated user (`sub`) of a jwt-bearer grant. */
  subject?: string;
}

export interface FakeEvent {
  id: string;
  calendarId: string;
  summary?: string;
  start: { dateTime: string; timeZone?: string };
  end: { dateTime: string; timeZone?: string };
  attendees: { email: string; responseStatus: string }[];
  htmlLink: string;
  hangoutLink?: string;
  conferenceData?: unknown;
  status: 'confirmed';
}

export interface FakeDriveFile {
  id: string;
  name: string;
  mimeType: string;
  permissions: { id: string; type: string; role: string; emailAddress: string }[];
}

export interface FakeGoogleServer {
  /** Give as GOOGLE_API_URL (rootUrl). */
  readonly url: string;
  /** Give as GOOGLE_TOKEN_URL. */
  readonly tokenUrl: string;
  readonly requests: RecordedGoogleRequest[];
  readonly events: FakeEvent[];
  readonly files: FakeDriveFile[];
  /** Access tokens issued at `/token`, so a test can tell whose token an API call carried. */
  readonly issuedTokens: ReadonlyMap<string, IssuedGoogleToken>;
  /** Busy intervals per calendar id, besides the events created through the API. */
  setBusy(calendarId: string, busy: { start: string; end: string }[]): void;
  /** Accept this account's self-signed JWTs and jwt-bearer grants (RS256), verified with its public key. */
  acceptServiceAccount(clientEmail: string, publicKeyPem: string): void;
  addFile(file: { id: string; name: string; mimeType?: string }): void;
  failNext(...failures: GoogleFailure[]): void;
  /** Requests made to the API (not the token endpoint). */
  apiRequests(): RecordedGoogleRequest[];
  reset(): void;
  close(): Promise<void>;
}

const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** The `aud` Google requires in a service-account assertion, whichever address the grant is posted to. */
const GOOGLE_TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token';

const BASE32HEX_ID = /^[a-v0-9]{5,1024}$/;

class GoogleHttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

const DEFAULT_REASON: Record<number, string> = {
  401: 'authError',
  403: 'forbidden',
  404: 'notFound',
  429: 'rateLimitExceeded',
  500: 'backendError',
  503: 'backendError',
};

export async function startFakeGoogleServer(): Promise<FakeGoogleServer> {
  const requests: RecordedGoogleRequest[] = [];
  const events: FakeEvent[] = [];
  const files: FakeDriveFile[] = [];
  const busyByCalendar = new Map<string, { start: string; end: string }[]>();
  const failures: GoogleFailure[] = [];
  const accessTokens = new Map<string, IssuedGoogleToken>();
  const serviceAccounts = new Map<string, string>();
  /** A self-signed JWT access token: RS256 over header.payload, iss a known account, a scope, not expired. */
  const validServiceAccountJwt = (token: string): boolean => {
    const [header, payload, signature] = token.split('.');
    if (!header || !payload || !signature) return false;
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      const key = serviceAccounts.get(claims.iss);
      if (!key || typeof claims.scope !== 'string' || claims.exp * 1000 < Date.now()) return false;
      return verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'));
    } catch {
      return false;
    }
  };
  /** The claims of a jwt-bearer assertion, or why Google would refuse it (its error_description). */
  const checkAssertion = (assertion: unknown): { claims: Record<string, any> } | { refusal: string } => {
    const [header, payload, signature] = typeof assertion === 'string' ? assertion.split('.') : [];
    if (!header || !payload || !signature) return { refusal: 'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.' };
    let claims: Record<string, any>;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return { refusal: 'Invalid JWT payload.' };
    }
    const key = serviceAccounts.get(claims.iss);
    if (!key) return { refusal: 'Invalid grant: account not found' };
    if (!verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))) return { refusal: 'Invalid JWT Signature.' };
    if (claims.aud !== GOOGLE_TOKEN_AUDIENCE) return { refusal: 'Invalid JWT: Audience must be https://oauth2.googleapis.com/token.' };
    const now = Date.now() / 1000;
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || claims.exp < now || claims.exp - claims.iat > 3600) {
      return { refusal: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.' };
    }
    if (typeof claims.scope !== 'string' || claims.scope === '') return { refusal: 'Invalid JWT: scope is missing.' };
    return { claims };
  };
  const issueToken = (issued: IssuedGoogleToken) => {
    const token = `ya29.fake-${randomBytes(8).toString('hex')}`;
    accessTokens.set(token, issued);
    return token;
  };
  let origin = '';

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const contentType = String(req.headers['content-type'] ?? '');
    let body: any = undefined;
    if (raw) body = contentType.includes('application/x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(raw)) : safeJson(raw);
    const recorded: RecordedGoogleRequest = { method, path: url.pathname, query: url.searchParams, headers: req.headers, body };
    requests.push(recorded);
    const send = (status: number, payload: unknown) => {
      recorded.status = status;
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(payload));
    };

    try {
      if (method === 'POST' && url.pathname === '/token' && body?.grant_type === JWT_BEARER_GRANT) {
        const checked = checkAssertion(body.assertion);
        if ('refusal' in checked) return send(400, { error: 'invalid_grant', error_description: checked.refusal });
        const { iss, sub, scope } = checked.claims;
        const token = issueToken({ grant: 'jwt-bearer', serviceAccount: iss, ...(typeof sub === 'string' && { subject: sub }) });
        return send(200, { access_token: token, expires_in: 3599, token_type: 'Bearer', scope });
      }
      if (method === 'POST' && url.pathname === '/token') {
        if (body?.grant_type !== 'refresh_token' || body.refresh_token !== FAKE_GOOGLE_REFRESH_TOKEN || body.client_id !== FAKE_GOOGLE_CLIENT_ID || body.client_secret !== FAKE_GOOGLE_CLIENT_SECRET) {
          return send(400, { error: 'invalid_grant', error_description: 'Bad Request' });
        }
        const token = issueToken({ grant: 'refresh_token' });
        return send(200, { access_token: token, expires_in: 3599, token_type: 'Bearer', scope: 'https://www.googleapis.com/auth/calendar' });
      }

      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      if (!bearer || !(accessTokens.has(bearer) || validServiceAccountJwt(bearer))) throw new GoogleHttpError(401, 'authError', 'Request had invalid authentication credentials.');
      const failure = failures.shift();
      if (failure && 'hang' in failure) return;
      if (failure) throw new GoogleHttpError(failure.status, failure.reason ?? DEFAULT_REASON[failure.status] ?? 'error', `Scripted failure ${failure.status}`);

      if (method === 'POST' && url.pathname === '/calendar/v3/freeBusy') {
        const timeMin = new Date(body?.timeMin);
        const timeMax = new Date(body?.timeMax);
        if (Number.isNaN(timeMin.getTime()) || Number.isNaN(timeMax.getTime()) || !Array.isArray(body?.items)) {
          throw new GoogleHttpError(400, 'badRequest', 'Bad Request');
        }
        const calendars: Record<string, unknown> = {};
        for (const item of body.items as { id: string }[]) {
          const known = busyByCalendar.has(item.id) || events.some((event) => event.calendarId === item.id);
          if (!known) {
            calendars[item.id] = { errors: [{ domain: 'global', reason: 'notFound' }], busy: [] };
            continue;
          }
          const intervals = [
            ...(busyByCalendar.get(item.id) ?? []),
            ...events.filter((event) => event.calendarId === item.id).map((event) => ({ start: event.start.dateTime, end: event.end.dateTime })),
          ].filter((interval) => new Date(interval.start) < timeMax && new Date(interval.end) > timeMin);
          calendars[item.id] = { busy: intervals.map((interval) => ({ start: new Date(interval.start).toISOString(), end: new Date(interval.end).toISOString() })) };
        }
        return send(200, { kind: 'calendar#freeBusy', timeMin: timeMin.toISOString(), timeMax: timeMax.toISOString(), calendars });
      }

      const eventsPath = /^\/calendar\/v3\/calendars\/([^/]+)\/events(?:\/([^/]+))?$/.exec(url.pathname);
      if (eventsPath) {
        const calendarId = decodeURIComponent(eventsPath[1]!);
        const eventId = eventsPath[2] === undefined ? undefined : decodeURIComponent(eventsPath[2]);
        if (method === 'GET' && eventId !== undefined) {
          const event = events.find((candidate) => candidate.calendarId === calendarId && candidate.id === eventId);
          if (!event) throw new GoogleHttpError(404, 'notFound', 'Not Found');
          return send(200, toWireEvent(event));
        }
        if (method === 'POST' && eventId === undefined) {
          const id = typeof body?.id === 'string' ? body.id : randomBytes(13).toString('hex');
          if (!BASE32HEX_ID.test(id)) throw new GoogleHttpError(400, 'invalid', 'Invalid resource id value.');
          if (!body?.start?.dateTime || !body?.end?.dateTime) throw new GoogleHttpError(400, 'required', 'Missing end time.');
          if (events.some((event) => event.calendarId === calendarId && event.id === id)) {
            throw new GoogleHttpError(409, 'duplicate', 'The requested identifier already exists.');
          }
          const withMeet = url.searchParams.get('conferenceDataVersion') === '1' && body.conferenceData?.createRequest !== undefined;
          const meetCode = randomBytes(5).toString('hex');
          const event: FakeEvent = {
            id,
            calendarId,
            summary: body.summary,
            start: body.start,
            end: body.end,
            attendees: (body.attendees ?? []).map((attendee: { email: string }) => ({ email: attendee.email, responseStatus: 'needsAction' })),
            htmlLink: `https://www.google.com/calendar/event?eid=${Buffer.from(`${id} ${calendarId}`).toString('base64url')}`,
            status: 'confirmed',
            ...(withMeet && {
              hangoutLink: `https://meet.google.com/${meetCode}`,
              conferenceData: {
                createRequest: { requestId: body.conferenceData.createRequest.requestId, status: { statusCode: 'success' } },
                entryPoints: [{ entryPointType: 'video', uri: `https://meet.google.com/${meetCode}` }],
              },
            }),
          };
          events.push(event);
          return send(200, toWireEvent(event));
        }
      }

      if (method === 'GET' && url.pathname === '/drive/v3/files') {
        const q = url.searchParams.get('q') ?? '';
        const match = /^name = '((?:[^'\\]|\\.)*)' and trashed = false$/.exec(q);
        if (!match) throw new GoogleHttpError(400, 'invalid', 'Invalid Value');
        const name = match[1]!.replace(/\\(.)/g, '$1');
        return send(200, { kind: 'drive#fileList', incompleteSearch: false, files: files.filter((file) => file.name === name).map(toWireFile) });
      }
      const filePath = /^\/drive\/v3\/files\/([^/]+)(\/permissions)?$/.exec(url.pathname);
      if (filePath) {
        const file = files.find((candidate) => candidate.id === decodeURIComponent(filePath[1]!));
        if (!file) throw new GoogleHttpError(404, 'notFound', `File not found: ${filePath[1]}.`);
        if (method === 'GET' && !filePath[2]) return send(200, toWireFile(file));
        if (method === 'POST' && filePath[2]) {
          if (body?.type !== 'user' || !['reader', 'commenter', 'writer'].includes(body?.role) || typeof body?.emailAddress !== 'string') {
            throw new GoogleHttpError(400, 'invalid', 'Invalid permission.');
          }
          // Drive keeps one permission per user: a repeat updates it.
          let permission = file.permissions.find((existing) => existing.emailAddress === body.emailAddress);
          if (permission) permission.role = body.role;
          else {
            permission = { id: randomBytes(8).toString('hex'), type: 'user', role: body.role, emailAddress: body.emailAddress };
            file.permissions.push(permission);
          }
          return send(200, { kind: 'drive#permission', id: permission.id, type: permission.type, role: permission.role });
        }
      }
      throw new GoogleHttpError(404, 'notFound', 'Not Found');
    } catch (error) {
      if (error instanceof GoogleHttpError) {
        return send(error.status, {
          error: {
            code: error.status,
            message: error.message,
            errors: [{ domain: 'global', reason: error.reason, message: error.message }],
            status: STATUS_TEXT[error.status] ?? 'UNKNOWN',
          },
        });
      }
      send(500, { error: { code: 500, message: String(error), errors: [{ domain: 'global', reason: 'backendError' }] } });
    }
  };

  const toWireFile = (file: FakeDriveFile) => ({
    kind: 'drive#file',
    id: file.id,
    name: file.name,
    mimeType: file.mimeType,
    webViewLink: `https://docs.google.com/document/d/${file.id}/edit?usp=drivesdk`,
  });

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: `${origin}/`,
    tokenUrl: `${origin}/token`,
    requests,
    events,
    files,
    issuedTokens: accessTokens,
    setBusy(calendarId, busy) {
      busyByCalendar.set(calendarId, busy);
    },
    acceptServiceAccount(clientEmail, publicKeyPem) {
      serviceAccounts.set(clientEmail, publicKeyPem);
    },
    addFile(file) {
      files.push({ id: file.id, name: file.name, mimeType: file.mimeType ?? 'application/vnd.google-apps.document', permissions: [] });
    },
    failNext(...next) {
      failures.push(...next);
    },
    apiRequests() {
      return requests.filter((request) => request.path !== '/token');
    },
    reset() {
      requests.length = 0;
      events.length = 0;
      failures.length = 0;
      for (const file of files) file.permissions.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function toWireEvent(event: FakeEvent) {
  const { calendarId, ...wire } = event;
  return { kind: 'calendar#event', organizer: { email: calendarId, self: true }, ...wire };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
