import type { AdminRole } from '../../store/schema.js';
import type { OidcIdentity } from './oidc-client.js';
import type { OidcSettings } from './oidc-settings.js';
import { roleFromClaims } from './role-mapping.js';
import { SsoLoginRefusedError } from './sso-login-refused.js';

/** The console account a verified identity signs in as. */
export interface Admission {
  subject: string;
  email: string;
  role: AdminRole;
  /** A first name to show the people an operator answers, when the provider shares one. */
  name: string | undefined;
}

const EMAIL = /^[^\s@]+@([^\s@]+\.[^\s@]+)$/;

/**
 * Who may sign in and as what: an email the provider has not marked unverified, in one of
 * OIDC_ALLOWED_DOMAINS when that is set; the role from the role claim. A provider that omits
 * `email_verified` (Entra ID does) is trusted for its own users' emails.
 */
export function admit(identity: OidcIdentity, settings: Pick<OidcSettings, 'allowedDomains' | 'roles'>): Admission {
  const { claims } = identity;
  const email = typeof claims.email === 'string' ? claims.email.trim().toLowerCase() : '';
  const domain = EMAIL.exec(email)?.[1];
  if (!domain || email.length > 320) {
    throw new SsoLoginRefusedError('email_missing', 'the identity provider did not share your email address; ask your administrator to release the email claim');
  }
  if (claims.email_verified === false || claims.email_verified === 'false') {
    throw new SsoLoginRefusedError('email_unverified', `your email address ${email} is not verified at the identity provider`);
  }
  if (settings.allowedDomains.length > 0 && !settings.allowedDomains.includes(domain)) {
    throw new SsoLoginRefusedError('domain_not_allowed', `accounts of ${domain} cannot sign in to this console`, { domain });
  }
  const name = [claims.given_name, claims.name].find((value): value is string => typeof value === 'string' && value.trim() !== '');
  return { subject: identity.subject, email, role: roleFromClaims(claims, settings.roles), name: name?.trim().slice(0, 80) };
}
