import type { InstanceLiveness } from '../infra/instance-heartbeat.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import type { TurnDispatcher } from './dispatcher.js';

/**
 * Re-queues user messages stuck in received/processing since before `olderThanMs` ago
 * (their process died, or their job was lost): the ledger, not the queue, is what
 * guarantees an accepted message is answered. A turn another live instance runs in its own
 * process (its heartbeat is current) is left to it. Returns how many.
 */
export async function recoverStuckMessages(
  deps: { store: Store; dispatcher: TurnDispatcher; logger: Logger; liveness?: InstanceLiveness | undefined },
  olderThanMs: number,
): Promise<number> {
  const stuck = await deps.store.unfinished.listStuck(new Date(Date.now() - olderThanMs));
  const alive = await liveOwners(deps, stuck.map((message) => message.turnOwner).filter((owner) => owner !== null));
  // Heartbeats not readable yet (Redis restarted a moment ago): owned turns are left to the orphan sweep.
  const lost = stuck.filter((message) => message.turnOwner === null || (alive !== undefined && !alive.has(message.turnOwner)));
  for (const message of lost) await deps.dispatcher.requeue(message.id);
  if (lost.length > 0) deps.logger.warn({ count: lost.length }, 'recovered unfinished messages from the ledger');
  return lost.length;
}

async function liveOwners(deps: { liveness?: InstanceLiveness | undefined; logger: Logger }, owners: string[]): Promise<Set<string> | undefined> {
  if (!deps.liveness || owners.length === 0) return new Set();
  try {
    return await deps.liveness.alive([...new Set(owners)]);
  } catch (error) {
    // Without Redis nobody can tell; as before heartbeats, the ledger's age decides.
    deps.logger.warn({ err: error }, 'instance heartbeats unreadable; recovering every stuck message');
    return new Set();
  }
}
