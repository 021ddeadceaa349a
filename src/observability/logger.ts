import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { redactLogObject } from './redaction.js';

export type Logger = PinoLogger;

/**
 * Paths whose values never reach a log line: credentials, signatures, and personal
 * data (phone numbers, emails, message text). Message ids travel instead.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-slack-signature"]',
  'req.headers["x-twilio-signature"]',
  '*.apiKey',
  '*.token',
  '*.password',
  '*.secret',
  '*.authorization',
  '*.cookie',
  '*.passwordHash',
  '*.sessionToken',
  '*.csrfToken',
  '*.email',
  '*.phone',
  '*.text',
  'text',
  'email',
  'phone',
  'token',
];

/** `destination` defaults to stdout; tests pass a stream to read the lines back. */
export function createLogger(options: { level: string; name?: string; destination?: DestinationStream }): Logger {
  return pino({
    name: options.name ?? 'switchboard',
    level: options.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // Values that slip past the paths (an email inside an error detail, a card number in tool arguments) are masked by the admin console's one redaction policy.
    formatters: { log: redactLogObject },
  }, options.destination);
}

export type LogFormat = 'pretty' | 'json';

/** pino's convention: pretty for a person at a terminal, JSON lines for everything else; `LOG_FORMAT` overrides. */
export function resolveLogFormat(setting: LogFormat | undefined, stdoutIsTty: boolean): LogFormat {
  return setting ?? (stdoutIsTty ? 'pretty' : 'json');
}

/**
 * The server's logger on stdout, as JSON lines or pretty. Pretty lines are formatted in this
 * thread, synchronously (pino-pretty's `prettyFactory`, loaded only then): no worker transport
 * to flush at exit, and every line is redacted exactly as the JSON one is before it is formatted.
 */
export async function createStdoutLogger(options: { level: string; format: LogFormat; colors: boolean }): Promise<Logger> {
  if (options.format === 'json') return createLogger({ level: options.level });
  const { prettyFactory } = await import('pino-pretty');
  const prettify = prettyFactory({ colorize: options.colors, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', singleLine: true });
  return createLogger({ level: options.level, destination: { write: (line: string) => void process.stdout.write(prettify(line)) } });
}

const LEVEL_METHODS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const noop = () => {};

/**
 * `parent.child(bindings)`, made only when a line is logged through it at an enabled level.
 * pino serialises a child's bindings when the child is made, through every redaction path
 * (about 13 KB of garbage for three ids): a logger made per message, which at `warn` usually
 * logs nothing, should not pay that on every message.
 */
export function deferredChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(parent, {
    get(_target, property) {
      if (typeof property === 'string' && LEVEL_METHODS.has(property) && !parent.isLevelEnabled(property)) return noop;
      child ??= parent.child(bindings);
      const value: unknown = Reflect.get(child, property, child);
      return typeof value === 'function' ? value.bind(child) : value;
    },
  });
}
