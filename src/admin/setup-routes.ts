import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SwitchboardError } from '../errors/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { AdminUser } from '../store/schema.js';
import { parseQuery } from './admin-filters.js';
import type { AdminStore } from './admin-store.js';
import type { FirstRunSetup } from './first-run-setup.js';
import { LoginRateLimitedError, type LoginLimiter } from './login-limiter.js';
import { hashPassword, MIN_PASSWORD_LENGTH } from './passwords.js';

export interface SetupRouteDeps {
  setup: FirstRunSetup;
  store: AdminStore;
  /** Wrong tokens per address (LoginLimiter's budget, its own keys). */
  limiter: LoginLimiter;
  metrics: Metrics;
  csrf: (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void;
  /** Logs the new account in: the session cookie, as a password login sets it. */
  startSession: (reply: FastifyReply, user: AdminUser) => Promise<Date>;
}

const setupBody = z
  .object({
    token: z.string().trim().min(1).max(200),
    email: z.string().trim().max(320).pipe(z.email('must be an email address')),
    name: z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), z.string().trim().max(80).optional()),
    password: z.string().min(MIN_PASSWORD_LENGTH, `must have at least ${MIN_PASSWORD_LENGTH} characters`).max(1024),
  })
  .strict();

/** The limiter's per-account key: setup attempts are counted apart from any email's logins. */
const SETUP_KEY = 'first-run-setup';

const alreadySetUp = () => new SwitchboardError('already_set_up', 'an admin account exists already: log in, or ask an admin for an account');

/**
 * The first-run setup (public, like the login): `GET /setup` says whether it is open; `POST /setup`
 * with the start-up banner's token creates the first admin account and logs it in.
 */
export function registerSetupRoutes(scope: FastifyInstance, deps: SetupRouteDeps): void {
  scope.get('/setup', async () => ({ needed: await deps.setup.isOpen() }));

  scope.post('/setup', { preHandler: deps.csrf }, async (request, reply) => {
    const body = parseQuery(setupBody, request.body);
    try {
      await deps.limiter.consume(request.ip, SETUP_KEY);
    } catch (error) {
      if (error instanceof LoginRateLimitedError) deps.metrics.rateLimited.inc({ scope: 'admin_setup' });
      throw error;
    }
    if (!(await deps.setup.isOpen())) throw alreadySetUp();
    const claim = deps.setup.claim(body.token);
    if (claim === 'busy') throw new SwitchboardError('already_set_up', 'the first account is being created right now');
    if (claim === 'wrong') {
      await deps.store.audit({ actor: body.email.toLowerCase(), action: 'setup.failed', ip: request.ip });
      throw new SwitchboardError('unauthorized', "wrong setup token: use the one in the server's start-up output");
    }
    let user: AdminUser | undefined;
    try {
      user = await deps.store.createFirstAdmin(body.email, await hashPassword(body.password), body.name);
    } catch (error) {
      deps.setup.unclaim();
      throw error;
    }
    // Created or not (another instance was first), the setup is over.
    await deps.setup.close();
    if (!user) throw alreadySetUp();
    await deps.limiter.succeeded(request.ip, SETUP_KEY);
    await deps.store.audit({ actor: user.email, action: 'setup.first-admin', detail: { role: user.role }, ip: request.ip });
    const expiresAt = await deps.startSession(reply, user);
    return reply.status(201).send({ email: user.email, role: user.role, expiresAt: expiresAt.toISOString() });
  });
}
