import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ToolExecutionError } from '../errors/index.js';
import type { CalendarClient, CalendarEvent } from './google/calendar-client.js';
import {
  DATE_TIME_HINT,
  describeRange,
  formatInZone,
  overlaps,
  parseDateTime,
  withinWorkingHours,
  type WorkingHours,
} from './google/working-hours.js';
import { describeHours } from './find-meeting-slots.js';
import { durationField, emailField, strictFields, timeZoneField } from './tool-inputs.js';
import { defineTool, type Tool } from './tool.js';

export interface BookMeetingOptions {
  calendar: CalendarClient;
  hours: WorkingHours;
  now?: () => Date;
}

export interface BookedMeeting {
  eventId: string;
  title: string;
  link: string | null;
  meetLink: string | null;
  /** In `timeZone`, ISO 8601 with offset. */
  start: string;
  end: string;
  timeZone: string;
  attendees: string[];
  /** True when this call had already created the event (a retry), so nothing new was booked. */
  alreadyBooked: boolean;
}

const FIELDS = ['title', 'start', 'durationMinutes', 'attendees', 'timeZone', 'description', 'withMeet'];

export function bookMeetingInput(hours: WorkingHours, now: () => Date) {
  return z
    .object(
      {
        title: z.string({ error: 'title must be text' }).trim().min(1, { error: 'title must not be empty' }).max(200, { error: 'title must be at most 200 characters' }),
        start: z.string({ error: `start must be ${DATE_TIME_HINT}` }).describe(`Start; ${DATE_TIME_HINT}.`),
        durationMinutes: durationField,
        attendees: z
          .array(emailField('each attendee'), { error: 'attendees must be a list of email addresses' })
          .min(1, { error: 'at least one attendee email is needed' })
          .max(50, { error: 'at most 50 attendees' }),
        timeZone: timeZoneField.optional().describe('IANA time zone of the person; a start without offset is read in it.'),
        description: z.string({ error: 'description must be text' }).max(2000, { error: 'description must be at most 2000 characters' }).optional(),
        withMeet: z.boolean({ error: 'withMeet must be true or false' }).default(false).describe('Add a Google Meet link.'),
      },
      strictFields(FIELDS),
    )
    .strict()
    .superRefine((input, ctx) => {
      const start = parseDateTime(input.start, input.timeZone ?? hours.timeZone);
      if (!start) {
        ctx.addIssue({ code: 'custom', path: ['start'], message: `start must be ${DATE_TIME_HINT}` });
        return;
      }
      const end = new Date(start.getTime() + input.durationMinutes * 60_000);
      if (start <= now()) {
        ctx.addIssue({ code: 'custom', path: ['start'], message: 'start is in the past; pick a future slot' });
      } else if (!withinWorkingHours(start, end, hours)) {
        ctx.addIssue({ code: 'custom', path: ['start'], message: `the meeting must fall within working hours (${describeHours(hours)})` });
      }
    });
}

export type BookMeetingInput = z.output<ReturnType<typeof bookMeetingInput>>;

/**
 * The Calendar event id for a tool call: sha256 of the idempotency key in hex.
 * Hex digits are base32hex (a–v, 0–9) characters and 64 of them fit the 5–1024
 * length Calendar allows, so a retried call inserts the same id and gets a 409.
 */
export function calendarEventId(idempotencyKey: string): string {
  return createHash('sha256').update(`switchboard:book_meeting:${idempotencyKey}`).digest('hex');
}

export function bookMeetingTool(options: BookMeetingOptions): Tool<BookMeetingInput, BookedMeeting> {
  const now = options.now ?? (() => new Date());
  const zoneOf = (input: BookMeetingInput) => input.timeZone ?? options.hours.timeZone;
  const rangeOf = (input: BookMeetingInput) => {
    const start = parseDateTime(input.start, zoneOf(input))!;
    return { start, end: new Date(start.getTime() + input.durationMinutes * 60_000) };
  };
  return defineTool({
    name: 'book_meeting',
    description:
      'Book a meeting on the business calendar (Google Calendar) and invite the attendees. Use a slot from find_meeting_slots. ' +
      'Refuses past times, times outside working hours and times that are already busy. Returns the event link and times.',
    input: bookMeetingInput(options.hours, now),
    confirmation: {
      summary: (input) => {
        const { start, end } = rangeOf(input);
        return `Book “${input.title}” on ${describeRange(start, end, zoneOf(input))} with ${input.attendees.join(', ')}${input.withMeet ? ', with a Google Meet link' : ''}.`;
      },
    },
    describeResult: (result) =>
      `Booked “${result.title}”: ${result.start} to ${result.end} (${result.timeZone}).` +
      (result.link ? ` Event: ${result.link}` : '') +
      (result.meetLink ? ` Meet: ${result.meetLink}` : ''),
    async execute(input, context) {
      const zone = zoneOf(input);
      const { start, end } = rangeOf(input);
      const eventId = calendarEventId(context.idempotencyKey);
      const toResult = (event: CalendarEvent, alreadyBooked: boolean): BookedMeeting => ({
        eventId: event.id,
        title: input.title,
        link: event.htmlLink,
        meetLink: event.meetLink,
        start: formatInZone(start, zone),
        end: formatInZone(end, zone),
        timeZone: zone,
        attendees: input.attendees,
        alreadyBooked,
      });

      // A retry of a call that already booked must not trip over its own event in free/busy.
      const existing = await options.calendar.getEvent(eventId, context.signal);
      if (existing) return toResult(existing, true);

      const { busy } = await options.calendar.freeBusy({ start, end }, [], context.signal);
      if (busy.some((interval) => overlaps(interval, { start, end }))) {
        throw new ToolExecutionError('that time is already busy on the calendar (double booking refused); find another slot with find_meeting_slots');
      }
      const created = await options.calendar.insertEvent(
        {
          id: eventId,
          title: input.title,
          ...(input.description !== undefined && { description: input.description }),
          start,
          end,
          timeZone: zone,
          attendees: input.attendees,
          withMeet: input.withMeet,
        },
        context.signal,
      );
      return toResult(created.event, created.alreadyExisted);
    },
  });
}
