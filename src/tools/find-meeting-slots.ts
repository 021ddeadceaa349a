import { z } from 'zod';
import { ToolExecutionError } from '../errors/index.js';
import type { CalendarClient } from './google/calendar-client.js';
import { DATE_TIME_HINT, formatInZone, freeSlots, parseDateTime, type WorkingHours } from './google/working-hours.js';
import { durationField, emailField, strictFields, timeZoneField } from './tool-inputs.js';
import { defineTool, type Tool } from './tool.js';

const DEFAULT_RANGE_DAYS = 7;
const MAX_RANGE_DAYS = 31;
const MAX_SLOTS = 10;
const DAY_MS = 86_400_000;

export interface MeetingSlotsOptions {
  calendar: CalendarClient;
  hours: WorkingHours;
  stepMinutes?: number;
  now?: () => Date;
}

export interface MeetingSlots {
  timeZone: string;
  durationMinutes: number;
  /** Start and end in `timeZone`, ISO 8601 with offset. */
  slots: { start: string; end: string }[];
  /** Attendee calendars Google could not check (e.g. outside the organisation). */
  unchecked: { calendar: string; reason: string }[];
  workingHours: string;
}

const FIELDS = ['durationMinutes', 'from', 'to', 'attendees', 'timeZone'];

export function meetingSlotsInput() {
  return z
    .object(
      {
        durationMinutes: durationField.describe('Length of the meeting in minutes (5–480).'),
        from: z.string({ error: `from must be ${DATE_TIME_HINT}` }).optional().describe(`Search from (default now); ${DATE_TIME_HINT}.`),
        to: z.string({ error: `to must be ${DATE_TIME_HINT}` }).optional().describe(`Search until (default from + 7 days, at most 31 days); ${DATE_TIME_HINT}.`),
        attendees: z
          .array(emailField('each attendee'), { error: 'attendees must be a list of email addresses' })
          .max(20, { error: 'at most 20 attendees' })
          .default([])
          .describe('Emails whose calendars must also be free (where Google can see them).'),
        timeZone: timeZoneField.optional().describe('IANA time zone of the person, e.g. Europe/Berlin; slots are given in it.'),
      },
      strictFields(FIELDS),
    )
    .strict()
    .superRefine((input, ctx) => {
      const zone = input.timeZone ?? 'UTC';
      for (const key of ['from', 'to'] as const) {
        const value = input[key];
        if (value !== undefined && parseDateTime(value, zone) === undefined) {
          ctx.addIssue({ code: 'custom', path: [key], message: `${key} must be ${DATE_TIME_HINT}` });
        }
      }
    });
}

export type MeetingSlotsInput = z.output<ReturnType<typeof meetingSlotsInput>>;

export function findMeetingSlotsTool(options: MeetingSlotsOptions): Tool<MeetingSlotsInput, MeetingSlots> {
  const now = options.now ?? (() => new Date());
  return defineTool({
    name: 'find_meeting_slots',
    description:
      'Find free meeting slots on the business calendar (Google Calendar free/busy) within working hours. ' +
      'Returns up to 10 slots in the person’s time zone. Offer these slots; never invent others.',
    input: meetingSlotsInput(),
    async execute(input, context) {
      const zone = input.timeZone ?? options.hours.timeZone;
      const current = now();
      const from = input.from !== undefined ? parseDateTime(input.from, zone)! : current;
      const to = input.to !== undefined ? parseDateTime(input.to, zone)! : new Date(from.getTime() + DEFAULT_RANGE_DAYS * DAY_MS);
      if (to <= from) throw new RangeToolError('to must be after from');
      if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) throw new RangeToolError(`search at most ${MAX_RANGE_DAYS} days at once`);
      if (to <= current) throw new RangeToolError('the search range is entirely in the past');

      const { busy, unavailable } = await options.calendar.freeBusy({ start: from, end: to }, input.attendees, context.signal);
      const slots = freeSlots({
        from,
        to,
        now: current,
        durationMinutes: input.durationMinutes,
        stepMinutes: options.stepMinutes ?? 30,
        busy,
        hours: options.hours,
        limit: MAX_SLOTS,
      });
      return {
        timeZone: zone,
        durationMinutes: input.durationMinutes,
        slots: slots.map((slot) => ({ start: formatInZone(slot.start, zone), end: formatInZone(slot.end, zone) })),
        unchecked: unavailable,
        workingHours: describeHours(options.hours),
      };
    },
  });
}

export function describeHours(hours: WorkingHours): string {
  const clock = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
  const names = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  return `${hours.days.map((day) => names[day]).join(', ')} ${clock(hours.startMinute)}–${clock(hours.endMinute)} ${hours.timeZone}`;
}

class RangeToolError extends ToolExecutionError {
  constructor(message: string) {
    super(`invalid search range: ${message}`);
  }
}
