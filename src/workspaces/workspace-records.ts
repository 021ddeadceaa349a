import { randomBytes, randomUUID } from 'node:crypto';
import { and, asc, desc, eq } from 'drizzle-orm';
import type { Db } from '../store/database.js';
import { inboundRefusals, workspaceChannels, workspaces, type Workspace, type WorkspaceStatus } from '../store/schema.js';

/** A receiving identity of a channel bound to a workspace (Slack team id, Twilio number, phone number id). */
export interface ChannelBinding {
  channel: string;
  identity: string;
  workspaceId: string;
}

export interface NewWorkspace {
  slug: string;
  name: string;
  allowedOrigins?: string[];
  settings?: Record<string, unknown>;
}

/** What can change on a workspace after it is created (settings are validated by the caller). */
export interface WorkspaceChanges {
  name?: string;
  status?: WorkspaceStatus;
  allowedOrigins?: string[];
  settings?: Record<string, unknown>;
}

export interface InboundRefusal {
  id: string;
  channel: string;
  identity: string;
  reason: string;
  createdAt: Date;
}

/** Public, unguessable, URL-safe: it only routes a widget to its workspace (like a publishable key). */
export const newWidgetKey = () => `wk_${randomBytes(18).toString('base64url')}`;
const newWorkspaceId = () => `ws_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;

/** The statements over workspaces, their channel bindings and refused inbound messages. */
export class WorkspaceRecords {
  constructor(private readonly db: Db) {}

  list(): Promise<Workspace[]> {
    return this.db.select().from(workspaces).orderBy(asc(workspaces.createdAt), asc(workspaces.id));
  }

  async get(id: string): Promise<Workspace | undefined> {
    const [row] = await this.db.select().from(workspaces).where(eq(workspaces.id, id));
    return row;
  }

  async create(input: NewWorkspace): Promise<Workspace> {
    const [row] = await this.db
      .insert(workspaces)
      .values({
        id: newWorkspaceId(),
        slug: input.slug,
        name: input.name,
        widgetKey: newWidgetKey(),
        allowedOrigins: input.allowedOrigins ?? [],
        settings: input.settings ?? {},
      })
      .returning();
    return row!;
  }

  async update(id: string, changes: WorkspaceChanges): Promise<Workspace | undefined> {
    const [row] = await this.db
      .update(workspaces)
      .set({ ...changes, updatedAt: new Date() })
      .where(eq(workspaces.id, id))
      .returning();
    return row;
  }

  /** A new widget key (the old one stops routing at once). */
  async rotateWidgetKey(id: string): Promise<Workspace | undefined> {
    return this.updateKey(id, newWidgetKey());
  }

  private async updateKey(id: string, widgetKey: string): Promise<Workspace | undefined> {
    const [row] = await this.db.update(workspaces).set({ widgetKey, updatedAt: new Date() }).where(eq(workspaces.id, id)).returning();
    return row;
  }

  bindings(): Promise<ChannelBinding[]> {
    return this.db.select({ channel: workspaceChannels.channel, identity: workspaceChannels.identity, workspaceId: workspaceChannels.workspaceId }).from(workspaceChannels);
  }

  /**
   * Binds a channel identity to a workspace. An identity already bound to another workspace is not
   * moved (returns false): unbind it there first, so a typo never steals another business's number.
   */
  async bind(binding: ChannelBinding): Promise<boolean> {
    const rows = await this.db.insert(workspaceChannels).values(binding).onConflictDoNothing().returning({ channel: workspaceChannels.channel });
    if (rows.length > 0) return true;
    const [existing] = await this.db
      .select({ workspaceId: workspaceChannels.workspaceId })
      .from(workspaceChannels)
      .where(and(eq(workspaceChannels.channel, binding.channel), eq(workspaceChannels.identity, binding.identity)));
    return existing?.workspaceId === binding.workspaceId;
  }

  async unbind(binding: ChannelBinding): Promise<boolean> {
    const rows = await this.db
      .delete(workspaceChannels)
      .where(
        and(
          eq(workspaceChannels.channel, binding.channel),
          eq(workspaceChannels.identity, binding.identity),
          eq(workspaceChannels.workspaceId, binding.workspaceId),
        ),
      )
      .returning({ channel: workspaceChannels.channel });
    return rows.length > 0;
  }

  async recordRefusal(refusal: Omit<InboundRefusal, 'id' | 'createdAt'>): Promise<void> {
    await this.db.insert(inboundRefusals).values({ id: randomUUID(), ...refusal });
  }

  refusals(limit = 100): Promise<InboundRefusal[]> {
    return this.db.select().from(inboundRefusals).orderBy(desc(inboundRefusals.createdAt)).limit(limit);
  }
}
