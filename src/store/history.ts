/** At most this many earlier messages are read for a turn's history (then trimmed to the size budget). */
export const HISTORY_ROWS = 200;

export interface HistoryEntry {
  role: 'user' | 'assistant';
  text: string;
}

/** A history row as the database returns it, newest first. */
export interface RawHistoryRow {
  role: 'user' | 'assistant';
  text: string;
  fallback: boolean;
}

/**
 * Newest turns kept first, trimmed to `charBudget` characters, returned oldest first.
 * Fallback replies are left out (the question stays): they say nothing and would only
 * teach the model to apologise.
 */
export function trimHistory(newestFirst: RawHistoryRow[], charBudget: number): HistoryEntry[] {
  const kept: HistoryEntry[] = [];
  let used = 0;
  for (const row of newestFirst) {
    if (row.fallback && row.role === 'assistant') continue;
    used += row.text.length;
    if (used > charBudget) break;
    kept.push({ role: row.role, text: row.text });
  }
  kept.reverse();
  // Providers expect the history to open with a user turn.
  while (kept[0]?.role === 'assistant') kept.shift();
  return kept;
}
