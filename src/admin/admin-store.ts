import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq, gt, lt, sql } from 'drizzle-orm';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { Db } from '../store/database.js';
import { adminAudit, adminSessions, adminUsers, type AdminRole, type AdminUser } from '../store/schema.js';

export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/**
 * Admin accounts, their sessions and the audit trail of admin reads. An account belongs to one
 * workspace (`owner` accounts too, though they may act in any); emails are unique across the
 * deployment, so one login finds one account.
 */
export class AdminStore {
  constructor(private readonly db: Db) {}

  async createUser(
    email: string,
    passwordHash: string,
    profile: { role?: AdminRole; name?: string | undefined; workspaceId?: string } = {},
  ): Promise<AdminUser | undefined> {
    const [row] = await this.db
      .insert(adminUsers)
      .values({
        id: randomUUID(),
        workspaceId: profile.workspaceId ?? DEFAULT_WORKSPACE_ID,
        email: normalizeEmail(email),
        passwordHash,
        role: profile.role ?? 'admin',
        name: profile.name?.trim() || null,
      })
      .onConflictDoNothing({ target: adminUsers.email })
      .returning();
    return row;
  }

  /** Whether any account exists (the first-run setup is open only while none does). */
  async hasAnyUser(): Promise<boolean> {
    const rows = await this.db.select({ id: adminUsers.id }).from(adminUsers).limit(1);
    return rows.length > 0;
  }

  /**
   * The first-run setup's account: an admin, created only if no account exists. The advisory
   * lock makes two setups at once (on several instances) queue, so exactly one of them creates it.
   */
  async createFirstAdmin(email: string, passwordHash: string, name?: string): Promise<AdminUser | undefined> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('switchboard:first-admin'))`);
      const [existing] = await tx.select({ id: adminUsers.id }).from(adminUsers).limit(1);
      if (existing) return undefined;
      const [row] = await tx
        .insert(adminUsers)
        .values({ id: randomUUID(), email: normalizeEmail(email), passwordHash, role: 'admin', name: name?.trim() || null })
        .returning();
      return row;
    });
  }

  async setPassword(email: string, passwordHash: string): Promise<boolean> {
    const rows = await this.db
      .update(adminUsers)
      .set({ passwordHash, updatedAt: new Date() })
      .where(eq(adminUsers.email, normalizeEmail(email)))
      .returning({ id: adminUsers.id });
    if (rows[0]) await this.db.delete(adminSessions).where(eq(adminSessions.adminUserId, rows[0].id));
    return rows.length > 0;
  }

  async findUserByEmail(email: string): Promise<AdminUser | undefined> {
    const [row] = await this.db.select().from(adminUsers).where(eq(adminUsers.email, normalizeEmail(email)));
    return row;
  }

  /**
   * The account a single sign-on belongs to: found by `issuer|sub`, else an account with the
   * email and no subject yet (it is linked), else made now without a password. The provider's
   * email and role are applied on every sign-in; a role change ends the account's other
   * sessions, as `setRole` does. `conflict`: the email belongs to an account of another subject.
   * An account made here lands in the default workspace (the provider's claims name no
   * workspace); a linked account keeps its own.
   */
  async findOrCreateByOidc(identity: {
    subject: string;
    email: string;
    role: AdminRole;
    name?: string | undefined;
  }): Promise<{ user: AdminUser; created: boolean; previousRole: AdminRole | undefined } | 'conflict'> {
    const email = normalizeEmail(identity.email);
    return this.db.transaction(async (tx) => {
      const [bySubject] = await tx.select().from(adminUsers).where(eq(adminUsers.oidcSubject, identity.subject));
      const [byEmail] = await tx.select().from(adminUsers).where(eq(adminUsers.email, email));
      if (byEmail && byEmail.id !== bySubject?.id && (bySubject || byEmail.oidcSubject !== null)) return 'conflict';
      const existing = bySubject ?? byEmail;
      if (!existing) {
        const [created] = await tx
          .insert(adminUsers)
          .values({ id: randomUUID(), email, passwordHash: null, oidcSubject: identity.subject, role: identity.role, name: identity.name?.trim() || null })
          .onConflictDoNothing()
          .returning();
        if (created) return { user: created, created: true, previousRole: undefined };
        // Lost a race with the same person's other tab (that sign-in made the account), or the email was taken meanwhile.
        const [raced] = await tx.select().from(adminUsers).where(eq(adminUsers.oidcSubject, identity.subject));
        return raced ? { user: raced, created: false, previousRole: raced.role } : 'conflict';
      }
      // The identity provider's groups map to viewer, operator or admin, never to the deployment's
      // owner (made with `admin:create --role owner`): an owner's sign-in keeps that role.
      const role = existing.role === 'owner' ? 'owner' : identity.role;
      const [user] = await tx
        .update(adminUsers)
        .set({ email, oidcSubject: identity.subject, role, updatedAt: new Date() })
        .where(eq(adminUsers.id, existing.id))
        .returning();
      if (existing.role !== role) await tx.delete(adminSessions).where(eq(adminSessions.adminUserId, existing.id));
      return { user: user!, created: false, previousRole: existing.role };
    });
  }

  /** Returns the cookie value; only its sha256 is stored. */
  async createSession(adminUserId: string, ttlMs: number): Promise<{ token: string; expiresAt: Date }> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + ttlMs);
    await this.db.insert(adminSessions).values({ tokenHash: sha256(token), adminUserId, expiresAt });
    // Housekeeping rides along with logins instead of a timer.
    await this.db.delete(adminSessions).where(lt(adminSessions.expiresAt, new Date()));
    return { token, expiresAt };
  }

  /** The accounts of one workspace, for admins managing them (no password hashes). */
  async listUsers(workspaceId: string): Promise<Pick<AdminUser, 'id' | 'email' | 'role' | 'name' | 'createdAt'>[]> {
    return this.db
      .select({ id: adminUsers.id, email: adminUsers.email, role: adminUsers.role, name: adminUsers.name, createdAt: adminUsers.createdAt })
      .from(adminUsers)
      .where(eq(adminUsers.workspaceId, workspaceId))
      .orderBy(adminUsers.email);
  }

  /** An account of this workspace (an id of another workspace is none). */
  async findUser(id: string, workspaceId: string): Promise<AdminUser | undefined> {
    const [row] = await this.db.select().from(adminUsers).where(and(eq(adminUsers.id, id), eq(adminUsers.workspaceId, workspaceId)));
    return row;
  }

  /** Changes the role of an account of this workspace; its sessions end, so the new role applies at once. */
  async setRole(id: string, role: AdminRole, workspaceId: string): Promise<AdminUser | undefined> {
    const [row] = await this.db
      .update(adminUsers)
      .set({ role, updatedAt: new Date() })
      .where(and(eq(adminUsers.id, id), eq(adminUsers.workspaceId, workspaceId)))
      .returning();
    if (row) await this.db.delete(adminSessions).where(eq(adminSessions.adminUserId, id));
    return row;
  }

  async findSession(token: string): Promise<{ email: string; adminUserId: string; role: AdminRole; name: string | null; workspaceId: string } | undefined> {
    const [row] = await this.db
      .select({ email: adminUsers.email, adminUserId: adminUsers.id, role: adminUsers.role, name: adminUsers.name, workspaceId: adminUsers.workspaceId })
      .from(adminSessions)
      .innerJoin(adminUsers, eq(adminUsers.id, adminSessions.adminUserId))
      .where(and(eq(adminSessions.tokenHash, sha256(token)), gt(adminSessions.expiresAt, new Date())));
    return row;
  }

  async deleteSession(token: string): Promise<void> {
    await this.db.delete(adminSessions).where(eq(adminSessions.tokenHash, sha256(token)));
  }

  /** One audit row, in the workspace the actor acted in (default: the default workspace, for logins and refusals before any). */
  async audit(entry: { actor: string; action: string; detail?: unknown; ip?: string; workspaceId?: string }): Promise<void> {
    await this.db.insert(adminAudit).values({
      id: randomUUID(),
      workspaceId: entry.workspaceId ?? DEFAULT_WORKSPACE_ID,
      actor: entry.actor,
      action: entry.action,
      detail: entry.detail ?? null,
      ip: entry.ip ?? null,
    });
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
