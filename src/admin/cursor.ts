import { z } from 'zod';
import { SwitchboardError } from '../errors/index.js';

/**
 * Keyset cursor over (timestamp, id), newest first. The timestamp travels as the
 * database's own microsecond text, so rows that a JavaScript Date (milliseconds)
 * would tie are never skipped or repeated.
 */
export interface Cursor {
  at: string;
  id: string;
}

const cursorTime = z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
    // A real instant (no 9999-99-99) in the years PostgreSQL parses: the regex alone lets impossible dates through to a 500.
    .refine((at) => isRealInstant(at));
const cursorShape = (id: z.ZodType<string>) => z.object({ at: cursorTime, id });

function isRealInstant(at: string): boolean {
  const year = Number(at.slice(0, 4));
  const date = new Date(`${at.slice(0, 23)}Z`);
  return year >= 1 && !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 19) === at.slice(0, 19);
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** `id`: how the list's row ids look (uuids, unless told otherwise: Stripe's event ids). */
export function decodeCursor(text: string, id: z.ZodType<string> = z.uuid()): Cursor {
  try {
    return cursorShape(id).parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
  } catch {
    throw new SwitchboardError('invalid_payload', 'cursor is not valid: pass back the nextCursor of an earlier page');
  }
}

/** SQL for a timestamptz column rendered as the cursor's `at` text. */
export const CURSOR_TIME_FORMAT = `YYYY-MM-DD"T"HH24:MI:SS.US"Z"`;
