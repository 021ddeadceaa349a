import { z } from 'zod';

/**
 * Zod pieces for the tool settings in src/config/config.ts: kept here, next to
 * the code that reads them, so the config file stays a flat list.
 */

const emptyAsUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

export function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

export const timeZoneSetting = (fallback: string) =>
  z.preprocess(emptyAsUndefined, z.string().refine(isTimeZone, 'expected an IANA time zone such as Europe/Berlin').default(fallback));

/** `09:00-17:00` → minutes after midnight. */
export const workingHoursSetting = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .default('09:00-17:00')
    .transform((value, ctx) => {
      const match = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/.exec(value.trim());
      const start = match ? Number(match[1]) * 60 + Number(match[2]) : NaN;
      const end = match ? Number(match[3]) * 60 + Number(match[4]) : NaN;
      if (!match || end > 24 * 60 || end <= start) {
        ctx.addIssue({ code: 'custom', message: 'expected HH:MM-HH:MM with the end after the start, e.g. 09:00-17:00' });
        return z.NEVER;
      }
      return { startMinute: start, endMinute: end };
    }),
);

const DAY_NUMBERS: Record<string, number> = { mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6, sun: 7 };

/** `mon,tue,wed,thu,fri` → ISO weekday numbers (1 = Monday). */
export const workingDaysSetting = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .default('mon,tue,wed,thu,fri')
    .transform((value, ctx) => {
      const days = value.split(',').map((day) => day.trim().toLowerCase().slice(0, 3)).filter(Boolean);
      const numbers = days.map((day) => DAY_NUMBERS[day]);
      if (numbers.length === 0 || numbers.some((day) => day === undefined)) {
        ctx.addIssue({ code: 'custom', message: 'expected weekday names such as mon,tue,wed,thu,fri' });
        return z.NEVER;
      }
      return [...new Set(numbers as number[])].sort();
    }),
);

/** A comma-separated list, trimmed and lower-cased. */
export const nameListSetting = (fallback: string) =>
  z.preprocess(
    (value) => (value === undefined ? fallback : value),
    z.string().transform((value) => [...new Set(value.split(',').map((item) => item.trim().toLowerCase()).filter(Boolean))]),
  );

/**
 * `sms=find_meeting_slots,create_crm_lead;whatsapp=` → which tools each listed channel
 * may use (an empty list: none). Channels not listed may use every configured tool.
 */
export const toolPolicySetting = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const policy: Record<string, string[]> = {};
      if (value === undefined) return policy;
      for (const entry of value.split(';').map((part) => part.trim()).filter(Boolean)) {
        const match = /^([a-z0-9_-]{1,32})\s*=\s*([a-z0-9_,\s]*)$/i.exec(entry);
        if (!match) {
          ctx.addIssue({ code: 'custom', message: 'expected channel=tool,tool;channel=tool (e.g. sms=find_meeting_slots;whatsapp=)' });
          return z.NEVER;
        }
        policy[match[1]!.toLowerCase()] = match[2]!.split(',').map((tool) => tool.trim()).filter(Boolean);
      }
      return policy;
    }),
);
