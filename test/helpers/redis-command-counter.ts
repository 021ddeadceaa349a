import { Redis } from 'ioredis';

/** Commands by name (lower case), e.g. { evalsha: 3, get: 1 }. */
export type CommandCounts = Record<string, number>;

/** One command a client sent, as MONITOR saw it. */
export interface SentCommand {
  args: string[];
  /** The commands a script run by this one issued itself (0 for a plain command). */
  scriptCalls: number;
}

export interface RedisCommandWindow {
  /** What clients sent, by command: an EVALSHA is one, whatever its script runs. */
  sent: CommandCounts;
  /** Every command Redis ran (INFO commandstats deltas): `sent` plus the calls scripts made (BullMQ's, the rate limits'). */
  executed: CommandCounts;
  /** What clients sent, in order, with their arguments (the keys name the part that sent them). */
  log: string[][];
  /** The same, each with the commands its script ran. */
  commands: SentCommand[];
}

/**
 * Counts the commands a Redis server receives between `window()` and `read()`: meant for a
 * private redis-server (test/helpers/private-redis.ts) that only the app under test talks to.
 * Two views, since they differ by the work scripts do: MONITOR sees each command a client sent
 * once (and, after a script's own line, the commands that script ran), INFO commandstats counts
 * every command run. The counter's own commands are left out of both.
 */
export class RedisCommandCounter {
  readonly #client: Redis;
  #monitor: Awaited<ReturnType<Redis['monitor']>> | undefined;
  #before: CommandCounts = {};
  #commands: SentCommand[] = [];
  #flushed: (() => void) | undefined;
  #lastSentAt = 0;

  constructor(url: string) {
    this.#client = new Redis(url, { maxRetriesPerRequest: 1 });
  }

  /** Starts monitoring; counts from now. */
  async start(): Promise<void> {
    await this.#client.ping();
    const own = `127.0.0.1:${this.#client.stream.localPort}`;
    this.#monitor = await this.#client.monitor();
    this.#monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === own) {
        if (args[0]?.toLowerCase() === 'ping') this.#flushed?.();
        return;
      }
      // Redis runs a script's commands right after the script's own line: they are that script's.
      if (source === 'lua') {
        const script = this.#commands.at(-1);
        if (script) script.scriptCalls++;
        return;
      }
      this.#commands.push({ args, scriptCalls: 0 });
      this.#lastSentAt = Date.now();
    });
    await this.window();
  }

  /** Starts a fresh window: counts from now. */
  async window(): Promise<void> {
    await this.flush();
    this.#commands = [];
    this.#before = await this.commandstats();
  }

  /** The counts since `start()` / the last `window()` (read once per window). */
  async read(): Promise<RedisCommandWindow> {
    const after = await this.commandstats();
    await this.flush();
    const executed: CommandCounts = {};
    for (const [name, calls] of Object.entries(after)) {
      // Less the counter's own: the INFO that took the `before` snapshot (each counts once it has run).
      const delta = calls - (this.#before[name] ?? 0) - (name === 'info' ? 1 : 0);
      if (delta > 0) executed[name] = delta;
    }
    const sent: CommandCounts = {};
    for (const { args } of this.#commands) sent[args[0]!.toLowerCase()] = (sent[args[0]!.toLowerCase()] ?? 0) + 1;
    return { sent, executed, log: this.#commands.map(({ args }) => args), commands: [...this.#commands] };
  }

  /** Resolves once no client has sent a command for `quietMs` (what a turn sends after its reply is in by then). */
  async quiet(quietMs = 150, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.#lastSentAt = Date.now();
    while (Date.now() - this.#lastSentAt < quietMs && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(10, quietMs - (Date.now() - this.#lastSentAt))));
    }
  }

  async stop(): Promise<void> {
    this.#monitor?.disconnect();
    this.#client.disconnect();
  }

  /** MONITOR reports commands in the order Redis runs them: once it reports this PING, it has reported every command before it. */
  private async flush(): Promise<void> {
    const seen = new Promise<void>((resolve) => (this.#flushed = resolve));
    await this.#client.ping();
    await seen;
  }

  private async commandstats(): Promise<CommandCounts> {
    const info = await this.#client.info('commandstats');
    const counts: CommandCounts = {};
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1]!.replace('|', ' ')] = Number(match[2]);
    return counts;
  }
}

/** The sum of a count map. */
export function total(counts: CommandCounts): number {
  return Object.values(counts).reduce((sum, calls) => sum + calls, 0);
}

/** Commands Redis ran for these: each one sent, plus its script's own calls. */
export function run(commands: readonly SentCommand[]): number {
  return commands.reduce((sum, command) => sum + 1 + command.scriptCalls, 0);
}

/**
 * Which part of Switchboard sent a command, from the keys it names (REDIS_PREFIX + the part's
 * own segment): `rate limits` (`:rl:`), `reply cache` (`:cache:`), `BullMQ` (`:bull:`), `server
 * count` (PUBSUB NUMSUB), `socket.io adapter` (its stream and sessions), `instance heartbeat`,
 * else `other`.
 */
export function partOf(args: readonly string[]): string {
  const text = args.join(' ');
  if (text.includes(':rl:')) return 'rate limits';
  if (text.includes(':cache:')) return 'reply cache';
  if (text.includes(':bull:')) return 'BullMQ';
  // The adapter's count of instances (the admin live feed asks it): names the adapter's channel.
  if (args[0]!.toLowerCase() === 'pubsub') return 'server count';
  if (text.includes('socket.io') || text.includes(':sio:')) return 'socket.io adapter';
  if (text.includes(':instance:')) return 'instance heartbeat';
  return 'other';
}

/** A window's commands by part: what was sent, by command, and how many Redis ran in all. */
export function byPart(commands: readonly SentCommand[]): Record<string, { sent: CommandCounts; run: number }> {
  const parts: Record<string, { sent: CommandCounts; run: number }> = {};
  for (const command of commands) {
    const part = (parts[partOf(command.args)] ??= { sent: {}, run: 0 });
    const name = command.args[0]!.toLowerCase();
    part.sent[name] = (part.sent[name] ?? 0) + 1;
    part.run += 1 + command.scriptCalls;
  }
  return parts;
}

/**
 * The pollers' idle rounds in a window, which no message caused: BullMQ's worker waking from its
 * blocking wait (every few seconds) when no job was added in the window, and the adapter's stream
 * reader re-polling after its block timeout when nothing was added to the stream. Whether a
 * window catches one depends on the clock, not on the message; counts leave them out, and show them.
 */
export function idlePolling(commands: readonly SentCommand[]): Set<SentCommand> {
  const jobAdded = commands.some(({ args }) => args.some((arg) => /:bull:[^:]+:id$/.test(arg)));
  const streamWritten = commands.some(({ args }) => args[0]!.toLowerCase() === 'xadd');
  return new Set(
    commands.filter(({ args }) => {
      const part = partOf(args);
      if (part === 'BullMQ') return !jobAdded;
      return part === 'socket.io adapter' && args[0]!.toLowerCase() === 'xread' && !streamWritten;
    }),
  );
}
