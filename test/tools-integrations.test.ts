import { generateKeyPairSync } from 'node:crypto';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { calendarEventId } from '../src/tools/book-meeting.js';
import { buildTools, toolAvailability } from '../src/tools/build-tools.js';
import { runTool } from '../src/tools/run-tool.js';
import { CalendarClient } from '../src/tools/google/calendar-client.js';
import { createGoogleAuth } from '../src/tools/google/google-auth.js';
import { IntegrationPolicy } from '../src/tools/integration-policy.js';
import type { AnyTool } from '../src/tools/tool.js';
import {
  FAKE_GOOGLE_CLIENT_ID,
  FAKE_GOOGLE_CLIENT_SECRET,
  FAKE_GOOGLE_REFRESH_TOKEN,
  startFakeGoogleServer,
  type FakeGoogleServer,
} from './fakes/fake-google-server.js';
import { FAKE_HUBSPOT_TOKEN, startFakeHubSpotServer, type FakeHubSpotServer } from './fakes/fake-hubspot-server.js';

/** The integration tools through the real googleapis / @hubspot/api-client SDKs against local fakes. */

const logger = createLogger({ level: 'silent' });
const issueText = (error: { issues: { message: string }[] } | undefined) => (error?.issues ?? []).map((issue) => issue.message).join('; ');
/** Next Monday (at least 2 days ahead) at `hour`:00 in Europe/Berlin. */
function nextMondayAt(hour: number, zone = 'Europe/Berlin'): DateTime {
  let day = DateTime.now().setZone(zone).plus({ days: 2 }).startOf('day');
  while (day.weekday !== 1) day = day.plus({ days: 1 });
  return day.set({ hour });
}

describe('integration tools against local Google and HubSpot endpoints', () => {
  let google: FakeGoogleServer;
  let hubspot: FakeHubSpotServer;
  let tools: Map<string, AnyTool>;

  const env = () => ({
    GOOGLE_CLIENT_ID: FAKE_GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET: FAKE_GOOGLE_CLIENT_SECRET,
    GOOGLE_REFRESH_TOKEN: FAKE_GOOGLE_REFRESH_TOKEN,
    GOOGLE_TOKEN_URL: google.tokenUrl,
    GOOGLE_API_URL: google.url,
    GOOGLE_CALENDAR_ID: 'sales@acme.test',
    WORKING_TIME_ZONE: 'Europe/Berlin',
    WORKING_HOURS: '09:00-17:00',
    DRIVE_ALLOWED_DOMAINS: 'acme.test',
    HUBSPOT_ACCESS_TOKEN: FAKE_HUBSPOT_TOKEN,
    HUBSPOT_API_URL: hubspot.url,
    INTEGRATION_RETRY_BASE_MS: '5',
    INTEGRATION_TIMEOUT_MS: '500',
  });

  beforeAll(async () => {
    [google, hubspot] = await Promise.all([startFakeGoogleServer(), startFakeHubSpotServer()]);
    tools = new Map((await buildTools(loadConfig(env()), logger)).map((tool) => [tool.name, tool]));
    google.addFile({ id: 'file_proposal_1', name: 'Q4 proposal' });
    google.addFile({ id: 'file_dup_a', name: 'Notes' });
    google.addFile({ id: 'file_dup_b', name: 'Notes' });
  });
  afterAll(async () => {
    await Promise.all([google?.close(), hubspot?.close()]);
  });
  beforeEach(() => {
    google.reset();
    hubspot.reset();
    google.setBusy('sales@acme.test', []);
  });

  const call = async (name: string, args: unknown, key = `conv:${Math.random()}`) => {
    const tool = tools.get(name)!;
    const input = tool.input.parse(args);
    return runTool(tool, input, { conversationId: 'c', messageId: 'm', channel: 'web', idempotencyKey: key, toolCallId: key, signal: new AbortController().signal }, 5000);
  };

  it('offers a tool only when its integration is configured, and says why not', () => {
    expect([...tools.keys()].sort()).toEqual(['book_meeting', 'create_crm_lead', 'find_meeting_slots', 'share_drive_file']);
    const none = toolAvailability(loadConfig({}));
    expect(none.every((entry) => !entry.available)).toBe(true);
    expect(none.find((entry) => entry.tool === 'book_meeting')!.reason).toMatch(/GOOGLE_SERVICE_ACCOUNT_JSON/);
    expect(toolAvailability(loadConfig({ GOOGLE_CLIENT_ID: 'x' })).find((entry) => entry.tool === 'book_meeting')!.reason).toMatch(
      /GOOGLE_CLIENT_SECRET, GOOGLE_REFRESH_TOKEN missing/,
    );
  });

  it('authenticates with a service account key (self-signed JWT) as well as with an OAuth refresh token', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const clientEmail = 'switchboard@acme-project.iam.gserviceaccount.com';
    google.acceptServiceAccount(clientEmail, publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const json = JSON.stringify({ type: 'service_account', client_email: clientEmail, private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    const serviceTools = await buildTools(loadConfig({ GOOGLE_SERVICE_ACCOUNT_JSON: json, GOOGLE_API_URL: google.url, GOOGLE_CALENDAR_ID: 'sales@acme.test' }), logger);
    const slots = serviceTools.find((tool) => tool.name === 'find_meeting_slots')!;
    const outcome = await runTool(slots, slots.input.parse({ durationMinutes: 30 }), { conversationId: 'c', messageId: 'm', channel: 'web', idempotencyKey: 'k', toolCallId: 'k', signal: new AbortController().signal }, 5000);
    expect(outcome.status).toBe('ok');
    const request = google.apiRequests()[0]!;
    const claims = JSON.parse(Buffer.from(String(request.headers.authorization).split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ iss: clientEmail, scope: 'https://www.googleapis.com/auth/calendar' });
    expect(google.requests.some((candidate) => candidate.path === '/token')).toBe(false);
    await expect(buildTools(loadConfig({ GOOGLE_SERVICE_ACCOUNT_JSON: '{"client_email":"x"}' }), logger)).rejects.toThrow(/needs client_email and private_key/);
  });

  it('find_meeting_slots: queries freebusy and returns free slots within working hours in the person’s zone', async () => {
    const monday = nextMondayAt(9);
    google.setBusy('sales@acme.test', [{ start: monday.toISO()!, end: monday.plus({ hours: 2 }).toISO()! }]);
    const outcome = await call('find_meeting_slots', {
      durationMinutes: 60,
      from: monday.toISO(),
      to: monday.plus({ hours: 23 }).toISO(),
      attendees: ['Guest@Outside.test'],
      timeZone: 'America/New_York',
    });
    expect(outcome.status).toBe('ok');
    const result = (outcome as { result: any }).result;
    const freebusy = google.apiRequests().find((request) => request.path === '/calendar/v3/freeBusy')!;
    expect(freebusy.body.items).toEqual([{ id: 'sales@acme.test' }, { id: 'guest@outside.test' }]);
    expect(freebusy.headers.authorization).toMatch(/^Bearer ya29\.fake-/);
    // 09:00–11:00 Berlin is busy; the first free hour starts 11:00 Berlin = 05:00 New York; the last ends 17:00 Berlin.
    expect(result.slots[0]).toEqual({ start: monday.set({ hour: 11 }).setZone('America/New_York').toISO({ suppressMilliseconds: true }), end: monday.set({ hour: 12 }).setZone('America/New_York').toISO({ suppressMilliseconds: true }) });
    // 11:00, 11:30, … every half hour; at most 10 are returned.
    expect(result.slots).toHaveLength(10);
    expect(result.slots.at(-1).end).toBe(monday.set({ hour: 16, minute: 30 }).setZone('America/New_York').toISO({ suppressMilliseconds: true }));
    expect(result.unchecked).toEqual([{ calendar: 'guest@outside.test', reason: 'notFound' }]);
  });

  it('book_meeting: deterministic event id, Meet link, and a retry returns the same event instead of a second one', async () => {
    const start = nextMondayAt(14);
    const args = { title: 'Demo', start: start.toISO(), durationMinutes: 30, attendees: ['ada@acme.test'], withMeet: true };
    const first = await call('book_meeting', args, 'conv-1:call_book');
    expect(first.status).toBe('ok');
    const inserted = google.apiRequests().find((request) => request.method === 'POST' && request.path.endsWith('/events'))!;
    expect(inserted.body.id).toBe(calendarEventId('conv-1:call_book'));
    expect(inserted.body.id).toMatch(/^[a-v0-9]{5,1024}$/);
    expect(inserted.query.get('conferenceDataVersion')).toBe('1');
    expect(inserted.query.get('sendUpdates')).toBe('all');
    expect(inserted.body.conferenceData.createRequest.conferenceSolutionKey).toEqual({ type: 'hangoutsMeet' });
    expect((first as any).result).toMatchObject({ eventId: inserted.body.id, alreadyBooked: false, meetLink: expect.stringMatching(/^https:\/\/meet\.google\.com\//) });

    const again = await call('book_meeting', args, 'conv-1:call_book');
    expect((again as any).result).toMatchObject({ eventId: inserted.body.id, alreadyBooked: true });
    expect(google.events).toHaveLength(1);
  });

  it('book_meeting: a 409 on insert (an earlier attempt created it) returns the existing event', async () => {
    const policy = new IntegrationPolicy({ timeoutMs: 2000, maxRetries: 0, retryBaseMs: 1 });
    const auth = createGoogleAuth(
      { kind: 'oauth', clientId: FAKE_GOOGLE_CLIENT_ID, clientSecret: FAKE_GOOGLE_CLIENT_SECRET, refreshToken: FAKE_GOOGLE_REFRESH_TOKEN, tokenUrl: google.tokenUrl },
      ['https://www.googleapis.com/auth/calendar'],
    );
    const calendar = new CalendarClient(auth, { calendarId: 'sales@acme.test', policy, rootUrl: google.url });
    const start = nextMondayAt(15).toJSDate();
    const event = { id: calendarEventId('conv-2:call_lost'), title: 'Sync', start, end: new Date(start.getTime() + 1_800_000), timeZone: 'Europe/Berlin', attendees: ['ada@acme.test'], withMeet: false };
    const signal = new AbortController().signal;
    const first = await calendar.insertEvent(event, signal);
    const second = await calendar.insertEvent(event, signal);
    expect(first.alreadyExisted).toBe(false);
    expect(second).toEqual({ event: first.event, alreadyExisted: true });
    const statuses = google.apiRequests().map((request) => `${request.method} ${request.status}`);
    expect(statuses).toEqual(['POST 200', 'POST 409', 'GET 200']);
    expect(google.events).toHaveLength(1);
  });

  it('book_meeting: refuses double bookings, past times and times outside working hours', async () => {
    const start = nextMondayAt(10);
    google.setBusy('sales@acme.test', [{ start: start.toISO()!, end: start.plus({ minutes: 30 }).toISO()! }]);
    const busy = await call('book_meeting', { title: 'X', start: start.toISO(), durationMinutes: 60, attendees: ['a@acme.test'] });
    expect(busy).toMatchObject({ status: 'error', error: expect.stringMatching(/already busy/) });
    expect(google.events).toHaveLength(0);

    const schema = tools.get('book_meeting')!.input;
    const past = schema.safeParse({ title: 'X', start: '2020-01-06T10:00:00Z', durationMinutes: 30, attendees: ['a@acme.test'] });
    expect(past.success).toBe(false);
    expect(issueText(past.error)).toMatch(/in the past/);
    const late = schema.safeParse({ title: 'X', start: nextMondayAt(16).set({ minute: 45 }).toISO(), durationMinutes: 30, attendees: ['a@acme.test'] });
    expect(issueText(late.error)).toMatch(/working hours/);
    const sunday = schema.safeParse({ title: 'X', start: nextMondayAt(10).minus({ days: 1 }).toISO(), durationMinutes: 30, attendees: ['a@acme.test'] });
    expect(issueText(sunday.error)).toMatch(/working hours/);
    const badEmail = schema.safeParse({ title: 'X', start: start.toISO(), durationMinutes: 30, attendees: ['not-an-email'] });
    expect(issueText(badEmail.error)).toMatch(/valid email/);
    const extra = schema.safeParse({ title: 'X', start: start.toISO(), durationMinutes: 30, attendees: ['a@acme.test'], calendarId: 'ceo@acme.test' });
    expect(issueText(extra.error)).toMatch(/unknown field "calendarId"/);
    const garbage = schema.safeParse({ title: 'X', start: 'next tuesday', durationMinutes: 30, attendees: ['a@acme.test'] });
    expect(issueText(garbage.error)).toMatch(/ISO 8601/);
  });

  it('share_drive_file: finds the file by name, shares it, returns the link; ambiguous names ask for an id', async () => {
    const outcome = await call('share_drive_file', { fileName: 'Q4 proposal', email: 'bob@acme.test', role: 'writer' });
    expect(outcome).toMatchObject({ status: 'ok', result: { fileId: 'file_proposal_1', role: 'writer', link: expect.stringContaining('file_proposal_1') } });
    const list = google.apiRequests().find((request) => request.path === '/drive/v3/files')!;
    expect(list.query.get('q')).toBe("name = 'Q4 proposal' and trashed = false");
    const permission = google.apiRequests().find((request) => request.path.endsWith('/permissions'))!;
    expect(permission.body).toEqual({ type: 'user', role: 'writer', emailAddress: 'bob@acme.test' });

    const ambiguous = await call('share_drive_file', { fileName: 'Notes', email: 'bob@acme.test', role: 'reader' });
    expect(ambiguous).toMatchObject({ status: 'error', error: expect.stringMatching(/2 files are named “Notes”.*file_dup_a.*file_dup_b/) });
    const missing = await call('share_drive_file', { fileId: 'file_missing_1', email: 'bob@acme.test', role: 'reader' });
    expect(missing).toMatchObject({ status: 'error', error: expect.stringMatching(/Google Drive: the service could not find/) });
  });

  it('share_drive_file: writer only for allowed domains; outside sharing can be switched off', async () => {
    const schema = tools.get('share_drive_file')!.input;
    expect(issueText(schema.safeParse({ fileName: 'Q4 proposal', email: 'attacker@evil.test', role: 'writer' }).error)).toMatch(/writer access is only for acme\.test/);
    expect(schema.safeParse({ fileName: 'Q4 proposal', email: 'client@outside.test', role: 'reader' }).success).toBe(true);
    expect(issueText(schema.safeParse({ fileName: 'a', fileId: 'file_proposal_1', email: 'a@acme.test', role: 'reader' }).error)).toMatch(/exactly one of fileName or fileId/);
    expect(schema.safeParse({ fileName: 'a', email: 'a@acme.test', role: 'owner' }).success).toBe(false);

    const closed = (await buildTools(loadConfig({ ...env(), DRIVE_OUTSIDE_SHARING: 'off' }), logger)).find((tool) => tool.name === 'share_drive_file')!;
    expect(issueText(closed.input.safeParse({ fileName: 'Q4 proposal', email: 'client@outside.test', role: 'reader' }).error)).toMatch(/disabled/);
  });

  it('create_crm_lead: upserts by email, so a second lead with the same email updates instead of duplicating', async () => {
    const first = await call('create_crm_lead', { email: 'Grace@Hopper.test', name: 'Grace Brewster Hopper', company: 'Navy', notes: 'wants a demo' });
    expect(first).toMatchObject({ status: 'ok', result: { created: true, email: 'grace@hopper.test' } });
    const upsert = hubspot.requests[0]!;
    expect(upsert.path).toBe('/crm/v3/objects/contacts/batch/upsert');
    expect(upsert.headers.authorization).toBe(`Bearer ${FAKE_HUBSPOT_TOKEN}`);
    expect(upsert.body.inputs).toEqual([
      { id: 'grace@hopper.test', idProperty: 'email', properties: { email: 'grace@hopper.test', firstname: 'Grace', lastname: 'Brewster Hopper', company: 'Navy', message: 'wants a demo' } },
    ]);
    const second = await call('create_crm_lead', { email: 'grace@hopper.test', phone: '+1 555 0100' });
    expect(second).toMatchObject({ status: 'ok', result: { created: false, contactId: (first as any).result.contactId } });
    expect(hubspot.contacts).toHaveLength(1);
    expect(hubspot.contacts[0]!.properties).toMatchObject({ phone: '+1 555 0100', company: 'Navy' });
  });

  it('maps 401 / 404 / 429 / 500 to clear errors; retries 429 and 5xx, never 401', async () => {
    hubspot.failNext({ status: 401 });
    const auth = await call('create_crm_lead', { email: 'a@b.test' });
    expect(auth).toMatchObject({ status: 'error', error: expect.stringMatching(/HubSpot: the service rejected our credentials.*INVALID_AUTHENTICATION/) });
    expect(hubspot.requests).toHaveLength(1);

    hubspot.reset();
    hubspot.failNext({ status: 429 }, { status: 500 });
    const recovered = await call('create_crm_lead', { email: 'a@b.test' });
    expect(recovered.status).toBe('ok');
    expect(hubspot.requests.map((request) => request.status)).toEqual([429, 500, 200]);

    hubspot.reset();
    hubspot.failNext({ status: 429 }, { status: 429 }, { status: 429 });
    const quota = await call('create_crm_lead', { email: 'a@b.test' });
    expect(quota).toMatchObject({ status: 'error', error: expect.stringMatching(/rate limiting us or the quota/) });
    expect(hubspot.requests).toHaveLength(3);

    google.failNext({ status: 500 }, { status: 503 }, { status: 500 });
    const down = await call('find_meeting_slots', { durationMinutes: 30 });
    expect(down).toMatchObject({ status: 'error', error: expect.stringMatching(/Google Calendar: the service had an internal error/) });
    google.failNext({ status: 403, reason: 'quotaExceeded' });
    const googleQuota = await call('find_meeting_slots', { durationMinutes: 30 });
    expect(googleQuota.status).toBe('ok'); // 403 quotaExceeded is a rate limit: retried, and the retry succeeds
  });

  it('times out a hanging integration and retries it', async () => {
    hubspot.failNext({ hang: true });
    const outcome = await call('create_crm_lead', { email: 'slow@b.test' });
    expect(outcome.status).toBe('ok');
    expect(hubspot.requests.length).toBe(2);
  });

  it('never leaks tokens into results or errors', async () => {
    hubspot.failNext({ status: 401 });
    const failed = await call('create_crm_lead', { email: 'a@b.test' });
    google.failNext({ status: 401 });
    const googleFailed = await call('find_meeting_slots', { durationMinutes: 30 });
    const text = JSON.stringify([failed, googleFailed].map((outcome) => ('error' in outcome ? outcome.error : outcome.result)));
    for (const secret of [FAKE_HUBSPOT_TOKEN, FAKE_GOOGLE_CLIENT_SECRET, FAKE_GOOGLE_REFRESH_TOKEN, 'ya29.']) expect(text).not.toContain(secret);
  });
});
