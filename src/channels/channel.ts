import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import type { Intake } from '../turn/intake.js';
import type { ReplyTransport } from '../turn/reply-transport.js';
import type { ConfirmationAnswerer } from './confirmation-answerer.js';
import type { OutboundDelivery } from './outbound-delivery.js';
import type { WebServer } from './web/web-events.js';
import type { WhatsAppWebClient } from './whatsapp-web/whatsapp-web-client.js';
import type { CredentialVault } from '../workspaces/credential-vault.js';
import type { WorkspaceConfigs } from '../workspaces/workspace-configs.js';
import type { WorkspaceDirectory } from '../workspaces/workspace-directory.js';
import type { WorkspaceRecords } from '../workspaces/workspace-records.js';

/** Everything a channel may use, handed over once when it mounts. */
export interface ChannelContext {
  config: Config;
  http: FastifyInstance;
  /** The socket.io server (the web channel's; detached on a worker, where it only broadcasts). */
  io: WebServer;
  /** Where a new client stands for connection state recovery, with the Redis adapter (see the web channel's session event). */
  recoveryOffset: () => string | undefined;
  /** The one way in: every inbound message goes through `intake.accept`. */
  intake: Intake;
  store: Store;
  /**
   * Which workspace an inbound message belongs to, by the channel's own receiving identity
   * (`route`, `routeWidget`); an unknown identity is refused with `refuse` (recorded), never
   * routed to the default workspace.
   */
  workspaces: WorkspaceDirectory;
  /** A workspace's effective config (its settings and credentials over the deployment's): outbound sends use its credentials. */
  workspaceConfigs: WorkspaceConfigs;
  /** Workspaces' sealed credentials: Slack keeps each installed team's bot token here (multi-workspace Slack needs it). */
  credentials?: CredentialVault;
  /** Channel bindings: an OAuth install binds its Slack team to the workspace (followed by `workspaces.changed()`). */
  workspaceRecords?: WorkspaceRecords;
  /** Outbound sends with the delivery retry policy and the `channel_deliveries` record. */
  delivery: OutboundDelivery;
  /** The person's answers to held sensitive calls (buttons, YES / NO). */
  confirmations: ConfirmationAnswerer;
  logger: Logger;
}

/**
 * A way people reach the assistant (the web widget, Slack, SMS, WhatsApp …). A channel
 * verifies and normalises what arrives into the one inbound-message shape and hands it
 * to the intake; it delivers replies through its `transport`. Nothing after the intake
 * knows which channel a message came from.
 */
export interface Channel {
  readonly name: string;
  readonly transport: ReplyTransport;
  /** Registers routes or listeners, or starts a session; called once, before the server listens. */
  mount(context: ChannelContext): Promise<void>;
  /** Stops sessions and timers; HTTP routes close with the server. */
  stop(): Promise<void>;
}

/** Documented test seams a channel factory may take instead of its real client. */
export interface ChannelSeams {
  /** Replaces the whatsapp-web.js client (no browser is started). */
  whatsAppWebClient?: () => WhatsAppWebClient;
}

/**
 * Builds the channels its settings turn on (none, one, or several, e.g. SMS and WhatsApp
 * through Twilio). A channel's module and SDK are loaded only when it is configured.
 */
export type ChannelFactory = (config: Config, setup: { logger: Logger; seams: ChannelSeams }) => Promise<Channel[]>;
