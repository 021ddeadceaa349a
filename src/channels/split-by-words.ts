/**
 * Greedy split on whitespace; a word that alone does not fit is cut between code
 * points (never inside a surrogate pair). Parts are trimmed and never empty.
 */
export function splitByWords(text: string, fits: (chunk: string) => boolean): string[] {
  const parts: string[] = [];
  let current = '';
  const flush = () => {
    const trimmed = current.trim();
    if (trimmed) parts.push(trimmed);
    current = '';
  };
  for (const token of text.trim().split(/(\s+)/)) {
    if (!token) continue;
    if (fits(current + token)) {
      current += token;
      continue;
    }
    flush();
    if (/^\s+$/.test(token)) continue;
    if (fits(token)) {
      current = token;
      continue;
    }
    for (const char of token) {
      if (!fits(current + char)) flush();
      current += char;
    }
  }
  flush();
  return parts;
}
