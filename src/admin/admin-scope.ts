import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.js';
import { handleHttpError } from '../server/error-handler.js';

/** Answers an error the scope knows better than the shared handler; false leaves it to the shared one. */
export type AdminErrorMapper = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => boolean;

/**
 * What every `/api/admin` scope sets up the same way: the session cookie, CSRF protection with the
 * one secret cookie (so a token from `GET /api/admin/csrf` works on every admin route), and the
 * error answers (a CSRF failure is `403 csrf_invalid`; anything else goes to `mappers`, then to
 * the server's handler).
 */
/** Cookies of the admin console are `Secure` behind an https PUBLIC_URL, else as the request came. */
export const secureCookies = (config: Config): true | 'auto' => (config.PUBLIC_URL?.startsWith('https:') ? true : 'auto');

export async function registerAdminScope(scope: FastifyInstance, config: Config, mappers: AdminErrorMapper[] = []): Promise<void> {
  const secure = secureCookies(config);
  await scope.register(fastifyCookie);
  await scope.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: 'sb_admin_csrf',
    cookieOpts: { path: '/api/admin', sameSite: 'strict', httpOnly: true, secure },
    getToken: (request) => request.headers['x-csrf-token'] as string | undefined,
  });
  scope.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.code === 'FST_CSRF_MISSING_SECRET' || error.code === 'FST_CSRF_INVALID_TOKEN') {
      void reply.status(403).send({ error: { code: 'csrf_invalid', message: 'missing or invalid CSRF token (send x-csrf-token from GET /api/admin/csrf)' } });
      return;
    }
    if (mappers.some((mapper) => mapper(error, request, reply))) return;
    handleHttpError(error, request, reply);
  });
}
