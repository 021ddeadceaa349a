import type { WorkspaceDirectory } from '../workspaces/workspace-directory.js';
import type { WorkspaceRecords } from '../workspaces/workspace-records.js';
import type { CredentialVault } from '../workspaces/credential-vault.js';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import type { Config } from '../config/config.js';
import type { PipelineEvents } from '../observability/events.js';
import type { Db } from '../store/database.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { actorName, AdminAuth } from './admin-auth.js';
import { registerAdminRoutes, type AdminRouteDeps, type ChannelAdminView } from './admin-routes.js';
import { AdminStore } from './admin-store.js';
import { FirstRunSetup } from './first-run-setup.js';
import { AdminLiveFeed } from './live-feed.js';
import { LoginLimiter } from './login-limiter.js';
import { createSingleSignOn } from './oidc/oidc-routes.js';
import { oidcSettingsFrom } from './oidc/oidc-settings.js';
import { registerAdminUi } from './ui-routes.js';
import { registerWorkspaceRoutes } from './workspace-routes.js';

/** Wires the admin console (API, UI, live feed) onto the app's HTTP and socket.io servers. */
export async function attachAdminConsole(deps: {
  http: FastifyInstance;
  io: Server;
  db: Db;
  config: Config;
  /** The workspace directory and its statements (workspace management, the owner's switcher). */
  workspaces: { directory: WorkspaceDirectory; records: WorkspaceRecords };
  /** The workspaces' sealed credentials (the console's Workspace view stores and lists them, masked). */
  credentials?: CredentialVault;
  metrics: Metrics;
  events: PipelineEvents;
  logger: Logger;
  redis?: Redis;
  channels?: ChannelAdminView;
  /** The handoff service and records (the operators' routes). */
  handoffs: AdminRouteDeps['handoffs'];
  /** Offer the first-run setup when no account exists (a worker serves no console). */
  firstRun?: boolean;
}): Promise<{ store: AdminStore; feed: AdminLiveFeed; setup: FirstRunSetup | undefined }> {
  const store = new AdminStore(deps.db);
  // The setup makes a password account: with password login off, the first admin comes through single sign-on.
  const setup = deps.firstRun && deps.config.ADMIN_PASSWORD_LOGIN
    ? await FirstRunSetup.prepare({ store, logger: deps.logger, dataDir: deps.config.DATA_DIR, configuredToken: deps.config.ADMIN_SETUP_TOKEN })
    : undefined;
  const auth = new AdminAuth(store, deps.config.ADMIN_TOKEN, deps.workspaces.directory);
  const oidc = oidcSettingsFrom(deps.config);
  const feed = new AdminLiveFeed(deps.io, {
    auth,
    db: deps.db,
    logger: deps.logger,
    audit: (actor, ip) => store.audit({ actor: actorName(actor), action: 'live-feed.subscribe', ip, workspaceId: actor.workspaceId }),
  });
  feed.attach(deps.events);
  registerAdminRoutes(deps.http, {
    db: deps.db,
    config: deps.config,
    metrics: deps.metrics,
    store,
    auth,
    workspaces: deps.workspaces.directory,
    limiter: new LoginLimiter(deps.config.ADMIN_LOGIN_MAX_ATTEMPTS, deps.redis),
    logger: deps.logger,
    onLogout: (token) => feed.disconnectSession(token),
    handoffs: deps.handoffs,
    ...(deps.channels && { channels: deps.channels }),
    ...(oidc && { sso: createSingleSignOn(oidc, deps.logger) }),
    ...(setup && { setup: { setup, limiter: new LoginLimiter(deps.config.ADMIN_LOGIN_MAX_ATTEMPTS, deps.redis, `${deps.config.REDIS_PREFIX}:admin-setup`) } }),
  });
  registerWorkspaceRoutes(deps.http, { config: deps.config, db: deps.db, store, auth, ...deps.workspaces, credentials: deps.credentials });
  await registerAdminUi(deps.http);
  return { store, feed, setup };
}
