import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import { bookMeetingTool } from './book-meeting.js';
import { createCrmLeadTool } from './create-crm-lead.js';
import { findMeetingSlotsTool } from './find-meeting-slots.js';
import type { GoogleCredentials } from './google/google-auth.js';
import type { WorkingHours } from './google/working-hours.js';
import { IntegrationPolicy } from './integration-policy.js';
import { shareDriveFileTool } from './share-drive-file.js';
import type { AnyTool } from './tool.js';

const CALENDAR_SCOPES = ['https://www.googleapis.com/auth/calendar'];
const DRIVE_SCOPES = ['https://www.googleapis.com/auth/drive'];

export const TOOL_NAMES = ['find_meeting_slots', 'book_meeting', 'share_drive_file', 'create_checkout_link', 'create_crm_lead'] as const;

export interface ToolAvailability {
  tool: string;
  available: boolean;
  /** Why a tool is not offered: the settings it is missing. */
  reason?: string;
}

/**
 * The integrations that are configured become tools; an unconfigured one is not offered to
 * the model. Each integration's SDK (stripe, googleapis, @hubspot/api-client: megabytes of
 * resident memory each) is loaded only when its tool is configured.
 */
export async function buildTools(config: Config, logger: Logger): Promise<AnyTool[]> {
  const tools: AnyTool[] = [];
  const policy = new IntegrationPolicy({
    timeoutMs: config.INTEGRATION_TIMEOUT_MS,
    maxRetries: config.INTEGRATION_RETRIES,
    retryBaseMs: config.INTEGRATION_RETRY_BASE_MS,
  });

  if (config.STRIPE_SECRET_KEY) {
    const { createCheckoutLinkTool, createStripeClient } = await import('./create-checkout-link.js');
    const publicUrl = config.PUBLIC_URL ?? `http://localhost:${config.PORT}`;
    tools.push(
      createCheckoutLinkTool({
        stripe: createStripeClient({ secretKey: config.STRIPE_SECRET_KEY.reveal(), apiUrl: config.STRIPE_API_URL }),
        successUrl: config.CHECKOUT_SUCCESS_URL ?? `${publicUrl}/?checkout=success`,
        cancelUrl: config.CHECKOUT_CANCEL_URL ?? `${publicUrl}/?checkout=cancelled`,
        maxAmount: config.CHECKOUT_MAX_AMOUNT,
        // The per-currency list wins for its currencies, as FALLBACK_REPLY_BY_CHANNEL does for channels.
        confirmAbove: { [config.CHECKOUT_CONFIRM_CURRENCY]: config.CHECKOUT_CONFIRM_ABOVE, ...config.CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY },
      }) as AnyTool,
    );
  }

  const google = googleCredentials(config);
  if (google.credentials) {
    const [{ CalendarClient }, { DriveClient }, { createGoogleAuth }] = await Promise.all([
      import('./google/calendar-client.js'),
      import('./google/drive-client.js'),
      import('./google/google-auth.js'),
    ]);
    const hours: WorkingHours = {
      timeZone: config.WORKING_TIME_ZONE,
      startMinute: config.WORKING_HOURS.startMinute,
      endMinute: config.WORKING_HOURS.endMinute,
      days: config.WORKING_DAYS,
    };
    const calendar = new CalendarClient(createGoogleAuth(google.credentials, CALENDAR_SCOPES), {
      calendarId: config.GOOGLE_CALENDAR_ID,
      policy,
      rootUrl: config.GOOGLE_API_URL,
    });
    const drive = new DriveClient(createGoogleAuth(google.credentials, DRIVE_SCOPES), policy, config.GOOGLE_API_URL);
    tools.push(findMeetingSlotsTool({ calendar, hours }) as AnyTool);
    tools.push(bookMeetingTool({ calendar, hours }) as AnyTool);
    tools.push(shareDriveFileTool({ drive, allowedDomains: config.DRIVE_ALLOWED_DOMAINS, outsideSharing: config.DRIVE_OUTSIDE_SHARING }) as AnyTool);
  }

  if (config.HUBSPOT_ACCESS_TOKEN) {
    const { HubSpotClient } = await import('./hubspot/hubspot-client.js');
    tools.push(createCrmLeadTool({ hubspot: new HubSpotClient(config.HUBSPOT_ACCESS_TOKEN.reveal(), policy, config.HUBSPOT_API_URL) }) as AnyTool);
  }

  const unavailable = toolAvailability(config).filter((entry) => !entry.available);
  logger.info({ tools: tools.map((tool) => tool.name), unavailable }, 'tools offered to the model');
  return tools;
}

/** Each built-in tool: offered or not, and if not, why (for the start-up log and the admin health view). */
export function toolAvailability(config: Config): ToolAvailability[] {
  const google = googleCredentials(config);
  const stripe = config.STRIPE_SECRET_KEY ? undefined : 'STRIPE_SECRET_KEY is not set';
  const hubspot = config.HUBSPOT_ACCESS_TOKEN ? undefined : 'HUBSPOT_ACCESS_TOKEN is not set';
  const reasons: Record<(typeof TOOL_NAMES)[number], string | undefined> = {
    find_meeting_slots: google.missing,
    book_meeting: google.missing,
    share_drive_file: google.missing,
    create_checkout_link: stripe,
    create_crm_lead: hubspot,
  };
  return TOOL_NAMES.map((tool) => (reasons[tool] === undefined ? { tool, available: true } : { tool, available: false, reason: reasons[tool] }));
}

function googleCredentials(config: Config): { credentials?: GoogleCredentials; missing?: string } {
  if (config.GOOGLE_SERVICE_ACCOUNT_JSON) {
    return {
      credentials: {
        kind: 'service-account',
        json: config.GOOGLE_SERVICE_ACCOUNT_JSON.reveal(),
        ...(config.GOOGLE_DELEGATED_USER !== undefined && { subject: config.GOOGLE_DELEGATED_USER }),
        ...(config.GOOGLE_TOKEN_URL !== undefined && { tokenUrl: config.GOOGLE_TOKEN_URL }),
      },
    };
  }
  const oauth = { GOOGLE_CLIENT_ID: config.GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET: config.GOOGLE_CLIENT_SECRET, GOOGLE_REFRESH_TOKEN: config.GOOGLE_REFRESH_TOKEN };
  const absent = Object.entries(oauth).filter(([, value]) => value === undefined).map(([key]) => key);
  if (absent.length === 0) {
    return {
      credentials: {
        kind: 'oauth',
        clientId: config.GOOGLE_CLIENT_ID!,
        clientSecret: config.GOOGLE_CLIENT_SECRET!.reveal(),
        refreshToken: config.GOOGLE_REFRESH_TOKEN!.reveal(),
        ...(config.GOOGLE_TOKEN_URL !== undefined && { tokenUrl: config.GOOGLE_TOKEN_URL }),
      },
    };
  }
  if (absent.length < 3) return { missing: `Google OAuth is partly configured: ${absent.join(', ')} missing` };
  return { missing: 'no Google credentials: set GOOGLE_SERVICE_ACCOUNT_JSON, or GOOGLE_CLIENT_ID + GOOGLE_CLIENT_SECRET + GOOGLE_REFRESH_TOKEN' };
}
