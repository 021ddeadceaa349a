import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SwitchboardError } from '../../errors/index.js';
import type { Logger } from '../../observability/logger.js';
import type { AdminUser } from '../../store/schema.js';
import { digest } from '../admin-auth.js';
import { normalizeEmail, type AdminStore } from '../admin-store.js';
import { LoginTransactionSealer } from './login-transaction.js';
import { admit } from './oidc-admission.js';
import { OidcClient } from './oidc-client.js';
import { OIDC_CALLBACK_PATH, type OidcSettings } from './oidc-settings.js';
import { SsoLoginRefusedError } from './sso-login-refused.js';

/** Single sign-on, built once from the settings by the console's wiring. */
export interface SingleSignOn {
  settings: OidcSettings;
  client: OidcClient;
  sealer: LoginTransactionSealer;
}

export function createSingleSignOn(settings: OidcSettings, logger: Logger): SingleSignOn {
  return { settings, client: new OidcClient(settings, logger), sealer: new LoginTransactionSealer(settings.clientSecret.reveal()) };
}

export interface OidcRouteDeps {
  sso: SingleSignOn;
  store: AdminStore;
  logger: Logger;
  /** The session cookie's `secure` flag (the sign-in cookie gets the same). */
  secure: true | 'auto';
  /** Logs the account in: the session cookie, as a password login sets it. */
  startSession: (reply: FastifyReply, user: AdminUser) => Promise<Date>;
}

/** The sealed state, nonce and PKCE verifier between start and callback. */
const TRANSACTION_COOKIE = 'sb_admin_oidc';
const TRANSACTION_COOKIE_PATH = '/api/admin/oidc';
const TRANSACTION_TTL_MS = 10 * 60_000;

/**
 * The provider's authorization response. Only the fields we read are checked; providers add their
 * own (session_state, scope, hd, ...), and openid-client reads the query exactly as it came.
 */
const callbackQuery = z
  .object({
    code: z.string().min(1).max(4096).optional(),
    state: z.string().min(1).max(512).optional(),
    iss: z.string().max(2048).optional(),
    error: z.string().max(200).optional(),
    error_description: z.string().max(2000).optional(),
  })
  .loose();

/** A browser navigation gets the console back with the reason; an API client gets the JSON error. */
const wantsJson = (request: FastifyRequest) => {
  const accept = request.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
};

/**
 * Sign-in through the company's identity provider (authorization code + PKCE), under /api/admin:
 * `GET /oidc/start` seals state, nonce and the PKCE verifier into a short-lived httpOnly cookie
 * and redirects to the provider; `GET /oidc/callback` checks the state against that cookie,
 * exchanges the code, admits the person (email, domain, role), makes or updates their account
 * and starts a session like a password login. Every refusal is audited with its reason and
 * creates neither account nor session.
 */
export function registerOidcRoutes(scope: FastifyInstance, deps: OidcRouteDeps): void {
  const { settings, client, sealer } = deps.sso;

  const refuse = async (request: FastifyRequest, reply: FastifyReply, error: SwitchboardError, actor: string) => {
    const reason = error instanceof SsoLoginRefusedError ? error.reason : 'provider_unavailable';
    const detail = { method: 'oidc', reason, ...(error instanceof SsoLoginRefusedError && error.detail) };
    await deps.store.audit({ actor, action: 'login.failed', detail, ip: request.ip });
    deps.logger.info({ reqId: request.id, ...detail }, 'single sign-on refused');
    if (wantsJson(request)) throw error;
    return reply.redirect(`/admin?sso_error=${encodeURIComponent(reason)}`);
  };

  scope.get('/oidc/start', async (request, reply) => {
    const redirectUri = settings.redirectUrl ?? `${request.protocol}://${request.host}${OIDC_CALLBACK_PATH}`;
    let begun: Awaited<ReturnType<OidcClient['begin']>>;
    try {
      begun = await client.begin(redirectUri);
    } catch (error) {
      if (error instanceof SwitchboardError && !wantsJson(request)) return reply.redirect(`/admin?sso_error=provider_unavailable`);
      throw error;
    }
    void reply.setCookie(TRANSACTION_COOKIE, sealer.seal({ ...begun.transaction, expiresAt: Date.now() + TRANSACTION_TTL_MS }), {
      path: TRANSACTION_COOKIE_PATH,
      httpOnly: true,
      // Lax, not Strict: the callback is a top-level navigation coming back from the provider's site.
      sameSite: 'lax',
      secure: deps.secure,
      maxAge: TRANSACTION_TTL_MS / 1000,
    });
    return reply.redirect(begun.url.href);
  });

  scope.get('/oidc/callback', async (request, reply) => {
    // One use: whatever happens next, this browser must start again for another try.
    const transaction = sealer.open(request.cookies[TRANSACTION_COOKIE]);
    void reply.clearCookie(TRANSACTION_COOKIE, { path: TRANSACTION_COOKIE_PATH });
    let actor = 'oidc';
    try {
      const query = callbackQuery.safeParse(request.query);
      if (!query.success) throw new SsoLoginRefusedError('response_invalid', "the identity provider's answer is malformed; sign in again");
      const { state, error, code } = query.data;
      if (!transaction || !state || !timingSafeEqual(digest(state), digest(transaction.state))) {
        throw new SsoLoginRefusedError('state_mismatch', 'this sign-in was not started in this browser, or it took too long; sign in again');
      }
      if (error) throw new SsoLoginRefusedError('idp_error', `the identity provider did not sign you in (${error})`, { idpError: error });
      if (!code) throw new SsoLoginRefusedError('response_invalid', 'the identity provider sent no sign-in code; sign in again');

      const identity = await client.finish(new URLSearchParams(request.url.split('?')[1] ?? ''), transaction);
      actor = typeof identity.claims.email === 'string' ? normalizeEmail(identity.claims.email).slice(0, 320) : identity.subject;
      const admission = admit(identity, settings);
      const account = await deps.store.findOrCreateByOidc(admission);
      if (account === 'conflict') {
        throw new SsoLoginRefusedError('account_conflict', `another console account already uses ${admission.email}; ask an administrator`);
      }
      await deps.startSession(reply, account.user);
      await deps.store.audit({
        actor: account.user.email,
        action: 'login',
        detail: {
          method: 'oidc',
          role: account.user.role,
          ...(account.created && { created: true }),
          ...(account.previousRole && account.previousRole !== account.user.role && { previousRole: account.previousRole }),
        },
        ip: request.ip,
        workspaceId: account.user.workspaceId,
      });
      return reply.redirect('/admin');
    } catch (error) {
      if (error instanceof SsoLoginRefusedError || (error instanceof SwitchboardError && error.code === 'unavailable')) {
        return refuse(request, reply, error, actor);
      }
      throw error;
    }
  });
}
