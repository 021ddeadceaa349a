import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq, gt, lt } from 'drizzle-orm';
import type { Db } from '../store/database.js';
import { adminAudit, adminSessions, adminUsers, type AdminRole, type AdminUser } from '../store/schema.js';

export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** Admin accounts, their sessions and the audit trail of admin reads. */
export class AdminStore {
  constructor(private readonly db: Db) {}

  async createUser(email: string, passwordHash: string, profile: { role?: AdminRole; name?: string | undefined } = {}): Promise<AdminUser | undefined> {
    const [row] = await this.db
      .insert(adminUsers)
      .values({ id: randomUUID(), email: normalizeEmail(email), passwordHash, role: profile.role ?? 'admin', name: profile.name?.trim() || null })
      .onConflictDoNothing({ target: adminUsers.email })
      .returning();
    return row;
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

  /** Returns the cookie value; only its sha256 is stored. */
  async createSession(adminUserId: string, ttlMs: number): Promise<{ token: string; expiresAt: Date }> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + ttlMs);
    await this.db.insert(adminSessions).values({ tokenHash: sha256(token), adminUserId, expiresAt });
    // Housekeeping rides along with logins instead of a timer.
    await this.db.delete(adminSessions).where(lt(adminSessions.expiresAt, new Date()));
    return { token, expiresAt };
  }

  /** Every account, for admins managing them (no password hashes). */
  async listUsers(): Promise<Pick<AdminUser, 'id' | 'email' | 'role' | 'name' | 'createdAt'>[]> {
    return this.db
      .select({ id: adminUsers.id, email: adminUsers.email, role: adminUsers.role, name: adminUsers.name, createdAt: adminUsers.createdAt })
      .from(adminUsers)
      .orderBy(adminUsers.email);
  }

  /** Changes an account's role; its sessions end, so the new role applies at once. */
  async setRole(id: string, role: AdminRole): Promise<AdminUser | undefined> {
    const [row] = await this.db.update(adminUsers).set({ role, updatedAt: new Date() }).where(eq(adminUsers.id, id)).returning();
    if (row) await this.db.delete(adminSessions).where(eq(adminSessions.adminUserId, id));
    return row;
  }

  async findSession(token: string): Promise<{ email: string; adminUserId: string; role: AdminRole; name: string | null } | undefined> {
    const [row] = await this.db
      .select({ email: adminUsers.email, adminUserId: adminUsers.id, role: adminUsers.role, name: adminUsers.name })
      .from(adminSessions)
      .innerJoin(adminUsers, eq(adminUsers.id, adminSessions.adminUserId))
      .where(and(eq(adminSessions.tokenHash, sha256(token)), gt(adminSessions.expiresAt, new Date())));
    return row;
  }

  async deleteSession(token: string): Promise<void> {
    await this.db.delete(adminSessions).where(eq(adminSessions.tokenHash, sha256(token)));
  }

  async audit(entry: { actor: string; action: string; detail?: unknown; ip?: string }): Promise<void> {
    await this.db.insert(adminAudit).values({
      id: randomUUID(),
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
