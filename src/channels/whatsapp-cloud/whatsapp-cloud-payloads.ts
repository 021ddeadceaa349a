import { z } from 'zod';
import { storableString } from '../../store/storable-text.js';

/**
 * Meta's `whatsapp_business_account` webhook, as far as the channel reads it: every
 * `entry[].changes[].value` may carry `messages` (with `contacts`) and `statuses`, for the phone
 * number in `metadata.phone_number_id`. Objects are loose: Meta adds fields at will.
 */
const waId = z.string().regex(/^\d{5,20}$/, 'expected a WhatsApp id (digits)');
const messageId = z.string().min(1).max(256).regex(/^[A-Za-z0-9._=:+/-]+$/, 'expected a WhatsApp message id (wamid…)');
const timestamp = z.string().regex(/^\d{1,12}$/);

export const cloudMessageSchema = z.looseObject({
  from: waId,
  id: messageId,
  timestamp,
  type: z.string().min(1).max(40),
  text: z.looseObject({ body: storableString({ max: 100_000 }) }).optional(),
  interactive: z
    .looseObject({
      type: z.string(),
      button_reply: z.looseObject({ id: z.string().max(256), title: storableString({ max: 100 }) }).optional(),
      list_reply: z.looseObject({ id: z.string().max(256), title: storableString({ max: 100 }) }).optional(),
    })
    .optional(),
  button: z.looseObject({ payload: storableString({ max: 1000 }).optional(), text: storableString({ max: 1000 }) }).optional(),
});
export type CloudMessage = z.infer<typeof cloudMessageSchema>;

export const cloudStatusSchema = z.looseObject({
  id: messageId,
  status: z.enum(['sent', 'delivered', 'read', 'failed', 'deleted', 'warning']),
  timestamp,
  recipient_id: z.string().max(40),
  errors: z.array(z.looseObject({ code: z.number(), title: z.string().max(500).optional(), message: z.string().max(1000).optional() })).optional(),
});
export type CloudStatus = z.infer<typeof cloudStatusSchema>;

const valueSchema = z.looseObject({
  messaging_product: z.literal('whatsapp'),
  metadata: z.looseObject({ phone_number_id: z.string().max(40), display_phone_number: z.string().max(40).optional() }),
  messages: z.array(z.unknown()).max(100).optional(),
  statuses: z.array(z.unknown()).max(1000).optional(),
});

export const webhookSchema = z.looseObject({
  object: z.literal('whatsapp_business_account'),
  entry: z
    .array(z.looseObject({ id: z.string().max(40), changes: z.array(z.looseObject({ field: z.string().max(60), value: z.unknown() })).max(100) }))
    .max(100),
});

/** Every change of the `messages` field, with its value read (other fields are not ours). */
export function messageValues(body: z.infer<typeof webhookSchema>): z.infer<typeof valueSchema>[] {
  const values: z.infer<typeof valueSchema>[] = [];
  for (const entry of body.entry) {
    for (const change of entry.changes) {
      if (change.field !== 'messages') continue;
      const value = valueSchema.safeParse(change.value);
      if (value.success) values.push(value.data);
    }
  }
  return values;
}

/**
 * The phone number ids a delivery names, read from a body whose signature is not checked yet: used
 * only to choose which workspaces' app secrets to check it with (at most 100 entries of 100
 * changes, as the schema allows; anything malformed is skipped).
 */
export function claimedPhoneNumberIds(body: unknown): Set<string> {
  const ids = new Set<string>();
  const entries = (body as { entry?: unknown } | null)?.entry;
  if (!Array.isArray(entries)) return ids;
  for (const entry of entries.slice(0, 100)) {
    const changes = (entry as { changes?: unknown } | null)?.changes;
    if (!Array.isArray(changes)) continue;
    for (const change of changes.slice(0, 100)) {
      const id = (change as { value?: { metadata?: { phone_number_id?: unknown } } } | null)?.value?.metadata?.phone_number_id;
      if (typeof id === 'string' && id.length <= 40) ids.add(id);
    }
  }
  return ids;
}

/** Confirm / Decline reply buttons carry the confirmation id: `confirm:<id>` / `decline:<id>`. */
export const CONFIRM_PREFIX = 'confirm:';
export const DECLINE_PREFIX = 'decline:';
