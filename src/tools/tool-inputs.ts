import { z } from 'zod';
import { isTimeZone } from '../config/tool-settings.js';

/** Zod pieces shared by the tools' input schemas, each with a message the model can act on. */

export const emailField = (name: string) =>
  z
    .string({ error: `${name} must be an email address` })
    .trim()
    .max(254, { error: `${name} must be at most 254 characters` })
    .pipe(z.email({ error: `${name} must be a valid email address such as ada@example.com` }))
    .transform((email) => email.toLowerCase());

export const timeZoneField = z
  .string({ error: 'timeZone must be an IANA time zone such as Europe/Berlin' })
  .refine(isTimeZone, { error: (issue) => `timeZone "${String(issue.input)}" is not an IANA time zone such as Europe/Berlin` });

export const durationField = z
  .number({ error: 'durationMinutes must be a whole number of minutes' })
  .int({ error: 'durationMinutes must be a whole number of minutes' })
  .min(5, { error: 'durationMinutes must be at least 5' })
  .max(480, { error: 'durationMinutes must be at most 480 (8 hours)' });

/** An error for `unrecognized_keys` that names the allowed fields. */
export function strictFields(fields: string[]) {
  return {
    error: (issue: { code?: string; keys?: string[] }) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field ${(issue.keys ?? []).map((key) => `"${key}"`).join(', ')}; the fields are ${fields.join(', ')}`
        : undefined,
  };
}

export function domainOf(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}
