import { generateKeyPairSync } from 'node:crypto';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { buildTools } from '../src/tools/build-tools.js';
import { runTool } from '../src/tools/run-tool.js';
import type { AnyTool } from '../src/tools/tool.js';
import { startFakeGoogleServer, type FakeGoogleServer, type RecordedGoogleRequest } from './fakes/fake-google-server.js';

/**
 * A service account with domain-wide delegation (GOOGLE_DELEGATED_USER) through the
 * real googleapis / google-auth-library stack: the JWT-bearer grant must go to
 * GOOGLE_TOKEN_URL like every other token exchange, never to Google's own endpoint.
 */

const logger = createLogger({ level: 'silent' });
const CLIENT_EMAIL = 'switchboard@acme-project.iam.gserviceaccount.com';
const DELEGATED_USER = 'ada@acme.test';
const CALENDAR_SCOPE = 'https://www.googleapis.com/auth/calendar';

/** Next Monday (at least 2 days ahead) at `hour`:00 in Europe/Berlin. */
function nextMondayAt(hour: number): DateTime {
  let day = DateTime.now().setZone('Europe/Berlin').plus({ days: 2 }).startOf('day');
  while (day.weekday !== 1) day = day.plus({ days: 1 });
  return day.set({ hour });
}

function assertionClaims(request: RecordedGoogleRequest): Record<string, unknown> {
  return JSON.parse(Buffer.from(String(request.body.assertion).split('.')[1]!, 'base64url').toString('utf8'));
}

describe('Google service account with domain-wide delegation', () => {
  let google: FakeGoogleServer;
  let tools: Map<string, AnyTool>;

  beforeAll(async () => {
    google = await startFakeGoogleServer();
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    google.acceptServiceAccount(CLIENT_EMAIL, publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const json = JSON.stringify({
      type: 'service_account',
      client_email: CLIENT_EMAIL,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });
    const config = loadConfig({
      GOOGLE_SERVICE_ACCOUNT_JSON: json,
      GOOGLE_DELEGATED_USER: DELEGATED_USER,
      GOOGLE_TOKEN_URL: google.tokenUrl,
      GOOGLE_API_URL: google.url,
      GOOGLE_CALENDAR_ID: 'sales@acme.test',
      WORKING_TIME_ZONE: 'Europe/Berlin',
      // Before the fix the grant went to oauth2.googleapis.com: fail fast instead of waiting on the network.
      INTEGRATION_TIMEOUT_MS: '2000',
      INTEGRATION_RETRIES: '0',
    });
    tools = new Map((await buildTools(config, logger)).map((tool) => [tool.name, tool]));
  });
  afterAll(() => google?.close());
  beforeEach(() => {
    google.reset();
    google.setBusy('sales@acme.test', []);
  });

  const call = (name: string, args: unknown, key = `conv:${Math.random()}`) => {
    const tool = tools.get(name)!;
    return runTool(tool, tool.input.parse(args), { conversationId: 'c', messageId: 'm', channel: 'web', idempotencyKey: key, toolCallId: key, signal: new AbortController().signal }, 5000);
  };

  it('find_meeting_slots: posts the JWT-bearer grant with the delegated sub to GOOGLE_TOKEN_URL and calls the API as that user', async () => {
    const outcome = await call('find_meeting_slots', { durationMinutes: 30 });
    expect(outcome.status).toBe('ok');

    const grants = google.requests.filter((request) => request.path === '/token');
    expect(grants).toHaveLength(1);
    expect(grants[0]!).toMatchObject({ method: 'POST', status: 200, body: { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer' } });
    expect(assertionClaims(grants[0]!)).toMatchObject({
      iss: CLIENT_EMAIL,
      sub: DELEGATED_USER,
      scope: CALENDAR_SCOPE,
      // Google's audience is kept even though the grant is posted elsewhere: a proxy in front of Google needs it.
      aud: 'https://oauth2.googleapis.com/token',
    });

    const freebusy = google.apiRequests().find((request) => request.path === '/calendar/v3/freeBusy')!;
    const bearer = String(freebusy.headers.authorization).replace(/^Bearer /, '');
    expect(google.issuedTokens.get(bearer)).toEqual({ grant: 'jwt-bearer', serviceAccount: CLIENT_EMAIL, subject: DELEGATED_USER });
  });

  it('book_meeting: books as the delegated user with a token from GOOGLE_TOKEN_URL', async () => {
    const outcome = await call('book_meeting', { title: 'Demo', start: nextMondayAt(14).toISO(), durationMinutes: 30, attendees: ['bob@acme.test'] });
    expect(outcome.status).toBe('ok');
    expect(google.events).toHaveLength(1);

    const insert = google.apiRequests().find((request) => request.method === 'POST' && request.path.endsWith('/events'))!;
    const bearer = String(insert.headers.authorization).replace(/^Bearer /, '');
    expect(google.issuedTokens.get(bearer)).toMatchObject({ grant: 'jwt-bearer', subject: DELEGATED_USER });
  });
});
