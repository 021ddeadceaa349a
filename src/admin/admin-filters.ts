import { z } from 'zod';
import { PAYMENT_EVENT_STATUSES, TOOL_CALL_STATUSES, type ToolCallStatus } from '../store/schema.js';
import { SwitchboardError } from '../errors/index.js';
import { hasUnstorableText } from '../store/storable-text.js';

/** Query strings are parsed here, once, into typed filters; a bad value is a 400 naming the field. */

const emptyAsUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
/** A search is not a message to keep: text the database cannot compare (NUL, lone surrogates) is refused. */
const optionalText = (max: number) =>
  z.preprocess(
    emptyAsUndefined,
    z.string().trim().max(max).refine((value) => !hasUnstorableText(value), 'must not contain NUL characters or lone surrogates').optional(),
  );
/** PostgreSQL's timestamps start at 4713 BC, but an ISO year 0000 (1 BC) or one past 9999 is refused by its parser. */
const optionalTime = z.preprocess(
  emptyAsUndefined,
  z.iso
    .datetime({ offset: true })
    .transform((value) => new Date(value))
    .refine((date) => date.getUTCFullYear() >= 1 && date.getUTCFullYear() <= 9999, 'must be a time between the years 0001 and 9999')
    .optional(),
);
const optionalBool = z.preprocess(emptyAsUndefined, z.enum(['true', 'false']).transform((value) => value === 'true').optional());
const statusList = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .transform((value, ctx) => {
      const statuses = value.split(',').map((status) => status.trim()).filter(Boolean);
      for (const status of statuses) {
        if (!(TOOL_CALL_STATUSES as readonly string[]).includes(status)) {
          ctx.addIssue({ code: 'custom', message: `unknown status "${status}" (expected ${TOOL_CALL_STATUSES.join(', ')})` });
          return z.NEVER;
        }
      }
      return statuses as ToolCallStatus[];
    })
    .optional(),
);

const page = {
  limit: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(200).default(50)),
  cursor: optionalText(500),
};

const timeRange = { from: optionalTime, to: optionalTime };

export const toolCallFiltersSchema = z.object({
  tool: optionalText(200),
  status: statusList,
  channel: optionalText(50),
  conversation: z.preprocess(emptyAsUndefined, z.uuid().optional()),
  user: optionalText(300),
  provider: optionalText(50),
  q: optionalText(200),
  ...timeRange,
  ...page,
}).strict();
export type ToolCallFilters = z.infer<typeof toolCallFiltersSchema>;

export const conversationFiltersSchema = z.object({
  channel: optionalText(50),
  user: optionalText(300),
  hasFallback: optionalBool,
  hasError: optionalBool,
  ...timeRange,
  ...page,
}).strict();
export type ConversationFilters = z.infer<typeof conversationFiltersSchema>;

export const paymentFiltersSchema = z.object({
  type: optionalText(100),
  outcome: optionalText(50),
  status: z.preprocess(emptyAsUndefined, z.enum(PAYMENT_EVENT_STATUSES).optional()),
  conversation: z.preprocess(emptyAsUndefined, z.uuid().optional()),
  ...timeRange,
  ...page,
}).strict();
export type PaymentFilters = z.infer<typeof paymentFiltersSchema>;

export const statsQuerySchema = z.object({ ...timeRange }).strict();

/** The person view's page of conversations. */
export const personQuerySchema = z.object({ ...page }).strict();

export const exportQuerySchema = toolCallFiltersSchema.omit({ limit: true, cursor: true }).extend({
  format: z.enum(['csv', 'json']).default('csv'),
});

export const idParamSchema = z.object({ id: z.uuid() });

/** Parses with a schema; failures become a 400 `invalid_payload` naming each bad field. */
export function parseQuery<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`);
    throw new SwitchboardError('invalid_payload', problems.join('; '));
  }
  return parsed.data;
}
