import { createHash, timingSafeEqual } from 'node:crypto';
import { fastifyCookie } from '@fastify/cookie';
import type { Secret } from '../config/secret.js';
import { type AdminStore } from './admin-store.js';

export const SESSION_COOKIE = 'sb_admin';

/** Who is asking: a logged-in admin (by session cookie) or a holder of ADMIN_TOKEN. */
export type AdminActor =
  | { kind: 'session'; email: string; sessionToken: string }
  | { kind: 'token'; email: null };

export const actorName = (actor: AdminActor) => (actor.kind === 'session' ? actor.email : 'admin-token');

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Checks the credentials an HTTP request or a socket handshake carries. */
export class AdminAuth {
  readonly #tokenDigest: Buffer | undefined;

  constructor(
    private readonly store: AdminStore,
    adminToken: Secret | undefined,
  ) {
    this.#tokenDigest = adminToken ? digest(adminToken.reveal()) : undefined;
  }

  /** A bearer header wins over a cookie; neither valid → undefined (the caller answers 401). */
  async authenticate(input: { authorization?: string; cookie?: string; token?: unknown }): Promise<AdminActor | undefined> {
    const bearer = input.authorization?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim() ?? (typeof input.token === 'string' ? input.token : undefined);
    if (bearer !== undefined) return this.tokenMatches(bearer) ? { kind: 'token', email: null } : undefined;
    const sessionToken = input.cookie ? fastifyCookie.parse(input.cookie)[SESSION_COOKIE] : undefined;
    if (!sessionToken || sessionToken.length > 100) return undefined;
    const session = await this.store.findSession(sessionToken);
    return session ? { kind: 'session', email: session.email, sessionToken } : undefined;
  }

  private tokenMatches(candidate: string): boolean {
    // Both sides hashed first: equal lengths for timingSafeEqual, and no length leak.
    return this.#tokenDigest !== undefined && timingSafeEqual(digest(candidate), this.#tokenDigest);
  }
}
