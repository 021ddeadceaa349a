import { z } from 'zod';

/**
 * What people type about a workspace (the console, the API, `npm run workspace:create`), checked
 * by one set of rules. Messages name what is wrong; none of these values is a secret.
 */

export const slugSchema = z
  .string({ error: 'expected a slug' })
  .trim()
  .regex(/^[a-z0-9-]{2,40}$/, 'expected 2 to 40 lowercase letters, digits or -');

export const workspaceNameSchema = z.string({ error: 'expected a name' }).trim().min(1, 'must not be empty').max(120, 'at most 120 characters');

/**
 * A web origin as browsers send it in `Origin` (scheme, host, port; no path): what the widget's
 * allowed origins are compared with. A trailing slash is forgiven, anything else after the host is not.
 */
export const originSchema = z
  .string({ error: 'expected an origin' })
  .trim()
  .transform((value) => value.replace(/\/$/, ''))
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
    } catch {
      return false;
    }
  }, 'expected an origin such as https://shop.example (scheme and host, no path)');

export const originListSchema = z
  .array(originSchema)
  .max(50, 'at most 50 origins')
  .transform((origins) => [...new Set(origins)]);

export const BINDABLE_CHANNELS = ['slack', 'sms', 'whatsapp', 'whatsapp-cloud'] as const;
export type BindableChannel = (typeof BINDABLE_CHANNELS)[number];

/**
 * The receiving identity of each channel, as the channels route by it (workspaces/env-identities.ts):
 * a Slack team id, a Twilio number in E.164 without `whatsapp:`, a WhatsApp Cloud phone number id.
 */
const IDENTITY_RULES: Record<BindableChannel, { normalize: (value: string) => string; pattern: RegExp; expected: string }> = {
  slack: { normalize: (value) => value.toUpperCase(), pattern: /^T[A-Z0-9]{2,20}$/, expected: 'a Slack team id such as T024BE7LD' },
  sms: { normalize: (value) => value.replace(/[\s().-]/g, ''), pattern: /^\+[1-9]\d{6,14}$/, expected: 'a phone number in E.164 such as +14155550100' },
  whatsapp: {
    normalize: (value) => value.replace(/^whatsapp:/i, '').replace(/[\s().-]/g, ''),
    pattern: /^\+[1-9]\d{6,14}$/,
    expected: 'a WhatsApp sender number in E.164 such as +14155550100',
  },
  'whatsapp-cloud': { normalize: (value) => value, pattern: /^\d{5,30}$/, expected: 'a WhatsApp Cloud phone number id (digits)' },
};

export const channelBindingSchema = z
  .object({
    channel: z.enum(BINDABLE_CHANNELS, { error: `expected one of ${BINDABLE_CHANNELS.join(', ')}` }),
    identity: z.string({ error: 'expected the receiving identity' }).trim().max(64, 'at most 64 characters'),
  })
  .strict()
  .transform((binding, ctx) => {
    const rule = IDENTITY_RULES[binding.channel];
    const identity = rule.normalize(binding.identity);
    if (!rule.pattern.test(identity)) {
      ctx.addIssue({ code: 'custom', path: ['identity'], message: `expected ${rule.expected}` });
      return z.NEVER;
    }
    return { channel: binding.channel, identity };
  });

/** `<script>` for a page that embeds this workspace's widget. */
export function embedSnippet(baseUrl: string, widgetKey: string): string {
  return `<script src="${baseUrl.replace(/\/+$/, '')}/widget.js" data-workspace-key="${widgetKey}" defer></script>`;
}
