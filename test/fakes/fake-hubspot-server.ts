/**
 * A fake HubSpot CRM v3 contacts API on 127.0.0.1 (port 0) for the real
 * `@hubspot/api-client`, pointed at it with `basePath`. Documented behaviour:
 *
 * - `POST /crm/v3/objects/contacts` → 201 with `{ id, properties, createdAt, updatedAt, archived }`;
 *   an email that already exists → `409 { status: 'error', message: 'Contact already exists. Existing ID: <id>', category: 'CONFLICT' }`.
 * - `POST /crm/v3/objects/contacts/search` with `filterGroups[].filters[] { propertyName: 'email', operator: 'EQ', value }`
 *   → `{ total, results }`.
 * - `POST /crm/v3/objects/contacts/batch/upsert` with `inputs: [{ id, idProperty: 'email', properties }]`
 *   → 200 `{ status: 'COMPLETE', results: [{ ..., new }], startedAt, completedAt }`: existing contacts are updated.
 * - `Authorization: Bearer <token>`; otherwise `401 { category: 'INVALID_AUTHENTICATION' }`.
 * - Errors as `{ status: 'error', message, correlationId, category }`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_HUBSPOT_TOKEN = 'pat-na1-fake-hubspot-token-0001';

export type HubSpotFailure = { status: 401 | 403 | 404 | 429 | 500 | 502 } | { hang: true };

export interface RecordedHubSpotRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
  status?: number;
}

export interface FakeContact {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface FakeHubSpotServer {
  /** Give as HUBSPOT_API_URL (the SDK's basePath). */
  readonly url: string;
  readonly requests: RecordedHubSpotRequest[];
  readonly contacts: FakeContact[];
  failNext(...failures: HubSpotFailure[]): void;
  reset(): void;
  close(): Promise<void>;
}

const CATEGORY: Record<number, string> = {
  401: 'INVALID_AUTHENTICATION',
  403: 'MISSING_SCOPES',
  404: 'OBJECT_NOT_FOUND',
  409: 'CONFLICT',
  429: 'RATE_LIMITS',
  500: 'INTERNAL_ERROR',
  502: 'INTERNAL_ERROR',
};

export async function startFakeHubSpotServer(): Promise<FakeHubSpotServer> {
  const requests: RecordedHubSpotRequest[] = [];
  const contacts: FakeContact[] = [];
  const failures: HubSpotFailure[] = [];
  let sequence = 1000;

  const findByEmail = (email: string) => contacts.find((contact) => contact.properties.email?.toLowerCase() === email.toLowerCase());
  const wire = (contact: FakeContact) => ({ id: contact.id, properties: { ...contact.properties, hs_object_id: contact.id }, createdAt: contact.createdAt, updatedAt: contact.updatedAt, archived: false });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const recorded: RecordedHubSpotRequest = { method, path, headers: req.headers, body };
    requests.push(recorded);
    const send = (status: number, payload: unknown) => {
      recorded.status = status;
      res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', 'x-hubspot-correlation-id': randomUUID() }).end(JSON.stringify(payload));
    };
    const fail = (status: number, message: string) => send(status, { status: 'error', message, correlationId: randomUUID(), category: CATEGORY[status] ?? 'VALIDATION_ERROR' });

    if (req.headers.authorization !== `Bearer ${FAKE_HUBSPOT_TOKEN}`) {
      return fail(401, 'Authentication credentials not found. This API supports OAuth 2.0 authentication.');
    }
    const failure = failures.shift();
    if (failure && 'hang' in failure) return;
    if (failure) return fail(failure.status, failure.status === 429 ? 'You have reached your secondly limit.' : `Scripted failure ${failure.status}`);

    const now = new Date().toISOString();
    if (method === 'POST' && path === '/crm/v3/objects/contacts') {
      const email = body?.properties?.email;
      const existing = typeof email === 'string' ? findByEmail(email) : undefined;
      if (existing) return fail(409, `Contact already exists. Existing ID: ${existing.id}`);
      const contact = { id: String(++sequence), properties: { ...body?.properties }, createdAt: now, updatedAt: now };
      contacts.push(contact);
      return send(201, wire(contact));
    }
    if (method === 'POST' && path === '/crm/v3/objects/contacts/search') {
      const filter = body?.filterGroups?.[0]?.filters?.[0];
      const found = filter?.propertyName === 'email' && filter?.operator === 'EQ' ? contacts.filter((contact) => contact.properties.email?.toLowerCase() === String(filter.value).toLowerCase()) : [];
      return send(200, { total: found.length, results: found.map(wire) });
    }
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/upsert') {
      const inputs = Array.isArray(body?.inputs) ? body.inputs : [];
      if (inputs.length === 0 || inputs.some((input: any) => input?.idProperty !== 'email' || typeof input?.id !== 'string')) {
        return fail(400, 'Invalid input JSON: idProperty must be a unique property such as email');
      }
      const results = inputs.map((input: any) => {
        const existing = findByEmail(input.id);
        if (existing) {
          existing.properties = { ...existing.properties, ...input.properties, email: existing.properties.email! };
          existing.updatedAt = now;
          return { ...wire(existing), new: false };
        }
        const contact = { id: String(++sequence), properties: { ...input.properties, email: input.id }, createdAt: now, updatedAt: now };
        contacts.push(contact);
        return { ...wire(contact), new: true };
      });
      return send(200, { status: 'COMPLETE', results, startedAt: now, completedAt: new Date().toISOString() });
    }
    fail(404, `Unable to route ${method} request with path ${path}`);
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    contacts,
    failNext(...next) {
      failures.push(...next);
    },
    reset() {
      requests.length = 0;
      contacts.length = 0;
      failures.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
