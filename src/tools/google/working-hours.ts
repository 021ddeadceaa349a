import { DateTime } from 'luxon';
import type { Interval } from './calendar-client.js';

export interface WorkingHours {
  /** IANA zone the hours are in (the business's, not the visitor's). */
  timeZone: string;
  startMinute: number;
  endMinute: number;
  /** ISO weekdays, 1 = Monday. */
  days: readonly number[];
}

/** Whether [start, end) lies inside one working day's hours, in the business's zone. */
export function withinWorkingHours(start: Date, end: Date, hours: WorkingHours): boolean {
  const localStart = DateTime.fromJSDate(start, { zone: hours.timeZone });
  const localEnd = DateTime.fromJSDate(end, { zone: hours.timeZone });
  if (!hours.days.includes(localStart.weekday)) return false;
  const dayStart = localStart.startOf('day');
  const open = dayStart.plus({ minutes: hours.startMinute });
  const close = dayStart.plus({ minutes: hours.endMinute });
  return localStart >= open && localEnd <= close;
}

export function overlaps(a: Interval, b: Interval): boolean {
  return a.start < b.end && b.start < a.end;
}

/**
 * Free slots of `durationMinutes` between `from` and `to`: inside working hours,
 * starting on a `stepMinutes` grid of the business's clock, not before `now`, and
 * clear of every busy interval. Oldest first, at most `limit`.
 */
export function freeSlots(input: {
  from: Date;
  to: Date;
  now: Date;
  durationMinutes: number;
  stepMinutes: number;
  busy: Interval[];
  hours: WorkingHours;
  limit: number;
}): Interval[] {
  const { hours } = input;
  const slots: Interval[] = [];
  const earliest = input.from > input.now ? input.from : input.now;
  let day = DateTime.fromJSDate(earliest, { zone: hours.timeZone }).startOf('day');
  const last = DateTime.fromJSDate(input.to, { zone: hours.timeZone });
  while (day <= last && slots.length < input.limit) {
    if (hours.days.includes(day.weekday)) {
      const close = day.plus({ minutes: hours.endMinute });
      for (
        let start = day.plus({ minutes: hours.startMinute });
        start.plus({ minutes: input.durationMinutes }) <= close && slots.length < input.limit;
        start = start.plus({ minutes: input.stepMinutes })
      ) {
        const slot = { start: start.toJSDate(), end: start.plus({ minutes: input.durationMinutes }).toJSDate() };
        if (slot.start < earliest || slot.end > input.to) continue;
        if (input.busy.some((busy) => overlaps(slot, busy))) continue;
        slots.push(slot);
      }
    }
    day = day.plus({ days: 1 }).startOf('day');
  }
  return slots;
}

/** `2026-11-24T10:00:00+01:00` in the given zone (what the person reads). */
export function formatInZone(date: Date, timeZone: string): string {
  return DateTime.fromJSDate(date, { zone: timeZone }).toISO({ suppressMilliseconds: true })!;
}

/** Human text for summaries: "Tue 24 Nov 2026, 10:00–10:30 (Europe/Berlin)". */
export function describeRange(start: Date, end: Date, timeZone: string): string {
  const from = DateTime.fromJSDate(start, { zone: timeZone });
  const to = DateTime.fromJSDate(end, { zone: timeZone });
  return `${from.toFormat('ccc d LLL yyyy, HH:mm')}–${to.toFormat('HH:mm')} (${timeZone})`;
}

const LOCAL_OR_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})?$/;

/**
 * An ISO 8601 date-time: with `Z` or an offset it is absolute; without one it is
 * read as wall-clock time in `timeZone`. Undefined when it is not a real instant.
 */
export function parseDateTime(text: string, timeZone: string): Date | undefined {
  if (!LOCAL_OR_OFFSET.test(text)) return undefined;
  const parsed = DateTime.fromISO(text, { zone: timeZone });
  return parsed.isValid ? parsed.toJSDate() : undefined;
}

export const DATE_TIME_HINT = 'an ISO 8601 date-time such as 2026-11-24T10:00 (in timeZone) or 2026-11-24T10:00:00+01:00';

/** Whether `now` is inside working hours (a working day, between the start and end minute, in the business's zone). */
export function isOpen(now: Date, hours: WorkingHours): boolean {
  const local = DateTime.fromJSDate(now, { zone: hours.timeZone });
  if (!hours.days.includes(local.weekday)) return false;
  const minute = local.hour * 60 + local.minute;
  return minute >= hours.startMinute && minute < hours.endMinute;
}

/** The next time working hours start after `now`, e.g. "Monday 09:00 (Europe/Berlin)"; "tomorrow 09:00 (UTC)" when it is tomorrow. */
export function describeNextOpening(now: Date, hours: WorkingHours): string {
  const local = DateTime.fromJSDate(now, { zone: hours.timeZone });
  for (let offset = 0; offset <= 7; offset++) {
    const day = local.plus({ days: offset }).startOf('day');
    const opening = day.plus({ minutes: hours.startMinute });
    if (!hours.days.includes(day.weekday) || opening <= local) continue;
    const when = offset === 0 ? 'today' : offset === 1 ? 'tomorrow' : opening.toFormat('cccc');
    return `${when} at ${opening.toFormat('HH:mm')} (${hours.timeZone})`;
  }
  return 'soon';
}
