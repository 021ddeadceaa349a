import { z } from 'zod';
import { booleanFlag, emptyAsUndefined, optionalSecret, optionalString, optionalUrl } from './env-fields.js';

/*
 * The environment of console sign-in: password login and single sign-on through the company's
 * OpenID Connect provider (src/admin/oidc). Spread into the one config schema in config.ts.
 */

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Plain http is allowed for an identity provider on this machine only (a local Keycloak, the tests' provider). */
const isLoopbackUrl = (url: URL) => LOOPBACK_HOSTS.has(url.hostname);

/** A comma-separated list kept as written (group names and ids are compared exactly). */
const exactList = z.preprocess(
  (value) => value ?? '',
  z.string().transform((value) => [...new Set(value.split(',').map((item) => item.trim()).filter(Boolean))]),
);

const DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/** `example.com, @example.org` → `['example.com', 'example.org']`; empty: any domain. */
const domainList = z.preprocess(
  (value) => value ?? '',
  z.string().transform((value, ctx) => {
    const domains = value.split(',').map((item) => item.trim().toLowerCase().replace(/^@/, '')).filter(Boolean);
    const bad = domains.find((domain) => !DOMAIN.test(domain));
    if (bad !== undefined) {
      ctx.addIssue({ code: 'custom', message: `"${bad}" is not an email domain (expected e.g. example.com,example.org)` });
      return z.NEVER;
    }
    return [...new Set(domains)];
  }),
);

const issuerUrl = z.preprocess(
  emptyAsUndefined,
  z
    .url()
    .optional()
    .refine((value) => value === undefined || value.startsWith('https:') || (value.startsWith('http:') && isLoopbackUrl(new URL(value))), {
      message: 'must be an https: URL (http: only for localhost)',
    }),
);

const scopes = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .default('openid email profile')
    .transform((value) => [...new Set(value.split(/[\s,]+/).filter(Boolean))].join(' '))
    .refine((value) => value.split(' ').includes('openid'), { message: 'must include openid' }),
);

export const ssoEnv = {
  /** `false`: the console signs in through single sign-on only (POST /api/admin/login answers 403 password_login_disabled). */
  ADMIN_PASSWORD_LOGIN: booleanFlag(true),
  OIDC_ISSUER_URL: issuerUrl,
  OIDC_CLIENT_ID: optionalString,
  OIDC_CLIENT_SECRET: optionalSecret,
  /** The login button says "Sign in with <name>". */
  OIDC_PROVIDER_NAME: z.preprocess(emptyAsUndefined, z.string().trim().min(1).max(40).default('SSO')),
  OIDC_SCOPES: scopes,
  OIDC_ALLOWED_DOMAINS: domainList,
  OIDC_ROLE_CLAIM: z.preprocess(emptyAsUndefined, z.string().trim().min(1).max(200).default('groups')),
  OIDC_ADMIN_GROUPS: exactList,
  OIDC_OPERATOR_GROUPS: exactList,
  /** Unset: PUBLIC_URL + /admin/auth/oidc/callback, else the address the request came to. */
  OIDC_REDIRECT_URL: optionalUrl,
};

const ssoEnvSchema = z.object(ssoEnv);
type SsoEnv = z.infer<typeof ssoEnvSchema>;

/** Settings that only make sense together; the message names the variable, never a value. */
export function ssoConfigProblem(env: SsoEnv): string | undefined {
  const oidcVariables = { OIDC_CLIENT_ID: env.OIDC_CLIENT_ID, OIDC_CLIENT_SECRET: env.OIDC_CLIENT_SECRET };
  if (env.OIDC_ISSUER_URL) {
    const missing = Object.entries(oidcVariables).find(([, value]) => value === undefined);
    // A server-side console is a confidential client; the secret also keys the sign-in cookie.
    if (missing) return `${missing[0]}: required when OIDC_ISSUER_URL is set`;
  } else {
    const stray = Object.entries(oidcVariables).find(([, value]) => value !== undefined);
    if (stray) return `OIDC_ISSUER_URL: required when ${stray[0]} is set`;
    if (!env.ADMIN_PASSWORD_LOGIN) return 'ADMIN_PASSWORD_LOGIN: false needs single sign-on (OIDC_ISSUER_URL), or nobody could sign in to the console';
  }
  return undefined;
}
