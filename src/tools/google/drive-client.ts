import type { OAuth2Client } from 'google-auth-library';
import { drive_v3 } from 'googleapis/build/src/apis/drive/v3.js';
import type { IntegrationPolicy } from '../integration-policy.js';
import { withSlash } from './calendar-client.js';
import { toGoogleError } from './google-errors.js';

const INTEGRATION = 'Google Drive';
const FILE_FIELDS = 'id, name, mimeType, webViewLink';

export interface DriveFile {
  id: string;
  name: string;
  mimeType: string | null;
  webViewLink: string | null;
}

export type ShareRole = 'reader' | 'commenter' | 'writer';

/** What share_drive_file needs from Drive v3, behind the shared timeout/retry policy. */
export class DriveClient {
  readonly #api: drive_v3.Drive;

  constructor(
    auth: OAuth2Client,
    private readonly policy: IntegrationPolicy,
    rootUrl?: string,
  ) {
    this.#api = new drive_v3.Drive({ auth, ...(rootUrl !== undefined && { rootUrl: withSlash(rootUrl) }) });
  }

  /** Files (not in the trash) whose name is exactly `name`; at most 10. */
  async findByName(name: string, signal: AbortSignal): Promise<DriveFile[]> {
    const response = await this.policy.run({ integration: INTEGRATION, idempotent: true, signal }, (attemptSignal) =>
      this.#api.files
        .list(
          {
            q: `name = '${escapeQueryString(name)}' and trashed = false`,
            fields: `files(${FILE_FIELDS})`,
            pageSize: 10,
            supportsAllDrives: true,
            includeItemsFromAllDrives: true,
          },
          { retry: false, signal: attemptSignal },
        )
        .catch((error: unknown) => {
          throw toGoogleError(INTEGRATION, error);
        }),
    );
    return (response.data.files ?? []).map(toFile);
  }

  async getFile(fileId: string, signal: AbortSignal): Promise<DriveFile> {
    const response = await this.policy.run({ integration: INTEGRATION, idempotent: true, signal }, (attemptSignal) =>
      this.#api.files
        .get({ fileId, fields: FILE_FIELDS, supportsAllDrives: true }, { retry: false, signal: attemptSignal })
        .catch((error: unknown) => {
          throw toGoogleError(INTEGRATION, error);
        }),
    );
    return toFile(response.data);
  }

  /**
   * permissions.create for one user. Safe to repeat: Drive keeps one permission per
   * user and file, so a second identical call updates that one instead of adding another.
   */
  async share(fileId: string, email: string, role: ShareRole, signal: AbortSignal): Promise<{ permissionId: string; role: string }> {
    const response = await this.policy.run({ integration: INTEGRATION, idempotent: true, signal }, (attemptSignal) =>
      this.#api.permissions
        .create(
          {
            fileId,
            sendNotificationEmail: true,
            supportsAllDrives: true,
            fields: 'id, role, type',
            requestBody: { type: 'user', role, emailAddress: email },
          },
          { retry: false, signal: attemptSignal },
        )
        .catch((error: unknown) => {
          throw toGoogleError(INTEGRATION, error);
        }),
    );
    return { permissionId: response.data.id ?? '', role: response.data.role ?? role };
  }
}

/** Drive query strings are single-quoted; backslash and quote are escaped with a backslash. */
export function escapeQueryString(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
}

function toFile(data: drive_v3.Schema$File): DriveFile {
  return { id: data.id ?? '', name: data.name ?? '', mimeType: data.mimeType ?? null, webViewLink: data.webViewLink ?? null };
}
