/**
 * Slack recommends at most 4,000 characters in a message's `text` (it truncates
 * far above that); we stay a little under so a reopened code fence still fits.
 */
export const SLACK_TEXT_LIMIT = 3_900;

const escapeSlack = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Converts the Markdown models write into Slack mrkdwn, leaving code untouched (apart from escaping). */
export function toSlackMrkdwn(markdown: string): string {
  // Split on fenced blocks and inline code so formatting rules never rewrite code.
  const pieces = markdown.split(/(```[\s\S]*?```|`[^`\n]+`)/g);
  return pieces
    .map((piece, index) => {
      if (index % 2 === 1) return escapeSlack(piece.replace(/^```[\w+-]*\n/, '```\n'));
      return convertProse(piece);
    })
    .join('');
}

function convertProse(text: string): string {
  const links: string[] = [];
  // Links first (escaping would break their brackets), parked as placeholders.
  let out = text.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, (_match, label: string, url: string) => {
    links.push(`<${url.replace(/\|/g, '%7C')}|${escapeSlack(label)}>`);
    return `\u0000${links.length - 1}\u0000`;
  });
  out = escapeSlack(out);
  out = out
    .replace(/^#{1,6}\s+(.+?)\s*#*$/gm, '\u0001$1\u0001')
    .replace(/^(\s*)[-*+]\s+/gm, '$1• ')
    .replace(/\*\*(.+?)\*\*|__(.+?)__/g, (_m, a?: string, b?: string) => `\u0001${a ?? b}\u0001`)
    .replace(/(^|[^*\w])\*(?!\s)([^*\n]+?)\*(?!\w)/g, '$1_$2_')
    .replace(/~~(.+?)~~/g, '~$1~')
    .replace(/\u0001/g, '*');
  return out.replace(/\u0000(\d+)\u0000/g, (_m, index: string) => links[Number(index)]!);
}

/**
 * Splits text into parts of at most `limit` characters, preferring paragraph, then
 * line, then word boundaries. A part that ends inside a code fence closes it and the
 * next part reopens it, so every part renders on its own.
 */
export function splitForSlack(text: string, limit = SLACK_TEXT_LIMIT): string[] {
  const parts: string[] = [];
  let rest = text.trim();
  let reopenFence = false;
  while (rest.length > 0) {
    const prefix: string = reopenFence ? '```\n' : '';
    const room = limit - prefix.length - 4; // room for a closing "\n```"
    const cut = rest.length <= room ? rest.length : bestCut(rest, room);
    let part: string = prefix + rest.slice(0, cut).trimEnd();
    rest = rest.slice(cut).trimStart();
    const openFence: boolean = (part.match(/```/g)?.length ?? 0) % 2 === 1;
    if (openFence && rest.length > 0) part += '\n```';
    reopenFence = openFence && rest.length > 0;
    if (part.trim()) parts.push(part);
  }
  return parts;
}

function bestCut(text: string, room: number): number {
  const window = text.slice(0, room);
  const minimum = Math.floor(room / 2);
  for (const separator of ['\n\n', '\n', ' ']) {
    const at = window.lastIndexOf(separator);
    if (at >= minimum) return at + separator.length;
  }
  return room;
}
