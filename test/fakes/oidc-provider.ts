/**
 * A real OpenID Connect provider for the tests: panva's oidc-provider (the certified library
 * openid-client is tested against) on 127.0.0.1, port 0, with its issuer at
 * `http://localhost:<port>`: a different site from the app's `127.0.0.1`, so a browser sends
 * the app's cookies back as it would from a company's identity provider.
 *
 * - Sign-in through the library's development login page (any password; the login names a
 *   test user); consent is given automatically to registered clients (a first-party app).
 * - `users`: the test people and their claims (email, email_verified, name, groups); change
 *   one between sign-ins and the next ID token / UserInfo says so.
 * - Clients are registered at runtime (`registerClient`), once the app's callback URL is known.
 * - `codeTtlSeconds` shortens authorization codes; `tamperNextIdToken` rewrites the claims of
 *   the next token response's ID token and signs it again with the provider's own key (an ID
 *   token made for another audience, say), which only the client's checks can catch.
 *
 * The library warns that Node 20 is an unsupported runtime (it wants Node 22 LTS); every flow
 * used here works on Node 20.
 */
import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface TestPerson {
  email: string;
  email_verified?: boolean;
  name?: string;
  given_name?: string;
  groups?: string[];
}

export interface OidcTestClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface FakeOidcProvider {
  /** `http://localhost:<port>`: OIDC_ISSUER_URL. */
  readonly issuer: string;
  /** By login name (the `sub`). */
  readonly users: Map<string, TestPerson>;
  /** Lifetime of authorization codes (default 60 s). */
  codeTtlSeconds: number;
  registerClient(client: OidcTestClient): Promise<void>;
  /** Rewrites the claims of the next ID token the token endpoint issues (then stops). */
  tamperNextIdToken(change: (claims: Record<string, unknown>) => Record<string, unknown>): void;
  /** How many token requests the provider answered with an error, by OAuth error code. */
  readonly tokenErrors: Record<string, number>;
  close(): Promise<void>;
}

const KEY_ID = 'switchboard-test-key';
const SCOPES = 'openid email profile groups';

export async function startFakeOidcProvider(users: Record<string, TestPerson> = {}): Promise<FakeOidcProvider> {
  let handler: (request: IncomingMessage, response: ServerResponse) => void = (_request, response) => {
    response.statusCode = 503;
    response.end();
  };
  const server = createServer((request, response) => handler(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://localhost:${(server.address() as AddressInfo).port}`;

  const people = new Map(Object.entries(users));
  const store = new Map<string, { payload: Record<string, any>; expiresAt: number }>();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let tamper: ((claims: Record<string, unknown>) => Record<string, unknown>) | undefined;
  const tokenErrors: Record<string, number> = {};

  const fake: FakeOidcProvider = {
    issuer,
    users: people,
    codeTtlSeconds: 60,
    async registerClient(client) {
      await new MapAdapter('Client', store).upsert(client.clientId, {
        client_id: client.clientId,
        client_secret: client.clientSecret,
        redirect_uris: client.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      });
    },
    tamperNextIdToken(change) {
      tamper = change;
    },
    tokenErrors,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const provider = new Provider(issuer, {
    adapter: class extends MapAdapter {
      constructor(model: string) {
        super(model, store);
      }
    },
    jwks: { keys: [{ ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: KEY_ID, alg: 'RS256', use: 'sig' }] },
    cookies: { keys: ['switchboard-test-cookie-key'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'given_name'], groups: ['groups'] },
    pkce: { required: () => true },
    ttl: {
      AuthorizationCode: () => fake.codeTtlSeconds,
      AccessToken: 600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    async findAccount(_ctx: unknown, sub: string) {
      const person = people.get(sub);
      if (!person) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...person }) };
    },
    // A first-party app: consent is implied, as companies set up their own tools.
    async loadExistingGrant(ctx: any) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      if (!ctx.oidc.session.accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(SCOPES);
      await grant.save();
      return grant;
    },
  });
  provider.on('grant.error', (_ctx: unknown, error: { error?: string }) => {
    const code = error.error ?? 'unknown';
    tokenErrors[code] = (tokenErrors[code] ?? 0) + 1;
  });
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { id_token?: string } | undefined;
    if (ctx.method === 'POST' && ctx.path === '/token' && ctx.status === 200 && tamper && body?.id_token) {
      const change = tamper;
      tamper = undefined;
      body.id_token = resign(body.id_token, change, privateKey);
    }
  });
  handler = provider.callback();
  return fake;
}

/** The JWT with its claims changed, signed with the provider's key: valid on its face. */
function resign(jwt: string, change: (claims: Record<string, unknown>) => Record<string, unknown>, key: KeyObject): string {
  const [header, payload] = jwt.split('.');
  const claims = change(JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>);
  const signingInput = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = createSign('RSA-SHA256').update(signingInput).sign(key).toString('base64url');
  return `${signingInput}.${signature}`;
}

/** oidc-provider's storage interface over one Map (per provider), with expiry. */
class MapAdapter {
  constructor(
    private readonly model: string,
    private readonly store: Map<string, { payload: Record<string, any>; expiresAt: number }>,
  ) {}

  private key(id: string) {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: Record<string, any>, expiresIn?: number) {
    this.store.set(this.key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
  }

  async find(id: string) {
    const entry = this.store.get(this.key(id));
    if (!entry || entry.expiresAt <= Date.now()) return undefined;
    return entry.payload;
  }

  async findByUid(uid: string) {
    for (const [key, entry] of this.store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid && entry.expiresAt > Date.now()) return entry.payload;
    }
    return undefined;
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id: string) {
    const entry = this.store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string) {
    this.store.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string) {
    for (const [key, entry] of this.store) if (entry.payload.grantId === grantId) this.store.delete(key);
  }
}
