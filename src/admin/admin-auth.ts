import { createHash, timingSafeEqual } from 'node:crypto';
import { fastifyCookie } from '@fastify/cookie';
import type { Secret } from '../config/secret.js';
import type { AdminRole } from '../store/schema.js';
import { type AdminStore } from './admin-store.js';

export const SESSION_COOKIE = 'sb_admin';

/** Who is asking: a logged-in account (by session cookie) or a holder of ADMIN_TOKEN (an admin). */
export type AdminActor =
  | { kind: 'session'; email: string; sessionToken: string; userId: string; role: AdminRole; name: string }
  | { kind: 'token'; email: null; role: 'admin' };

export const actorName = (actor: AdminActor) => (actor.kind === 'session' ? actor.email : 'admin-token');

const RANK: Record<AdminRole, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

/** Whether the actor's role is at least `role` (viewer < operator < admin). */
export const hasRole = (actor: AdminActor, role: AdminRole) => RANK[actor.role] >= RANK[role];

/** The name people are shown for an operator: the account's name, else the email's local part. */
export function displayName(account: { email: string; name: string | null }): string {
  return account.name?.trim() || account.email.split('@')[0]!;
}

/** The operator an actor acts as on a handoff (the token holder is the team, "Support"). */
export function operatorOf(actor: AdminActor): { id: string | null; actor: string; name: string; isAdmin: boolean } {
  return actor.kind === 'session'
    ? { id: actor.userId, actor: actor.email, name: actor.name, isAdmin: actor.role === 'admin' }
    : { id: null, actor: 'admin-token', name: 'Support', isAdmin: true };
}

/** sha256 of a secret, for `timingSafeEqual`: both sides hashed give equal lengths and leak no length. */
export const digest = (value: string) => createHash('sha256').update(value).digest();

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
    if (bearer !== undefined) return this.tokenMatches(bearer) ? { kind: 'token', email: null, role: 'admin' } : undefined;
    const sessionToken = input.cookie ? fastifyCookie.parse(input.cookie)[SESSION_COOKIE] : undefined;
    if (!sessionToken || sessionToken.length > 100) return undefined;
    const session = await this.store.findSession(sessionToken);
    return session
      ? { kind: 'session', email: session.email, sessionToken, userId: session.adminUserId, role: session.role, name: displayName(session) }
      : undefined;
  }

  private tokenMatches(candidate: string): boolean {
    // Both sides hashed first: equal lengths for timingSafeEqual, and no length leak.
    return this.#tokenDigest !== undefined && timingSafeEqual(digest(candidate), this.#tokenDigest);
  }
}
