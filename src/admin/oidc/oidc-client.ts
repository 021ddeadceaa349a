import type { Configuration } from 'openid-client';
import { SwitchboardError } from '../../errors/index.js';
import type { Logger } from '../../observability/logger.js';
import type { LoginTransaction } from './login-transaction.js';
import { claimValues } from './role-mapping.js';
import type { OidcSettings } from './oidc-settings.js';
import { SsoLoginRefusedError } from './sso-login-refused.js';

type OpenIdClient = typeof import('openid-client');

/** Who the identity provider says signed in. */
export interface OidcIdentity {
  /** `issuer|sub`: stable when the person's email changes, and unique across providers. */
  subject: string;
  /** The ID token's claims, completed from the UserInfo endpoint when email or the role claim is missing. */
  claims: Record<string, unknown>;
}

/** openid-client's codes for an answer that failed verification (ID token signature, iss, aud, nonce, exp, ...). */
const VERIFICATION_FAILURES = new Set([
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED',
  'OAUTH_INVALID_RESPONSE',
  'OAUTH_KEY_SELECTION_FAILED',
  'OAUTH_PARSE_ERROR',
]);

const HTTP_TIMEOUT_S = 10;

/**
 * The authorization code flow with PKCE against one OpenID Connect provider, through
 * openid-client: it checks the ID token's signature, issuer, audience, nonce and expiry.
 * Discovery happens on the first sign-in, not at start-up (the provider may be down then), and
 * is tried again after a failure. openid-client is loaded only when single sign-on is configured.
 */
export class OidcClient {
  #ready: Promise<{ lib: OpenIdClient; config: Configuration }> | undefined;

  constructor(
    private readonly settings: OidcSettings,
    private readonly logger: Logger,
  ) {}

  /** Where to send the browser, and what the callback must check (kept by the browser, sealed). */
  async begin(redirectUri: string): Promise<{ url: URL; transaction: Omit<LoginTransaction, 'expiresAt'> }> {
    const { lib, config } = await this.ready();
    const codeVerifier = lib.randomPKCECodeVerifier();
    const transaction = { state: lib.randomState(), nonce: lib.randomNonce(), codeVerifier, redirectUri };
    const url = lib.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: this.settings.scopes,
      code_challenge: await lib.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state: transaction.state,
      nonce: transaction.nonce,
    });
    return { url, transaction };
  }

  /**
   * Exchanges the callback's code (with the PKCE verifier) and verifies the ID token. Throws
   * SsoLoginRefusedError when the provider refuses the code or its answer does not verify, and
   * `unavailable` when the provider cannot be reached.
   */
  async finish(callbackParams: URLSearchParams, transaction: LoginTransaction): Promise<OidcIdentity> {
    const { lib, config } = await this.ready();
    const currentUrl = new URL(transaction.redirectUri);
    for (const [name, value] of callbackParams) currentUrl.searchParams.append(name, value);
    try {
      const tokens = await lib.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: transaction.codeVerifier,
        expectedState: transaction.state,
        expectedNonce: transaction.nonce,
        idTokenExpected: true,
      });
      const idToken = tokens.claims();
      if (!idToken) throw new SsoLoginRefusedError('response_invalid', 'the identity provider sent no ID token');
      let claims: Record<string, unknown> = { ...idToken };
      // Many providers put only `sub` in the ID token of the code flow and the rest in UserInfo.
      const incomplete = typeof claims.email !== 'string' || claimValues(claims, this.settings.roles.claim).length === 0;
      if (incomplete && config.serverMetadata().userinfo_endpoint) {
        const userInfo = await lib.fetchUserInfo(config, tokens.access_token, idToken.sub);
        claims = { ...userInfo, ...idToken };
      }
      return { subject: `${idToken.iss}|${idToken.sub}`, claims };
    } catch (error) {
      throw this.describeFailure(lib, error);
    }
  }

  private ready(): Promise<{ lib: OpenIdClient; config: Configuration }> {
    this.#ready ??= this.discover().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  private async discover(): Promise<{ lib: OpenIdClient; config: Configuration }> {
    const lib = await import('openid-client');
    const { issuer, clientId, clientSecret } = this.settings;
    try {
      const config = await lib.discovery(issuer, clientId, clientSecret.reveal(), undefined, {
        timeout: HTTP_TIMEOUT_S,
        // Config allows http: only for a provider on this machine.
        ...(issuer.protocol === 'http:' && { execute: [lib.allowInsecureRequests] }),
      });
      return { lib, config };
    } catch (error) {
      this.logger.warn({ issuer: issuer.href, failure: failureOf(error) }, 'OIDC discovery failed');
      throw new SwitchboardError('unavailable', 'the identity provider cannot be reached; try again in a moment');
    }
  }

  /** A refusal the person can read, or `unavailable`; never the code, a token or the secret. */
  private describeFailure(lib: OpenIdClient, error: unknown): Error {
    if (error instanceof SsoLoginRefusedError) return error;
    if (error instanceof lib.ResponseBodyError) {
      return new SsoLoginRefusedError(
        'code_rejected',
        'the identity provider refused the sign-in code (it expired or was used already); sign in again',
        { idpError: error.error.slice(0, 100) },
      );
    }
    if (error instanceof lib.AuthorizationResponseError) {
      return new SsoLoginRefusedError('idp_error', `the identity provider did not sign you in (${error.error.slice(0, 100)})`, {
        idpError: error.error.slice(0, 100),
      });
    }
    if (error instanceof lib.ClientError && error.code && VERIFICATION_FAILURES.has(error.code)) {
      const claim = claimOf(error);
      return new SsoLoginRefusedError('response_invalid', "the identity provider's answer did not verify; sign in again, or ask your administrator", {
        check: error.code,
        ...(claim && { claim }),
      });
    }
    this.logger.warn({ issuer: this.settings.issuer.href, failure: failureOf(error) }, 'OIDC code exchange failed');
    return new SwitchboardError('unavailable', 'the identity provider cannot be reached; try again in a moment');
  }
}

/** The failed claim (`aud`, `nonce`, `exp`, ...) that openid-client keeps in the error's causes. */
function claimOf(error: unknown): string | undefined {
  for (let node: unknown = error, depth = 0; node && typeof node === 'object' && depth < 4; depth++) {
    const claim = (node as { claim?: unknown }).claim;
    if (typeof claim === 'string') return claim.slice(0, 40);
    node = (node as { cause?: unknown }).cause;
  }
  return undefined;
}

/** What may be logged of a failure: its kind and message, not its causes (they hold responses and claims). */
function failureOf(error: unknown): { name: string; code?: string; message: string } {
  if (!(error instanceof Error)) return { name: typeof error, message: String(error).slice(0, 200) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, ...(typeof code === 'string' && { code }), message: error.message.slice(0, 200) };
}
