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
import { AdminLiveFeed } from './live-feed.js';
import { LoginLimiter } from './login-limiter.js';
import { registerAdminUi } from './ui-routes.js';

/** Wires the admin console (API, UI, live feed) onto the app's HTTP and socket.io servers. */
export async function attachAdminConsole(deps: {
  http: FastifyInstance;
  io: Server;
  db: Db;
  config: Config;
  metrics: Metrics;
  events: PipelineEvents;
  logger: Logger;
  redis?: Redis;
  channels?: ChannelAdminView;
  /** The handoff service and records (the operators' routes). */
  handoffs: AdminRouteDeps['handoffs'];
}): Promise<{ store: AdminStore; feed: AdminLiveFeed }> {
  const store = new AdminStore(deps.db);
  const auth = new AdminAuth(store, deps.config.ADMIN_TOKEN);
  const feed = new AdminLiveFeed(deps.io, {
    auth,
    db: deps.db,
    logger: deps.logger,
    audit: (actor, ip) => store.audit({ actor: actorName(actor), action: 'live-feed.subscribe', ip }),
  });
  feed.attach(deps.events);
  registerAdminRoutes(deps.http, {
    db: deps.db,
    config: deps.config,
    metrics: deps.metrics,
    store,
    auth,
    limiter: new LoginLimiter(deps.config.ADMIN_LOGIN_MAX_ATTEMPTS, deps.redis),
    logger: deps.logger,
    onLogout: (token) => feed.disconnectSession(token),
    handoffs: deps.handoffs,
    ...(deps.channels && { channels: deps.channels }),
  });
  await registerAdminUi(deps.http);
  return { store, feed };
}
