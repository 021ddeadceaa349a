import { z } from 'zod';
import { ToolExecutionError } from '../errors/index.js';
import type { DriveClient, DriveFile, ShareRole } from './google/drive-client.js';
import { domainOf, emailField, strictFields } from './tool-inputs.js';
import { defineTool, type Tool } from './tool.js';

export interface ShareDriveFileOptions {
  drive: DriveClient;
  /** Domains that may receive any role, writer included. */
  allowedDomains: readonly string[];
  /** 'read': other domains may get reader/commenter; 'off': no sharing outside the allowed domains. */
  outsideSharing: 'read' | 'off';
}

export interface SharedFile {
  fileId: string;
  fileName: string;
  link: string | null;
  email: string;
  role: string;
}

const FIELDS = ['fileName', 'fileId', 'email', 'role'];

/**
 * The sharing policy is part of the input schema: a request to share outside the
 * allowed domains (a prompt-injected "share it with attacker@evil.test") is refused
 * as invalid before anything is asked of the person or of Drive.
 */
export function shareDriveFileInput(options: Pick<ShareDriveFileOptions, 'allowedDomains' | 'outsideSharing'>) {
  const allowed = new Set(options.allowedDomains.map((domain) => domain.toLowerCase()));
  return z
    .object(
      {
        fileName: z.string({ error: 'fileName must be text' }).trim().min(1, { error: 'fileName must not be empty' }).max(300, { error: 'fileName must be at most 300 characters' }).optional().describe('Exact file name; used when fileId is not known.'),
        fileId: z.string({ error: 'fileId must be text' }).regex(/^[A-Za-z0-9_-]{5,200}$/, { error: 'fileId must be a Drive file id (letters, digits, _ and -)' }).optional(),
        email: emailField('email').describe('Who gets access.'),
        role: z.enum(['reader', 'commenter', 'writer'], { error: 'role must be reader, commenter or writer' }),
      },
      strictFields(FIELDS),
    )
    .strict()
    .superRefine((input, ctx) => {
      if ((input.fileName === undefined) === (input.fileId === undefined)) {
        ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of fileName or fileId' });
      }
      const domain = domainOf(input.email);
      if (allowed.has(domain)) return;
      if (options.outsideSharing === 'off') {
        ctx.addIssue({ code: 'custom', path: ['email'], message: `sharing with addresses outside ${describeDomains(allowed)} is disabled` });
      } else if (input.role === 'writer') {
        ctx.addIssue({ code: 'custom', path: ['role'], message: `writer access is only for ${describeDomains(allowed)}; others can be reader or commenter` });
      }
    });
}

function describeDomains(domains: Set<string>): string {
  return domains.size === 0 ? 'the organisation (no domains are allowed)' : [...domains].join(', ');
}

export type ShareDriveFileInput = z.output<ReturnType<typeof shareDriveFileInput>>;

export function shareDriveFileTool(options: ShareDriveFileOptions): Tool<ShareDriveFileInput, SharedFile> {
  return defineTool({
    name: 'share_drive_file',
    description:
      'Share a Google Drive file with one person by email (reader, commenter or writer) and return its link. ' +
      'Find it by exact fileName, or by fileId when known. Writer access is limited to allowed domains.',
    input: shareDriveFileInput(options),
    confirmation: {
      required: (input) => input.role === 'writer',
      summary: (input) => `Give ${input.email} ${input.role} access to the Drive file “${input.fileName ?? input.fileId}”.`,
    },
    describeResult: (result) => `Shared “${result.fileName}” with ${result.email} as ${result.role}.${result.link ? ` Link: ${result.link}` : ''}`,
    async execute(input, context) {
      const file = input.fileId !== undefined ? await options.drive.getFile(input.fileId, context.signal) : await findOne(options.drive, input.fileName!, context.signal);
      const permission = await options.drive.share(file.id, input.email, input.role as ShareRole, context.signal);
      return { fileId: file.id, fileName: file.name, link: file.webViewLink, email: input.email, role: permission.role };
    },
  });
}

async function findOne(drive: DriveClient, name: string, signal: AbortSignal): Promise<DriveFile> {
  const files = await drive.findByName(name, signal);
  if (files.length === 0) throw new ToolExecutionError(`no Drive file is named “${name}”; ask for the exact name`);
  if (files.length > 1) {
    const choices = files.map((file) => `${file.name} (fileId ${file.id}${file.mimeType ? `, ${file.mimeType}` : ''})`).join('; ');
    throw new ToolExecutionError(`${files.length} files are named “${name}”; ask which one and call again with its fileId: ${choices}`);
  }
  return files[0]!;
}
