import { and, desc, eq } from 'drizzle-orm';
import type { Db } from '../store/database.js';
import { channelDeliveries, type ChannelDelivery, type DeliveryStatus } from '../store/schema.js';

/** One workspace's outbound deliveries, newest first (`status: 'failed'`: what the console shows as permanently failed). */
export function listDeliveries(db: Db, workspaceId: string, filter: { status?: DeliveryStatus | undefined; limit: number }): Promise<ChannelDelivery[]> {
  return db
    .select()
    .from(channelDeliveries)
    .where(and(eq(channelDeliveries.workspaceId, workspaceId), filter.status ? eq(channelDeliveries.status, filter.status) : undefined))
    .orderBy(desc(channelDeliveries.createdAt))
    .limit(filter.limit);
}
