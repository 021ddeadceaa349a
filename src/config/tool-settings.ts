import { z } from 'zod';
import { isStripeCurrency } from './currencies.js';

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

const CURRENCY_EXPECTED = 'an ISO 4217 currency code that Stripe can charge in, such as usd';

/** `usd` → `USD`: one currency Stripe can charge in, upper-case as the checkout tool compares it. */
export const currencySetting = (fallback: string) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .default(fallback)
      .transform((value, ctx) => {
        const code = value.trim().toUpperCase();
        if (!/^[A-Z]{3}$/.test(code) || !isStripeCurrency(code)) {
          ctx.addIssue({ code: 'custom', message: `expected ${CURRENCY_EXPECTED}` });
          return z.NEVER;
        }
        return code;
      }),
  );

/**
 * `jpy:50000,eur:100` → `{ JPY: 50000, EUR: 100 }`: an amount in each listed currency's
 * own major unit (never converted). Errors point at the entry by position rather than
 * echo it, as every config error does.
 */
export const currencyAmountsSetting = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const amounts: Record<string, number> = {};
      if (value === undefined) return amounts;
      const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean);
      for (const [index, entry] of entries.entries()) {
        const refuse = (why: string) => {
          ctx.addIssue({ code: 'custom', message: `entry ${index + 1}: ${why}` });
          return z.NEVER;
        };
        const match = /^([A-Za-z]{3})\s*:\s*(\d+(?:\.\d+)?)$/.exec(entry);
        if (!match) return refuse('expected currency:amount with an amount of 0 or more, e.g. jpy:50000,eur:100');
        const code = match[1]!.toUpperCase();
        const amount = Number(match[2]);
        if (!isStripeCurrency(code)) return refuse(`expected ${CURRENCY_EXPECTED}`);
        if (Object.hasOwn(amounts, code)) return refuse('the currency is already listed in an earlier entry');
        if (!Number.isFinite(amount)) return refuse('the amount is too large');
        amounts[code] = amount;
      }
      return amounts;
    }),
);
