import { createHash, timingSafeEqual } from 'node:crypto';
import { fastifyCookie } from '@fastify/cookie';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { Secret } from '../config/secret.js';
import type { AdminRole } from '../store/schema.js';
import type { WorkspaceDirectory } from '../workspaces/workspace-directory.js';
import { type AdminStore } from './admin-store.js';
import { WorkspaceNotFoundError } from './workspace-not-found-error.js';

export const SESSION_COOKIE = 'sb_admin';

/** The request header (and the live feed's `auth.workspace`) with which a deployment-level caller picks the workspace it acts in. */
export const WORKSPACE_HEADER = 'x-switchboard-workspace';

/**
 * Who is asking: a logged-in account (by session cookie) or a holder of ADMIN_TOKEN, and the
 * workspace it acts in (every admin read and write is scoped to `workspaceId`). The token holder
 * is deployment-level, like an `owner` account.
 */
export type AdminActor =
  | { kind: 'session'; email: string; sessionToken: string; userId: string; role: AdminRole; name: string; workspaceId: string }
  | { kind: 'token'; email: null; role: 'owner'; workspaceId: string };

export const actorName = (actor: AdminActor) => (actor.kind === 'session' ? actor.email : 'admin-token');

const RANK: Record<AdminRole, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

/** Whether the actor's role is at least `role` (viewer < operator < admin < owner). */
export const hasRole = (actor: AdminActor, role: AdminRole) => RANK[actor.role] >= RANK[role];

/** The name people are shown for an operator: the account's name, else the email's local part. */
export function displayName(account: { email: string; name: string | null }): string {
  return account.name?.trim() || account.email.split('@')[0]!;
}

/** The operator an actor acts as on a handoff (the token holder is the team, "Support"), in the actor's workspace. */
export function operatorOf(actor: AdminActor): { id: string | null; actor: string; name: string; isAdmin: boolean; workspaceId: string } {
  return actor.kind === 'session'
    ? { id: actor.userId, actor: actor.email, name: actor.name, isAdmin: hasRole(actor, 'admin'), workspaceId: actor.workspaceId }
    : { id: null, actor: 'admin-token', name: 'Support', isAdmin: true, workspaceId: actor.workspaceId };
}

/** sha256 of a secret, for `timingSafeEqual`: both sides hashed give equal lengths and leak no length. */
export const digest = (value: string) => createHash('sha256').update(value).digest();

/** Checks the credentials an HTTP request or a socket handshake carries, and the workspace it acts in. */
export class AdminAuth {
  readonly #tokenDigest: Buffer | undefined;

  constructor(
    private readonly store: AdminStore,
    adminToken: Secret | undefined,
    private readonly workspaces: Pick<WorkspaceDirectory, 'get'>,
  ) {
    this.#tokenDigest = adminToken ? digest(adminToken.reveal()) : undefined;
  }

  /**
   * A bearer header wins over a cookie; neither valid → undefined (the caller answers 401).
   * `workspace` is the caller's choice of workspace (WORKSPACE_HEADER): see `actingWorkspace`.
   */
  async authenticate(input: { authorization?: string; cookie?: string; token?: unknown; workspace?: unknown }): Promise<AdminActor | undefined> {
    const bearer = input.authorization?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim() ?? (typeof input.token === 'string' ? input.token : undefined);
    if (bearer !== undefined) {
      if (!this.tokenMatches(bearer)) return undefined;
      return { kind: 'token', email: null, role: 'owner', workspaceId: this.actingWorkspace(input.workspace, undefined) };
    }
    const sessionToken = input.cookie ? fastifyCookie.parse(input.cookie)[SESSION_COOKIE] : undefined;
    if (!sessionToken || sessionToken.length > 100) return undefined;
    const session = await this.store.findSession(sessionToken);
    if (!session) return undefined;
    const workspaceId = this.actingWorkspace(input.workspace, session.role === 'owner' ? undefined : session.workspaceId);
    return { kind: 'session', email: session.email, sessionToken, userId: session.adminUserId, role: session.role, name: displayName(session), workspaceId };
  }

  /**
   * Where the caller acts. An account of a workspace (`home`) acts in it; naming another one is
   * answered as a workspace that does not exist. A deployment-level caller (owner, token; no
   * `home`) acts in the default workspace, or in the one it names if it exists (suspended too:
   * an owner manages it).
   */
  private actingWorkspace(requested: unknown, home: string | undefined): string {
    if (requested === undefined || requested === '') return home ?? DEFAULT_WORKSPACE_ID;
    if (typeof requested !== 'string') throw new WorkspaceNotFoundError();
    if (home !== undefined ? requested !== home : !this.workspaces.get(requested)) throw new WorkspaceNotFoundError();
    return requested;
  }

  private tokenMatches(candidate: string): boolean {
    // Both sides hashed first: equal lengths for timingSafeEqual, and no length leak.
    return this.#tokenDigest !== undefined && timingSafeEqual(digest(candidate), this.#tokenDigest);
  }
}
