import type { Config } from '../../config/config.js';
import type { Secret } from '../../config/secret.js';
import type { RoleMapping } from './role-mapping.js';

/** The console's callback path, registered at the identity provider as the redirect URI. */
export const OIDC_CALLBACK_PATH = '/api/admin/oidc/callback';
export const OIDC_START_PATH = '/api/admin/oidc/start';

/** Single sign-on through the company's OpenID Connect provider, from OIDC_* (see README "Single sign-on"). */
export interface OidcSettings {
  issuer: URL;
  clientId: string;
  clientSecret: Secret;
  scopes: string;
  /** Shown on the login button: "Sign in with <providerName>". */
  providerName: string;
  /** Lower-case email domains allowed to sign in; empty: any. */
  allowedDomains: readonly string[];
  roles: RoleMapping;
  /** OIDC_REDIRECT_URL, else PUBLIC_URL + the callback path; unset: the address each request came to. */
  redirectUrl: string | undefined;
}

export function oidcSettingsFrom(config: Config): OidcSettings | undefined {
  if (!config.OIDC_ISSUER_URL || !config.OIDC_CLIENT_ID || !config.OIDC_CLIENT_SECRET) return undefined;
  return {
    issuer: new URL(config.OIDC_ISSUER_URL),
    clientId: config.OIDC_CLIENT_ID,
    clientSecret: config.OIDC_CLIENT_SECRET,
    scopes: config.OIDC_SCOPES,
    providerName: config.OIDC_PROVIDER_NAME,
    allowedDomains: config.OIDC_ALLOWED_DOMAINS,
    roles: { claim: config.OIDC_ROLE_CLAIM, adminGroups: config.OIDC_ADMIN_GROUPS, operatorGroups: config.OIDC_OPERATOR_GROUPS },
    redirectUrl: config.OIDC_REDIRECT_URL ?? (config.PUBLIC_URL ? `${config.PUBLIC_URL.replace(/\/+$/, '')}${OIDC_CALLBACK_PATH}` : undefined),
  };
}
