import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SwitchboardError } from '../errors/index.js';
import { redactText } from '../observability/redaction.js';
import { personLabel } from './person-identity.js';
import type { HandoffRecords, InboxEntry } from '../store/handoffs.js';
import type { AdminRole } from '../store/schema.js';
import type { HandoffService } from '../turn/handoffs.js';
import { actorName, hasRole, operatorOf, type AdminActor } from './admin-auth.js';
import { idParamSchema, parseQuery } from './admin-filters.js';

export interface HandoffRouteDeps {
  handoffs: HandoffService | undefined;
  records: HandoffRecords;
  audit: (request: FastifyRequest, action: string, detail?: unknown) => Promise<void>;
  csrf: (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void;
  now?: () => Date;
}

const inboxQuery = z
  .object({
    status: z.enum(['waiting', 'active']).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(200),
  })
  .strict();

/** Operator text: a string; emptiness and length are checked by the service with precise codes. */
const textBody = z.object({ text: z.string({ error: 'text must be a string' }) }).strict();
/** A reply may carry the console's own id for it: a retry after a lost answer is stored and sent once. */
const replyBody = textBody.extend({ clientMessageId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'clientMessageId must be 1–100 letters, digits, - or _').optional() }).strict();

/** Refuses an actor below `role` with 403 (a viewer's takeover). */
export function requireRole(actor: AdminActor, role: AdminRole): void {
  if (!hasRole(actor, role)) throw new SwitchboardError('forbidden', `this needs the ${role} role; your account is a ${actor.role}`);
}

/** One inbox row as the console shows it: the person masked, how long they have waited. */
export function inboxItem(entry: InboxEntry, now: Date) {
  const { handoff, conversation } = entry;
  return {
    conversationId: conversation.id,
    channel: conversation.channel,
    user: redactText(conversation.externalUserId, 'list'),
    userLabel: personLabel(conversation.channel, conversation.externalUserId),
    status: handoff.status,
    reason: handoff.reason,
    summary: handoff.summary === null ? null : redactText(handoff.summary, 'list'),
    requestedAt: handoff.requestedAt.toISOString(),
    claimedAt: handoff.claimedAt?.toISOString() ?? null,
    // Waiting time runs until someone claims it.
    waitingMs: Math.max(0, (handoff.claimedAt ?? now).getTime() - handoff.requestedAt.getTime()),
    operator: handoff.operatorName,
  };
}

/**
 * The operators' API over handoffs (inside the admin scope: authenticated, audited, CSRF on
 * writes). Viewers read the inbox; taking over, replying, releasing and notes need `operator`.
 * Everything is the caller's workspace's: the inbox lists its handoffs, and an action on a
 * conversation of another workspace answers as one that does not exist (`operatorOf` carries the
 * workspace to the service, which checks it where it reads the conversation).
 */
export function registerHandoffRoutes(scope: FastifyInstance, deps: HandoffRouteDeps): void {
  const now = deps.now ?? (() => new Date());
  const service = (): HandoffService => {
    if (!deps.handoffs) throw new SwitchboardError('not_found', 'human handoff is not configured on this server');
    return deps.handoffs;
  };
  /**
   * An operator action: role checked first, then the action, then its audit row (only what
   * happened is recorded). A reply already delivered is not answered with an error because its
   * audit row could not be written — the operator would send it again; the log keeps the action.
   */
  const act = <T>(action: string, run: (request: FastifyRequest, id: string) => Promise<T>) =>
    async (request: FastifyRequest) => {
      const actor = request.adminActor!;
      requireRole(actor, 'operator');
      const { id } = parseQuery(idParamSchema, request.params);
      const result = await run(request, id);
      await deps.audit(request, action, { conversationId: id }).catch((error: unknown) => {
        request.log.error({ err: error, action, conversationId: id, actor: actorName(actor) }, 'admin audit row not written');
      });
      return result;
    };

  scope.get('/handoffs', async (request) => {
    const query = parseQuery(inboxQuery, request.query);
    const entries = await deps.records.inbox(query.status ? [query.status] : ['waiting', 'active'], query.limit, request.adminActor!.workspaceId);
    await deps.audit(request, 'handoffs.list', query);
    const at = now();
    return { items: entries.map((entry) => inboxItem(entry, at)) };
  });

  scope.post(
    '/conversations/:id/takeover',
    { preHandler: deps.csrf },
    act('handoff.takeover', async (request, id) => {
      const handoff = await service().takeover(id, operatorOf(request.adminActor!));
      return { conversationId: id, status: handoff.status, operator: handoff.operatorName, claimedAt: handoff.claimedAt?.toISOString() ?? null };
    }),
  );

  scope.post(
    '/conversations/:id/messages',
    { preHandler: deps.csrf },
    act('handoff.reply', async (request, id) => {
      const body = parseQuery(replyBody, request.body ?? {});
      return service().reply(id, operatorOf(request.adminActor!), body.text, body.clientMessageId);
    }),
  );

  scope.post(
    '/conversations/:id/release',
    { preHandler: deps.csrf },
    act('handoff.release', async (request, id) => {
      const handoff = await service().release(id, operatorOf(request.adminActor!));
      return { conversationId: id, status: handoff.status, releasedAt: handoff.releasedAt?.toISOString() ?? null };
    }),
  );

  scope.post(
    '/conversations/:id/notes',
    { preHandler: deps.csrf },
    act('handoff.note', async (request, id) => {
      const body = parseQuery(textBody, request.body ?? {});
      const note = await service().addNote(id, operatorOf(request.adminActor!), body.text);
      return { id: note.id, author: note.author, text: note.text, createdAt: note.createdAt.toISOString() };
    }),
  );
}
