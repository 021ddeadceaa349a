import { Redis } from 'ioredis';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { Logger } from '../observability/logger.js';
import type { Workspace } from '../store/schema.js';
import type { WorkspaceRecords } from './workspace-records.js';

/** Why an inbound message found no workspace. */
export type RefusalReason = 'unknown_identity' | 'workspace_suspended' | 'origin_not_allowed';

export type RouteResult = { workspace: Workspace; refused?: undefined } | { workspace?: undefined; refused: RefusalReason };

export interface WorkspaceDirectoryOptions {
  records: WorkspaceRecords;
  logger: Logger;
  /** Other instances hear of changes on this Redis (pub/sub); without it the process is the only one. */
  redis?: { url: string; prefix: string } | undefined;
  /**
   * Identities the environment configures for the default workspace (TWILIO_SMS_FROM,
   * WHATSAPP_PHONE_NUMBER_ID, …): channel → identities. They route to `default` like a binding.
   */
  envIdentities?: ReadonlyMap<string, readonly string[]>;
  /** Told of every refusal (the metric); must not throw. */
  onRefused?: (channel: string, reason: RefusalReason) => void;
}

/** What the directory holds in memory: every workspace and binding, read in one go. */
interface Snapshot {
  byId: Map<string, Workspace>;
  byWidgetKey: Map<string, Workspace>;
  /** `channel\u0000identity` → workspace id. */
  bindings: Map<string, string>;
  /** `workspaceId\u0000channel` → its bound identities, sorted (the channels send from them). */
  identities: Map<string, string[]>;
}

const bindingKey = (channel: string, identity: string) => `${channel}\u0000${identity}`;

function identitiesByWorkspace(bindings: readonly { channel: string; identity: string; workspaceId: string }[]): Map<string, string[]> {
  const identities = new Map<string, string[]>();
  for (const binding of bindings) {
    const key = bindingKey(binding.workspaceId, binding.channel);
    const list = identities.get(key);
    if (list) list.push(binding.identity);
    else identities.set(key, [binding.identity]);
  }
  for (const list of identities.values()) list.sort();
  return identities;
}

/** Phone numbers keep their last four digits in the refusal record; other identities are business ids, kept whole. */
export function maskIdentity(identity: string): string {
  const digits = identity.replace(/^whatsapp:/, '');
  return /^\+?\d{7,}$/.test(digits) ? `${digits.slice(0, digits.startsWith('+') ? 2 : 1)}***${digits.slice(-4)}` : identity.slice(0, 64);
}

/**
 * Which workspace an inbound message belongs to, decided by the channel's own identity of the
 * receiving side, never by anything the sender writes. Everything is answered from memory (no
 * statement or Redis command per message); a change is read again here and announced to the
 * other instances on one pub/sub channel, and every instance reads the table again when it hears
 * it (or when its subscription comes back after a Redis outage, when it may have missed one).
 *
 * The rules, in order: a binding names the workspace; an identity the environment configures
 * belongs to `default`; while `default` is the only workspace everything is its (exactly the
 * deployment before workspaces); otherwise the message is refused and recorded.
 */
export class WorkspaceDirectory {
  #snapshot: Snapshot = { byId: new Map(), byWidgetKey: new Map(), bindings: new Map(), identities: new Map() };
  readonly #listeners = new Set<() => void>();
  #subscriber: Redis | undefined;
  #publisher: Redis | undefined;
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;

  private constructor(private readonly options: WorkspaceDirectoryOptions) {}

  static async open(options: WorkspaceDirectoryOptions): Promise<WorkspaceDirectory> {
    const directory = new WorkspaceDirectory(options);
    await directory.reload();
    await directory.listen();
    return directory;
  }

  private get channelName(): string {
    return `${this.options.redis?.prefix ?? ''}workspaces:changed`;
  }

  private async listen(): Promise<void> {
    const redis = this.options.redis;
    if (!redis) return;
    const { logger } = this.options;
    this.#publisher = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.#subscriber = new Redis(redis.url, { lazyConnect: true });
    this.#publisher.on('error', (error) => logger.warn({ err: error }, 'workspace directory: redis error'));
    this.#subscriber.on('error', (error) => logger.warn({ err: error }, 'workspace directory: redis subscriber error'));
    this.#subscriber.on('message', () => void this.reload().catch((error: unknown) => logger.error({ err: error }, 'workspaces could not be read again')));
    // A subscription that came back may have missed a change: read the table again.
    let subscribedOnce = false;
    this.#subscriber.on('ready', () => {
      if (subscribedOnce) void this.reload().catch((error: unknown) => logger.error({ err: error }, 'workspaces could not be read again'));
      subscribedOnce = true;
    });
    await Promise.all([this.#publisher.connect(), this.#subscriber.connect()]).catch((error: unknown) =>
      logger.warn({ err: error }, 'workspace directory: redis not reachable at start; changes made elsewhere are seen after a restart'),
    );
    await this.#subscriber.subscribe(this.channelName).catch(() => undefined);
  }

  /** Reads every workspace and binding again; concurrent calls share one read (and one more after it). */
  reload(): Promise<void> {
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      do {
        this.#reloadAgain = false;
        const [rows, bindings] = await Promise.all([this.options.records.list(), this.options.records.bindings()]);
        this.#snapshot = {
          byId: new Map(rows.map((row) => [row.id, row])),
          byWidgetKey: new Map(rows.map((row) => [row.widgetKey, row])),
          bindings: new Map(bindings.map((binding) => [bindingKey(binding.channel, binding.identity), binding.workspaceId])),
          identities: identitiesByWorkspace(bindings),
        };
      } while (this.#reloadAgain);
    })().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading.then(() => {
      for (const listener of this.#listeners) listener();
    });
  }

  /** After a change written here: read it back, and tell the other instances. */
  async changed(): Promise<void> {
    await this.reload();
    await this.#publisher?.publish(this.channelName, '1').catch((error: unknown) => this.options.logger.warn({ err: error }, 'workspace change not announced to other instances'));
  }

  /** Called after every reload (settings and credentials caches drop what they built). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get(id: string): Workspace | undefined {
    return this.#snapshot.byId.get(id);
  }

  get all(): Workspace[] {
    return [...this.#snapshot.byId.values()];
  }

  /** More than the default workspace exists: identities must name their workspace. */
  get isMulti(): boolean {
    const { byId } = this.#snapshot;
    return byId.size > 1 || (byId.size === 1 && !byId.has(DEFAULT_WORKSPACE_ID));
  }

  /** The workspace a channel identity is bound to (or configured for `default`), if any, regardless of status. */
  boundTo(channel: string, identity: string): string | undefined {
    const bound = this.#snapshot.bindings.get(bindingKey(channel, identity));
    if (bound) return bound;
    return this.options.envIdentities?.get(channel)?.includes(identity) ? DEFAULT_WORKSPACE_ID : undefined;
  }

  /**
   * A workspace's own identities on a channel: what it sends from (a Twilio number, a WhatsApp
   * Cloud phone number id). For `default`, the environment's come first.
   */
  identitiesOf(workspaceId: string, channel: string): readonly string[] {
    const bound = this.#snapshot.identities.get(bindingKey(workspaceId, channel)) ?? [];
    if (workspaceId !== DEFAULT_WORKSPACE_ID) return bound;
    const configured = this.options.envIdentities?.get(channel) ?? [];
    return configured.length === 0 ? bound : [...configured, ...bound.filter((identity) => !configured.includes(identity))];
  }

  /** The workspace of an inbound message received on `identity` (see the class comment for the rules). */
  route(channel: string, identity: string | undefined): RouteResult {
    const id = (identity && this.boundTo(channel, identity)) ?? (this.isMulti ? undefined : DEFAULT_WORKSPACE_ID);
    return this.usable(id);
  }

  /**
   * The web widget's workspace: by its public key (no key: the default workspace, whose widget the
   * server itself serves), then by the page's origin when the workspace lists allowed origins.
   */
  routeWidget(widgetKey: string | undefined, origin: string | undefined): RouteResult {
    const workspace = widgetKey ? this.#snapshot.byWidgetKey.get(widgetKey) : this.get(DEFAULT_WORKSPACE_ID);
    const result = this.usable(workspace?.id);
    if (!result.workspace) return result;
    const allowed = result.workspace.allowedOrigins;
    if (allowed.length > 0 && (!origin || !allowed.includes(origin))) return { refused: 'origin_not_allowed' };
    return result;
  }

  private usable(id: string | undefined): RouteResult {
    const workspace = id === undefined ? undefined : this.get(id);
    if (!workspace) return { refused: 'unknown_identity' };
    if (workspace.status !== 'active') return { refused: 'workspace_suspended' };
    return { workspace };
  }

  /** Records a refused inbound message (the receiving identity, masked; never the sender) and counts it. */
  async refuse(channel: string, identity: string | undefined, reason: RefusalReason): Promise<void> {
    this.options.onRefused?.(channel, reason);
    this.options.logger.warn({ channel, identity: identity && maskIdentity(identity), reason }, 'inbound message refused: no workspace for this identity');
    await this.options.records
      .recordRefusal({ channel, identity: identity ? maskIdentity(identity) : '(none)', reason })
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'refusal not recorded'));
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#subscriber?.disconnect();
    this.#publisher?.disconnect();
  }
}
