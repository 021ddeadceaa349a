import { parseArgs } from 'node:util';

export const SCENARIOS = ['serial', 'load', 'idle', 'handoff', 'webhook', 'whatsapp'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenarios: ScenarioName[];
  /** serial: measured messages, and unmeasured warm-up messages before them. */
  messages: number;
  warmup: number;
  /** load: measured seconds, unmeasured warm-up seconds before them, sockets, fake provider latency. */
  duration: number;
  warmupSeconds: number;
  sockets: number;
  latency: number;
  /** load: total messages/s the sockets offer, paced (0 = closed loop, each socket as fast as its replies come). */
  rate: number;
  /** idle: connected sockets, and how many connect at once. */
  idle: number;
  connectBatch: number;
  /** handoff: visitors taken over, and operator replies measured per visitor. */
  visitors: number;
  replies: number;
  /** handoff, webhook and whatsapp: run the server with no DATABASE_URL and no REDIS_URL (PGlite, in-process queue). */
  embedded: boolean;
  /** webhook: signed Stripe events offered per second (open loop), and measured seconds (`--rate`, `--duration`). */
  webhookRate: number;
  webhookDuration: number;
  /** whatsapp: signed Cloud API deliveries offered per second (`--rate`, measured for `--duration` as webhook's), and the model's latency (`--latency`). */
  whatsappRate: number;
  whatsappLatency: number;
  /** Characters per streamed delta from the fake provider. */
  chunkSize: number;
  /** serial and load: after this many turns a client reconnects as a new visitor (0 = never). */
  conversationTurns: number;
  /** Write a V8 CPU profile of the server for each scenario into this directory. */
  cpuProfileDir: string | undefined;
  /** Another checkout to benchmark with this harness, and its entry point (a `.js` entry runs without tsx). */
  serverRoot: string | undefined;
  serverEntry: string | undefined;
  /** Extra server settings, e.g. QUEUE_CONCURRENCY=256. */
  serverEnv: Record<string, string>;
  /** Exit 1 when a count target (rows marked `check`) is missed. */
  check: boolean;
  /** serial and load: count the server's write syscalls with `strace -c` over the window too (slows the server: its times are not valid then). */
  strace: boolean;
  /** serial: first messages of fresh conversations answered from the reply cache (0 = none). */
  cacheHits: number;
  /** serial and load: leave out the floors (bare socket.io, SDK, durable insert, BullMQ). */
  skipFloors: boolean;
  /** Rate-limit budgets on, at 1,000,000 (never binding), so their Redis commands are counted; off (0) by default. */
  rateLimits: boolean;
  /** The server talks to PostgreSQL directly, not through the counting proxy (no statement and commit counts; no proxy hop). */
  directPostgres: boolean;
  /** A/B: the baseline checkout (A), run against `--server-root` or this tree (B) in interleaved pairs. */
  abBaseline: string | undefined;
  pairs: number;
  /** serial and load: workspaces the clients are spread over, round-robin by widget key (1 = the default workspace, no key: the deployment as before workspaces). */
  workspaces: number;
  /** Workspaces A/B: the two workspace counts (A, B) run in interleaved pairs on this tree; undefined when not comparing. */
  workspacesAb: [number, number] | undefined;
}

export const USAGE = `npm run bench -- [options]
  --scenario=all                    serial, load, idle, handoff, webhook, whatsapp or all (default; a comma list works too)
  --messages=2000 --warmup=200      serial: measured messages after unmeasured warm-up messages
  --duration=30 --warmup-seconds=3  load: measured seconds after unmeasured warm-up seconds (webhook, whatsapp: warm-up too)
  --sockets=200 --latency=200       load: closed-loop sockets; fake provider latency in ms (whatsapp: 2000)
  --rate=0                          load: offer this many messages/s in all, paced per socket (0 = closed loop)
  --idle=10000 --connect-batch=250  idle: sockets to hold open; how many connect at once
  --visitors=20 --replies=10        handoff: visitors taken over by an operator; operator replies per visitor
  --rate=100 --duration=10          webhook: signed Stripe events/s, open loop, for this many measured seconds
                                    (after --warmup-seconds of unmeasured events); a /health floor at the same rate
  --rate=200 --duration=10          whatsapp: signed WhatsApp Cloud deliveries/s, open loop, as webhook's, with a
  --latency=2000                    slow model; then every reply and read receipt is awaited at a local Graph API
  --embedded                        handoff, webhook and whatsapp: the server without DATABASE_URL and REDIS_URL (PGlite, in-process queue)
  --chunk-size=16                   characters per streamed delta from the fake provider
  --conversation-turns=0            serial/load: start a new conversation every N turns (0 = never)
  --cpu-prof=DIR                    write a V8 CPU profile of the server per scenario into DIR
  --server-root=DIR                 benchmark another checkout (default: this repository)
  --server-entry=dist/main.js       its entry point: a .js entry is built first (npm run build) and runs
                                    under plain node, as npm start runs it; a .ts entry runs under tsx
  --server-env=NAME=VALUE           an extra server setting (repeatable), e.g. --server-env=QUEUE_CONCURRENCY=256
  --cache-hits=100                  serial: then this many first messages of fresh conversations answered from the reply cache
  --skip-floors                     serial/load: leave out the floors (bare socket.io echo, SDK call, durable insert, BullMQ)
  --direct-postgres                 serial/load: the server connects to PostgreSQL directly, not through the bench's counting
                                    proxy (one hop less per round trip; no statement and commit counts)
  --rate-limits                     serial/load/idle: rate-limit budgets on at 1,000,000 (measured, never binding) instead of off
  --strace                          serial/load: also strace -c the server's write/writev/sendto/sendmsg over the window
                                    (ptrace slows the server: that run's times and CPU are not valid)
  --check                           exit 1 when a count target is missed (Redis commands per turn, cache hit,
                                    write syscalls B/A in --ab, idle RSS)
  --ab=DIR --pairs=2                A/B: DIR (baseline, A) against --server-root or this tree (B), serial and load
                                    (or --scenario), pairs interleaved A B A B; prints B/A per pair and their mean
  --workspaces=1                    serial/load: N > 1 creates N workspaces (each with its own SYSTEM_PROMPT) before the
                                    server starts and spreads the clients round-robin over their widget keys; each
                                    workspace's first turn runs before the warm-up and is reported on its own
  --workspaces-ab=1,100 --pairs=2   the same tree with A workspaces against B workspaces, serial and load (or --scenario),
                                    pairs interleaved A B A B; prints B/A (server CPU per message: target ≤ 1.1)`;

const EMBEDDED_SCENARIOS: ReadonlySet<ScenarioName> = new Set(['handoff', 'webhook', 'whatsapp']);

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', default: 'all' },
      messages: { type: 'string', default: '2000' },
      warmup: { type: 'string', default: '200' },
      // No defaults: load, webhook and whatsapp default differently.
      duration: { type: 'string' },
      'warmup-seconds': { type: 'string', default: '3' },
      sockets: { type: 'string', default: '200' },
      latency: { type: 'string' },
      rate: { type: 'string' },
      idle: { type: 'string', default: '10000' },
      'connect-batch': { type: 'string', default: '250' },
      visitors: { type: 'string', default: '20' },
      replies: { type: 'string', default: '10' },
      embedded: { type: 'boolean', default: false },
      'chunk-size': { type: 'string', default: '16' },
      'conversation-turns': { type: 'string', default: '0' },
      'cpu-prof': { type: 'string' },
      'server-root': { type: 'string' },
      'server-entry': { type: 'string' },
      'server-env': { type: 'string', multiple: true, default: [] },
      check: { type: 'boolean', default: false },
      strace: { type: 'boolean', default: false },
      'cache-hits': { type: 'string', default: '100' },
      'skip-floors': { type: 'boolean', default: false },
      'rate-limits': { type: 'boolean', default: false },
      'direct-postgres': { type: 'boolean', default: false },
      ab: { type: 'string' },
      pairs: { type: 'string', default: '2' },
      workspaces: { type: 'string', default: '1' },
      'workspaces-ab': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const comparing = values.ab !== undefined || values['workspaces-ab'] !== undefined;
  if (values.ab !== undefined && values['workspaces-ab'] !== undefined) throw new Error('--ab and --workspaces-ab: one comparison at a time');
  // A/B compares per-turn counts and CPU: serial and load unless named.
  const scenarios = parseScenarios(comparing && values.scenario === 'all' ? 'serial,load' : values.scenario);
  if (comparing && scenarios.some((name) => name !== 'serial' && name !== 'load')) {
    throw new Error(`${values.ab !== undefined ? '--ab' : '--workspaces-ab'}: only the serial and load scenarios run in A/B (use --scenario=serial, load or serial,load)`);
  }
  const workspaces = count('workspaces', values.workspaces, 1);
  const workspacesAb = values['workspaces-ab'] === undefined ? undefined : parseWorkspacesAb(values['workspaces-ab']);
  if ((workspaces > 1 || workspacesAb) && scenarios.some((name) => name !== 'serial' && name !== 'load')) {
    throw new Error('--workspaces: only the serial and load scenarios spread their clients over workspaces (use --scenario=serial, load or serial,load)');
  }
  const sockets = count('sockets', values.sockets, 1);
  if (scenarios.includes('load') && Math.max(workspaces, ...(workspacesAb ?? [])) > sockets) {
    throw new Error(`--workspaces: load spreads its ${sockets} sockets over the workspaces, one key a socket: at most --sockets workspaces`);
  }
  // The other scenarios' stack (and serial's PostgreSQL reference) needs PostgreSQL and Redis.
  if (values.embedded && scenarios.some((name) => !EMBEDDED_SCENARIOS.has(name))) {
    throw new Error('--embedded: only the handoff, webhook and whatsapp scenarios run embedded (use --scenario=handoff, webhook or whatsapp)');
  }
  return {
    scenarios,
    messages: count('messages', values.messages, 1),
    warmup: count('warmup', values.warmup, 0),
    duration: count('duration', values.duration ?? '30', 1),
    warmupSeconds: count('warmup-seconds', values['warmup-seconds'], 0),
    sockets,
    latency: count('latency', values.latency ?? '200', 0),
    rate: count('rate', values.rate ?? '0', 0),
    idle: count('idle', values.idle, 1),
    connectBatch: count('connect-batch', values['connect-batch'], 1),
    visitors: count('visitors', values.visitors, 1),
    replies: count('replies', values.replies, 1),
    embedded: values.embedded,
    // Open loop only: a closed loop (load's --rate=0) means nothing for webhook deliveries.
    webhookRate: scenarios.includes('webhook') ? count('rate', values.rate ?? '100', 1) : 100,
    webhookDuration: count('duration', values.duration ?? '10', 1),
    whatsappRate: scenarios.includes('whatsapp') ? count('rate', values.rate ?? '200', 1) : 200,
    whatsappLatency: count('latency', values.latency ?? '2000', 0),
    chunkSize: count('chunk-size', values['chunk-size'], 1),
    conversationTurns: count('conversation-turns', values['conversation-turns'], 0),
    cpuProfileDir: values['cpu-prof'],
    serverRoot: values['server-root'],
    serverEntry: values['server-entry'],
    serverEnv: parseEnv(values['server-env']),
    check: values.check,
    strace: values.strace,
    cacheHits: count('cache-hits', values['cache-hits'], 0),
    skipFloors: values['skip-floors'],
    rateLimits: values['rate-limits'],
    directPostgres: values['direct-postgres'],
    abBaseline: values.ab,
    pairs: count('pairs', values.pairs, 1),
    workspaces,
    workspacesAb,
  };
}

function parseWorkspacesAb(value: string): [number, number] {
  const parts = value.split(',');
  if (parts.length !== 2) throw new Error(`--workspaces-ab: expected two workspace counts A,B (e.g. 1,100), got "${value}"`);
  return [count('workspaces-ab', parts[0]!.trim(), 1), count('workspaces-ab', parts[1]!.trim(), 1)];
}

function parseScenarios(value: string): ScenarioName[] {
  if (value === 'all') return [...SCENARIOS];
  const names = value.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`--scenario: unknown "${name}" (expected ${SCENARIOS.join(', ')} or all)`);
  }
  return names as ScenarioName[];
}

function count(name: string, value: string, min: number): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) throw new Error(`--${name}: expected an integer ≥ ${min}, got "${value}"`);
  return parsed;
}

function parseEnv(assignments: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const assignment of assignments) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(assignment);
    if (!match) throw new Error(`--server-env: expected NAME=VALUE, got "${assignment}"`);
    env[match[1]!] = match[2]!;
  }
  return env;
}
