import type { Db } from '../store/database.js';
import type { ToolCallFilters } from './admin-filters.js';
import { listToolCalls, type ToolCallListItem } from './tool-call-query.js';

/** An export holds at most this many rows (newest first); narrow the filters for more. */
export const EXPORT_MAX_ROWS = 10_000;

export const EXPORT_COLUMNS = [
  'id',
  'createdAt',
  'completedAt',
  'toolName',
  'status',
  'durationMs',
  'provider',
  'model',
  'channel',
  'user',
  'conversationId',
  'messageId',
  'arguments',
  'error',
] as const satisfies readonly (keyof ToolCallListItem)[];

/** One workspace's filtered list, redacted exactly as the table shows it, page by page up to EXPORT_MAX_ROWS. */
export async function collectExport(
  db: Db,
  workspaceId: string,
  filters: Omit<ToolCallFilters, 'limit' | 'cursor'>,
): Promise<{ items: ToolCallListItem[]; truncated: boolean }> {
  const items: ToolCallListItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await listToolCalls(db, workspaceId, { ...filters, limit: 200, cursor });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && items.length < EXPORT_MAX_ROWS);
  return { items: items.slice(0, EXPORT_MAX_ROWS), truncated: cursor !== undefined || items.length > EXPORT_MAX_ROWS };
}

export function toCsv(items: ToolCallListItem[]): string {
  const lines = [EXPORT_COLUMNS.join(',')];
  for (const item of items) lines.push(EXPORT_COLUMNS.map((column) => csvCell(item[column])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * RFC 4180 quoting, and a leading apostrophe on cells a spreadsheet would run as a
 * formula (=, +, -, @, tab, CR): tool arguments come from the model and are untrusted.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n']/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
