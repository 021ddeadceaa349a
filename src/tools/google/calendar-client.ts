import type { OAuth2Client } from 'google-auth-library';
import { calendar_v3 } from 'googleapis/build/src/apis/calendar/v3.js';
import type { IntegrationPolicy } from '../integration-policy.js';
import { statusOf, toGoogleError } from './google-errors.js';

const INTEGRATION = 'Google Calendar';

export interface Interval {
  start: Date;
  end: Date;
}

export interface BusyResult {
  busy: Interval[];
  /** Calendars Google could not answer for (e.g. an outside attendee), with Google's reason code. */
  unavailable: { calendar: string; reason: string }[];
}

export interface NewEvent {
  /** Deterministic id (base32hex, 5–1024 chars): a repeat insert is a 409, never a second event. */
  id: string;
  title: string;
  description?: string;
  start: Date;
  end: Date;
  timeZone: string;
  attendees: string[];
  withMeet: boolean;
}

export interface CalendarEvent {
  id: string;
  htmlLink: string | null;
  meetLink: string | null;
  start: string;
  end: string;
  status: string | null;
}

/** What the meeting tools need from Google Calendar v3, behind the shared timeout/retry policy. */
export class CalendarClient {
  readonly #api: calendar_v3.Calendar;

  private readonly calendarId: string;
  private readonly policy: IntegrationPolicy;

  constructor(auth: OAuth2Client, options: { calendarId: string; policy: IntegrationPolicy; rootUrl?: string | undefined }) {
    const { rootUrl } = options;
    this.calendarId = options.calendarId;
    this.policy = options.policy;
    this.#api = new calendar_v3.Calendar({ auth, ...(rootUrl !== undefined && { rootUrl: withSlash(rootUrl) }) });
  }

  /** freebusy.query for our calendar plus `attendees`; every busy interval, merged across calendars. */
  async freeBusy(range: Interval, attendees: string[], signal: AbortSignal): Promise<BusyResult> {
    const ids = [this.calendarId, ...attendees.filter((email) => email !== this.calendarId)];
    const response = await this.policy.run({ integration: INTEGRATION, idempotent: true, signal }, (attemptSignal) =>
      this.#api.freebusy
        .query(
          { requestBody: { timeMin: range.start.toISOString(), timeMax: range.end.toISOString(), items: ids.map((id) => ({ id })) } },
          { retry: false, signal: attemptSignal },
        )
        .catch((error: unknown) => {
          throw toGoogleError(INTEGRATION, error);
        }),
    );
    const busy: Interval[] = [];
    const unavailable: BusyResult['unavailable'] = [];
    for (const [calendar, entry] of Object.entries(response.data.calendars ?? {})) {
      if (entry.errors?.length) {
        unavailable.push({ calendar, reason: entry.errors[0]?.reason ?? 'unknown' });
        continue;
      }
      for (const period of entry.busy ?? []) {
        if (period.start && period.end) busy.push({ start: new Date(period.start), end: new Date(period.end) });
      }
    }
    return { busy, unavailable };
  }

  /** The event with this id, or undefined if there is none (a deleted one counts as none). */
  async getEvent(eventId: string, signal: AbortSignal): Promise<CalendarEvent | undefined> {
    return this.policy.run({ integration: INTEGRATION, idempotent: true, signal }, async (attemptSignal) => {
      try {
        const response = await this.#api.events.get({ calendarId: this.calendarId, eventId }, { retry: false, signal: attemptSignal });
        return response.data.status === 'cancelled' ? undefined : toEvent(response.data);
      } catch (error) {
        if (statusOf(error) === 404 || statusOf(error) === 410) return undefined;
        throw toGoogleError(INTEGRATION, error);
      }
    });
  }

  /**
   * events.insert with our id. Retried safely: a 409 means an earlier attempt (or an
   * earlier run of the same tool call) already created it, so that event is returned.
   */
  async insertEvent(event: NewEvent, signal: AbortSignal): Promise<{ event: CalendarEvent; alreadyExisted: boolean }> {
    const requestBody: calendar_v3.Schema$Event = {
      id: event.id,
      summary: event.title,
      ...(event.description !== undefined && { description: event.description }),
      start: { dateTime: event.start.toISOString(), timeZone: event.timeZone },
      end: { dateTime: event.end.toISOString(), timeZone: event.timeZone },
      attendees: event.attendees.map((email) => ({ email })),
      ...(event.withMeet && {
        conferenceData: { createRequest: { requestId: event.id, conferenceSolutionKey: { type: 'hangoutsMeet' } } },
      }),
    };
    const inserted = await this.policy.run({ integration: INTEGRATION, idempotent: true, signal }, async (attemptSignal) => {
      try {
        const response = await this.#api.events.insert(
          { calendarId: this.calendarId, conferenceDataVersion: event.withMeet ? 1 : 0, sendUpdates: 'all', requestBody },
          { retry: false, signal: attemptSignal },
        );
        return toEvent(response.data);
      } catch (error) {
        if (statusOf(error) === 409) return undefined;
        throw toGoogleError(INTEGRATION, error);
      }
    });
    if (inserted) return { event: inserted, alreadyExisted: false };
    const existing = await this.getEvent(event.id, signal);
    if (!existing) {
      throw toGoogleError(INTEGRATION, Object.assign(new Error('conflict'), { status: 409 }));
    }
    return { event: existing, alreadyExisted: true };
  }
}

function toEvent(data: calendar_v3.Schema$Event): CalendarEvent {
  const meet = data.hangoutLink ?? data.conferenceData?.entryPoints?.find((entry) => entry.entryPointType === 'video')?.uri ?? null;
  return {
    id: data.id ?? '',
    htmlLink: data.htmlLink ?? null,
    meetLink: meet,
    start: data.start?.dateTime ?? data.start?.date ?? '',
    end: data.end?.dateTime ?? data.end?.date ?? '',
    status: data.status ?? null,
  };
}

export function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
