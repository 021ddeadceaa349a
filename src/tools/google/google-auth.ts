import { JWT, OAuth2Client } from 'google-auth-library';
import { z } from 'zod';
import { SwitchboardError } from '../../errors/index.js';

export type GoogleCredentials = (
  | { kind: 'service-account'; json: string; /** Domain-wide delegation: act as this user. */ subject?: string }
  | { kind: 'oauth'; clientId: string; clientSecret: string; refreshToken: string }
) & {
  /** Token endpoint override (GOOGLE_TOKEN_URL), for local endpoints; used by every mode that exchanges a token. */
  tokenUrl?: string;
};

/**
 * Where google-auth-library's JWT client (through gtoken) posts the JWT-bearer
 * grant. gtoken has the address built in and JWTOptions has no endpoint option,
 * so requests to exactly this URL are redirected on the client's own transporter.
 */
const GOOGLE_JWT_TOKEN_URL = 'https://oauth2.googleapis.com/token';

const serviceAccountSchema = z.object({
  client_email: z.email(),
  private_key: z.string().includes('PRIVATE KEY'),
});

/** A bad Google credential setting; the message names the variable, never the key. */
export class GoogleCredentialsError extends SwitchboardError {
  override readonly name = 'GoogleCredentialsError';
  constructor(message: string) {
    super('config_invalid', message);
  }
}

/**
 * The auth client googleapis signs requests with. A service account without a
 * subject uses a self-signed JWT (no token round trip, as Google recommends for
 * service accounts); with a subject it exchanges a JWT for a delegated token.
 * An OAuth refresh token is exchanged at the token endpoint as needed.
 */
export function createGoogleAuth(credentials: GoogleCredentials, scopes: string[]): OAuth2Client {
  if (credentials.kind === 'oauth') {
    const client = new OAuth2Client({
      clientId: credentials.clientId,
      clientSecret: credentials.clientSecret,
      ...(credentials.tokenUrl !== undefined && { endpoints: { oauth2TokenUrl: credentials.tokenUrl } }),
    });
    client.setCredentials({ refresh_token: credentials.refreshToken });
    return client;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(credentials.json);
  } catch {
    // Never echo the text: it is a private key.
    throw new GoogleCredentialsError('GOOGLE_SERVICE_ACCOUNT_JSON is not valid JSON');
  }
  const account = serviceAccountSchema.safeParse(parsed);
  if (!account.success) {
    throw new GoogleCredentialsError('GOOGLE_SERVICE_ACCOUNT_JSON needs client_email and private_key (a service account key file)');
  }
  const jwt = new JWT({
    email: account.data.client_email,
    key: account.data.private_key,
    scopes,
    ...(credentials.subject !== undefined && { subject: credentials.subject }),
  });
  jwt.useJWTAccessWithScope = credentials.subject === undefined;
  if (credentials.tokenUrl !== undefined) redirectTokenRequests(jwt, credentials.tokenUrl);
  return jwt;
}

/**
 * Sends the JWT client's token exchange to `tokenUrl` instead of Google's endpoint.
 * Only the token request moves: the signed assertion keeps `aud` =
 * https://oauth2.googleapis.com/token, which Google requires, so a proxy in front
 * of Google works as well as a local fake. API calls on the same transporter
 * never have this URL and pass through untouched.
 */
function redirectTokenRequests(jwt: JWT, tokenUrl: string): void {
  const target = new URL(tokenUrl);
  jwt.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (config.url.href === GOOGLE_JWT_TOKEN_URL) config.url = new URL(target);
      return config;
    },
  });
}
