import type { Feature, StartupFacts } from './startup-facts.js';

/** The example command for an account (the README's quick start says the same). */
const CREATE_ACCOUNT_COMMAND = 'npm run admin:create -- --email you@example.com --role admin';

interface Style {
  bold(text: string): string;
  dim(text: string): string;
  on(text: string): string;
  off(text: string): string;
  token(text: string): string;
}

const ansi = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;
const COLORS: Style = { bold: ansi(1, 22), dim: ansi(2, 22), on: ansi(32, 39), off: ansi(33, 39), token: (text) => ansi(1, 22)(ansi(36, 39)(text)) };
const PLAIN: Style = { bold: (text) => text, dim: (text) => text, on: (text) => text, off: (text) => text, token: (text) => text };

/**
 * The start-up banner for a person at a terminal: where to go, how to get into the console
 * (with the first-run setup token, the only place it is ever shown), and what is on and off.
 * `setupToken` is the generated token, passed once; colours, and the terminal's width, only on a real terminal.
 */
export function renderBanner(facts: StartupFacts, options: { setupToken?: string | undefined; colors: boolean; columns?: number | undefined }): string {
  const style = options.colors ? COLORS : PLAIN;
  const columns = Math.min(120, Math.max(60, options.columns ?? 100));
  const lines: string[] = [''];
  const storage =
    facts.database.kind === 'pglite' ? `embedded database in ${facts.database.dataDir}` : 'PostgreSQL';
  lines.push(`  ${style.bold('Switchboard is running')}  ${style.dim(`· ${storage} · ${facts.redis ? 'Redis' : 'no Redis: queue and limits in this process'}`)}`);
  lines.push('');
  lines.push(`  Demo page       ${facts.demoUrl}`);
  lines.push(`  Admin console   ${facts.adminUrl}`);
  lines.push('');
  lines.push(...accountLines(facts, options.setupToken, style));
  lines.push('');
  const models = facts.providers.some((provider) => provider.on);
  lines.push(`  ${style.bold('Models')}${models ? '' : style.dim('    none on: every message gets FALLBACK_REPLY')}`);
  lines.push(...featureLines(facts.providers, style, columns));
  lines.push(`  ${style.bold('Tools')}`);
  lines.push(...featureLines(groupByReason(facts.tools), style, columns));
  lines.push(`  ${style.bold('Channels')}`);
  lines.push(...featureLines(facts.channels, style, columns));
  lines.push('');
  lines.push(style.dim('  Logs follow (LOG_FORMAT=json for JSON lines). Ctrl-C stops the server.'));
  lines.push('');
  return `${lines.join('\n')}\n`;
}

function accountLines(facts: StartupFacts, setupToken: string | undefined, style: Style): string[] {
  const embedded = facts.database.kind === 'pglite';
  const sso = facts.signIn.sso ? [`    Sign in with ${facts.signIn.sso} at ${facts.adminUrl}: an account is made at the first sign-in.`] : [];
  if (!facts.accounts.firstRun || !facts.signIn.passwordLogin) {
    return [
      `  ${style.bold('Accounts')}`,
      ...sso,
      ...(facts.signIn.passwordLogin
        ? [
            `    Log in at ${facts.adminUrl}. Someone new: an admin runs`,
            `    ${CREATE_ACCOUNT_COMMAND}${embedded ? style.dim('   (with the server stopped)') : ''}`,
          ]
        : ['    Password login is off (ADMIN_PASSWORD_LOGIN=false).']),
    ];
  }
  const lines = [`  ${style.bold('First admin account')}`, ...sso, `    No account exists yet. Open ${facts.adminUrl} and enter this one-time setup token:`, ''];
  if (setupToken) lines.push(`        ${style.token(setupToken)}`);
  else if (facts.accounts.tokenFrom === 'ADMIN_SETUP_TOKEN') lines.push('        (the value of ADMIN_SETUP_TOKEN)');
  else lines.push(`        (in ${facts.accounts.tokenFile ?? 'the first start-up output'})`);
  lines.push('');
  const file = facts.accounts.tokenFile ? ` (also in ${facts.accounts.tokenFile})` : '';
  lines.push(`    It works once, until an account exists${file}.`);
  lines.push(`    Or ${embedded ? 'stop the server and ' : ''}run: ${CREATE_ACCOUNT_COMMAND}`);
  return lines;
}

function featureLines(features: readonly Feature[], style: Style, columns: number): string[] {
  const nameWidth = Math.min(22, Math.max(...features.map((feature) => feature.name.length))) + 2;
  return features.flatMap((feature) => {
    // A name too long for the column (three tools that are off for one reason) gets a line of its own.
    const head = feature.name.length < nameWidth ? [`    ${feature.name.padEnd(nameWidth)}`] : [`    ${feature.name}`, ' '.repeat(4 + nameWidth)];
    const prefix = head.pop()!;
    const state = feature.on ? 'on' : 'off';
    const separator = feature.note ? (feature.on ? ' · ' : ' — ') : '';
    const hang = ' '.repeat(prefix.length + state.length + separator.length);
    const [first = '', ...rest] = wrap(feature.note ?? '', Math.max(20, columns - hang.length));
    const note = (text: string) => (feature.on ? text : style.dim(text));
    return [
      ...head,
      `${prefix}${feature.on ? style.on(state) : style.off(state)}${note(`${separator}${first}`)}`.trimEnd(),
      ...rest.map((line) => `${hang}${note(line)}`),
    ];
  });
}

/** Words into lines of at most `width` characters (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}

/** Tools that are off for the same reason (the three Google ones) share one line. */
function groupByReason(tools: readonly Feature[]): Feature[] {
  const grouped: Feature[] = [];
  for (const tool of tools) {
    const same = tool.on ? undefined : grouped.find((entry) => !entry.on && entry.note === tool.note);
    if (same) same.name = `${same.name}, ${tool.name}`;
    else grouped.push({ ...tool });
  }
  return grouped;
}
