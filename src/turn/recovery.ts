import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import type { TurnDispatcher } from './dispatcher.js';

/**
 * Re-queues user messages stuck in received/processing since before `olderThanMs` ago
 * (their process died, or their job was lost): the ledger, not the queue, is what
 * guarantees an accepted message is answered. Returns how many.
 */
export async function recoverStuckMessages(deps: { store: Store; dispatcher: TurnDispatcher; logger: Logger }, olderThanMs: number): Promise<number> {
  const stuck = await deps.store.unfinished.listStuck(new Date(Date.now() - olderThanMs));
  for (const message of stuck) await deps.dispatcher.requeue(message.id);
  if (stuck.length > 0) deps.logger.warn({ count: stuck.length }, 'recovered unfinished messages from the ledger');
  return stuck.length;
}
