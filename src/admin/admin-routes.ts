import { registerAdminScope, secureCookies } from './admin-scope.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { Db } from '../store/database.js';
import { DELIVERY_STATUSES } from '../store/schema.js';
import type { WorkspaceDirectory } from '../workspaces/workspace-directory.js';
import { SwitchboardError } from '../errors/index.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { actorName, SESSION_COOKIE, WORKSPACE_HEADER, type AdminActor, type AdminAuth } from './admin-auth.js';
import {
  conversationFiltersSchema,
  exportQuerySchema,
  idParamSchema,
  parseQuery,
  paymentFiltersSchema,
  personQuerySchema,
  statsQuerySchema,
  toolCallFiltersSchema,
} from './admin-filters.js';
import { normalizeEmail, type AdminStore } from './admin-store.js';
import { getConversationDetail, listConversations } from './conversation-query.js';
import { listDeliveries } from './delivery-query.js';
import { listPaymentEvents } from './payment-query.js';
import { getPersonOfConversation } from './person-query.js';
import { loadHealth } from './health-view.js';
import { LoginRateLimitedError, type LoginLimiter } from './login-limiter.js';
import { decoyPasswordHash, verifyPassword } from './passwords.js';
import { redactValue } from '../observability/redaction.js';
import { loadStats } from './stats-query.js';
import { loadSpend, parseSpendQuery } from './spend-query.js';
import { collectExport, toCsv } from './tool-call-export.js';
import { getToolCallDetail, listToolCalls } from './tool-call-query.js';
import { registerAccountRoutes } from './account-routes.js';
import { registerHandoffRoutes, type HandoffRouteDeps } from './handoff-routes.js';
import { registerSetupRoutes, type SetupRouteDeps } from './setup-routes.js';
import { registerOidcRoutes, type SingleSignOn } from './oidc/oidc-routes.js';
import { OIDC_CALLBACK_PATH, OIDC_START_PATH } from './oidc/oidc-settings.js';

/** What the console shows of the messaging channels: WhatsApp Web pairing (deliveries it reads itself, per workspace: delivery-query.ts). */
export interface ChannelAdminView {
  /** The pairing of the WhatsApp Web channel the environment configures: the default workspace's. */
  whatsappWebPairing(): { state: string; qr: string | undefined; updatedAt: Date } | undefined;
}

const deliveriesQuery = z
  .object({ status: z.enum(DELIVERY_STATUSES).optional(), limit: z.coerce.number().int().min(1).max(500).default(100) })
  .strict();

export interface AdminRouteDeps {
  db: Db;
  config: Config;
  metrics: Metrics;
  store: AdminStore;
  auth: AdminAuth;
  /** Which workspaces exist (`/me` names the caller's when there are several). */
  workspaces: Pick<WorkspaceDirectory, 'get' | 'isMulti'>;
  limiter: LoginLimiter;
  logger: Logger;
  /** Called on logout so live-feed sockets of that session close too. */
  onLogout?: (sessionToken: string) => void;
  channels?: ChannelAdminView;
  /** The operators' inbox and actions (human handoff). */
  handoffs: Pick<HandoffRouteDeps, 'handoffs' | 'records'>;
  /** The first-run setup (`/api/admin/setup`) and its own attempt budget. */
  setup?: Pick<SetupRouteDeps, 'setup' | 'limiter'>;
  /** Sign-in through the company's identity provider (OIDC_*), when configured. */
  sso?: SingleSignOn;
}

declare module 'fastify' {
  interface FastifyRequest {
    adminActor?: AdminActor;
  }
}

const loginBody = z.object({ email: z.string().trim().min(3).max(320), password: z.string().min(1).max(1024) }).strict();

const UNAUTHORIZED = new SwitchboardError('unauthorized', 'authentication required');
/**
 * Routes reachable without credentials: the CSRF token, the login and the first-run setup (both
 * rate-limited), the login options, and single sign-on's start and callback (guarded by state and PKCE).
 */
const PUBLIC_ROUTES = new Set(['/api/admin/csrf', '/api/admin/login', '/api/admin/setup', '/api/admin/login-options', OIDC_START_PATH, OIDC_CALLBACK_PATH]);

/**
 * The admin JSON API under /api/admin, in its own encapsulated scope: cookies and
 * CSRF live here only. Every route but `csrf` and `login` needs a session cookie or
 * the ADMIN_TOKEN bearer and answers 401 with nothing else otherwise; every read is
 * written to admin_audit; state-changing routes need the CSRF token when the
 * caller authenticates by cookie (a bearer token is not sent by browsers on their own).
 *
 * Every route reads and writes the caller's workspace only (`adminActor.workspaceId`, see
 * AdminAuth): an id of another workspace is answered exactly as an id that does not exist. An
 * owner or the token holder picks the workspace with the `x-switchboard-workspace` header.
 */
export function registerAdminRoutes(http: FastifyInstance, deps: AdminRouteDeps): void {
  void http.register(
    async (scope) => {
      const secure = secureCookies(deps.config);
      await registerAdminScope(scope, deps.config, [
        (error, _request, reply) => {
          if (error instanceof LoginRateLimitedError) void reply.header('retry-after', String(error.retryAfterSeconds));
          return false;
        },
      ]);
      scope.setNotFoundHandler(async (request, reply) => {
        await authenticate(request);
        return reply.status(404).send({ error: { code: 'not_found', message: 'no such admin route' } });
      });

      const authenticate = async (request: FastifyRequest) => {
        const actor = await deps.auth.authenticate({
          authorization: request.headers.authorization,
          cookie: request.headers.cookie,
          workspace: request.headers[WORKSPACE_HEADER],
        });
        if (!actor) throw UNAUTHORIZED;
        request.adminActor = actor;
        return actor;
      };
      /** Route-level hook for state-changing routes. A bearer-token caller carries no ambient credentials, so CSRF cannot apply to it. */
      const csrf = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
        if (request.adminActor?.kind === 'token') return done();
        scope.csrfProtection(request, reply, done);
      };

      scope.addHook('onRequest', async (request) => {
        const path = request.url.split('?')[0]!;
        if (PUBLIC_ROUTES.has(path)) return;
        await authenticate(request);
      });
      scope.addHook('onSend', async (_request, reply, payload) => {
        void reply.header('cache-control', 'no-store');
        return payload;
      });

      const audit = async (request: FastifyRequest, action: string, detail?: unknown) => {
        await deps.store.audit({
          actor: actorName(request.adminActor!),
          action,
          detail: redactValue(detail ?? null, 'list'),
          ip: request.ip,
          workspaceId: request.adminActor!.workspaceId,
        });
      };

      /** A new session for an account that proved who it is: the cookie, with the same flags on every way in. */
      const startSession = async (reply: FastifyReply, user: { id: string }): Promise<Date> => {
        const session = await deps.store.createSession(user.id, deps.config.ADMIN_SESSION_TTL_HOURS * 3600_000);
        void reply.setCookie(SESSION_COOKIE, session.token, { path: '/', httpOnly: true, sameSite: 'strict', secure, expires: session.expiresAt });
        return session.expiresAt;
      };

      scope.get('/csrf', async (_request, reply) => ({ csrfToken: reply.generateCsrf() }));

      /** Which ways in the login screen offers (public: it shows before anyone signs in). */
      scope.get('/login-options', async () => ({
        password: deps.config.ADMIN_PASSWORD_LOGIN,
        sso: deps.sso ? { name: deps.sso.settings.providerName, startUrl: OIDC_START_PATH } : null,
      }));

      /** ADMIN_PASSWORD_LOGIN=false: refused before the CSRF check, so every caller gets the precise answer. */
      const passwordLoginEnabled = async (request: FastifyRequest) => {
        if (deps.config.ADMIN_PASSWORD_LOGIN) return;
        const email = (request.body as { email?: unknown } | undefined)?.email;
        await deps.store.audit({
          actor: typeof email === 'string' ? normalizeEmail(email).slice(0, 320) : 'password',
          action: 'login.failed',
          detail: { method: 'password', reason: 'password_login_disabled' },
          ip: request.ip,
        });
        const via = deps.sso ? ` sign in with ${deps.sso.settings.providerName}` : '';
        throw new SwitchboardError('password_login_disabled', `password login is switched off on this server;${via || ' ask an administrator'}`);
      };

      scope.post('/login', { preHandler: [passwordLoginEnabled, csrf] }, async (request, reply) => {
        const body = parseQuery(loginBody, request.body);
        try {
          await deps.limiter.consume(request.ip, body.email);
        } catch (error) {
          if (error instanceof LoginRateLimitedError) deps.metrics.rateLimited.inc({ scope: 'admin_login' });
          throw error;
        }
        const user = await deps.store.findUserByEmail(body.email);
        const valid = await verifyPassword(user?.passwordHash ?? (await decoyPasswordHash()), body.password);
        if (!user || !valid) {
          await deps.store.audit({ actor: body.email.toLowerCase(), action: 'login.failed', ip: request.ip });
          throw new SwitchboardError('unauthorized', 'wrong email or password');
        }
        await deps.limiter.succeeded(request.ip, body.email);
        const expiresAt = await startSession(reply, user);
        await deps.store.audit({ actor: user.email, action: 'login', ip: request.ip, workspaceId: user.workspaceId });
        return { email: user.email, expiresAt: expiresAt.toISOString() };
      });

      scope.post('/logout', { preHandler: csrf }, async (request, reply) => {
        const actor = request.adminActor!;
        if (actor.kind === 'session') {
          await deps.store.deleteSession(actor.sessionToken);
          deps.onLogout?.(actor.sessionToken);
        }
        await audit(request, 'logout');
        void reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return { ok: true };
      });

      scope.get('/me', async (request) => {
        const actor = request.adminActor!;
        // The token holder has acted with every power since before owners existed, and is still named `admin` here.
        const role = actor.kind === 'token' ? 'admin' : actor.role;
        const workspace = deps.workspaces.isMulti ? deps.workspaces.get(actor.workspaceId) : undefined;
        return {
          actor: actor.kind,
          email: actor.email,
          role,
          name: actor.kind === 'session' ? actor.name : 'Support',
          // Only once there are several: a single-workspace deployment answers as it always has.
          ...(workspace && { workspace: { id: workspace.id, slug: workspace.slug, name: workspace.name } }),
        };
      });

      registerHandoffRoutes(scope, { ...deps.handoffs, audit, csrf });
      registerAccountRoutes(scope, { store: deps.store, audit, csrf });
      if (deps.setup) registerSetupRoutes(scope, { ...deps.setup, store: deps.store, metrics: deps.metrics, csrf, startSession });
      if (deps.sso) registerOidcRoutes(scope, { sso: deps.sso, store: deps.store, logger: deps.logger, secure, startSession });

      scope.get('/tool-calls', async (request) => {
        const filters = parseQuery(toolCallFiltersSchema, request.query);
        const page = await listToolCalls(deps.db, request.adminActor!.workspaceId, filters);
        await audit(request, 'tool-calls.list', request.query);
        return page;
      });

      scope.get('/tool-calls/export', async (request, reply) => {
        const { format, ...filters } = parseQuery(exportQuerySchema, request.query);
        const { items, truncated } = await collectExport(deps.db, request.adminActor!.workspaceId, filters);
        await audit(request, 'tool-calls.export', { ...(request.query as object), rows: items.length });
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        void reply
          .header('content-disposition', `attachment; filename="tool-calls-${stamp}.${format}"`)
          .header('x-export-truncated', String(truncated));
        if (format === 'json') return reply.type('application/json; charset=utf-8').send({ items, truncated });
        return reply.type('text/csv; charset=utf-8').send(toCsv(items));
      });

      scope.get('/tool-calls/:id', async (request) => {
        const { id } = parseQuery(idParamSchema, request.params);
        const detail = await getToolCallDetail(deps.db, id, request.adminActor!.workspaceId);
        if (!detail) throw new SwitchboardError('not_found', 'no tool call with this id');
        await audit(request, 'tool-calls.read', { id });
        return detail;
      });

      scope.get('/conversations', async (request) => {
        const filters = parseQuery(conversationFiltersSchema, request.query);
        const page = await listConversations(deps.db, request.adminActor!.workspaceId, filters);
        await audit(request, 'conversations.list', request.query);
        return page;
      });

      scope.get('/conversations/:id', async (request) => {
        const { id } = parseQuery(idParamSchema, request.params);
        const detail = await getConversationDetail(deps.db, id, request.adminActor!.workspaceId);
        if (!detail) throw new SwitchboardError('not_found', 'no conversation with this id');
        await audit(request, 'conversations.read', { id });
        return detail;
      });

      // The person of a conversation and all their conversations across channels.
      scope.get('/conversations/:id/person', async (request) => {
        const { id } = parseQuery(idParamSchema, request.params);
        const page = parseQuery(personQuerySchema, request.query);
        const person = await getPersonOfConversation(deps.db, id, request.adminActor!.workspaceId, page);
        if (!person) throw new SwitchboardError('not_found', 'no conversation with this id');
        await audit(request, 'person.read', { id });
        return person;
      });

      scope.get('/payments', async (request) => {
        const filters = parseQuery(paymentFiltersSchema, request.query);
        const page = await listPaymentEvents(deps.db, request.adminActor!.workspaceId, filters);
        await audit(request, 'payments.list', request.query);
        return page;
      });

      scope.get('/stats', async (request) => {
        const window = parseQuery(statsQuerySchema, request.query);
        if (window.from && window.to && window.from >= window.to) {
          throw new SwitchboardError('invalid_payload', 'from must be before to');
        }
        const stats = await loadStats(deps.db, request.adminActor!.workspaceId, window);
        await audit(request, 'stats.read', request.query);
        return stats;
      });

      scope.get('/spend', async (request) => {
        const window = parseSpendQuery(request.query);
        const spend = await loadSpend(deps.db, deps.config, request.adminActor!.workspaceId, window);
        await audit(request, 'spend.read', request.query);
        return spend;
      });

      scope.get('/health', async (request) => {
        const workspaceId = request.adminActor!.workspaceId;
        const health = await loadHealth(deps.db, deps.config, deps.metrics, workspaceId);
        await audit(request, 'health.read');
        // The QR code is a pairing secret for the team's WhatsApp account (the environment's, so the
        // default workspace's): shown to its admins only, never logged.
        const pairing = workspaceId === DEFAULT_WORKSPACE_ID ? deps.channels?.whatsappWebPairing() : undefined;
        const whatsappWeb = pairing
          ? { ...pairing, qrImage: pairing.qr ? await whatsAppPairingImage(pairing.qr) : null }
          : null;
        return { ...health, whatsappWeb };
      });

      scope.get('/deliveries', async (request) => {
        const query = parseQuery(deliveriesQuery, request.query);
        const rows = await listDeliveries(deps.db, request.adminActor!.workspaceId, query);
        await audit(request, 'deliveries.list', query);
        return { items: rows.map((row) => redactValue(row, 'list')) };
      });
    },
    { prefix: '/api/admin' },
  );
}

/**
 * The WhatsApp Web pairing code as a PNG data URL. The QR encoder (qrcode and pngjs, about 60
 * modules) is loaded on first use: only a server pairing a WhatsApp account needs it, and every web
 * instance would otherwise load it at start-up, before it can take back its visitors after a restart.
 */
async function whatsAppPairingImage(code: string): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toDataURL(code, { margin: 1, width: 256 });
}
