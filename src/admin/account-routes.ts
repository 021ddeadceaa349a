import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SwitchboardError } from '../errors/index.js';
import { ADMIN_ROLES } from '../store/schema.js';
import { hasRole } from './admin-auth.js';
import type { AdminStore } from './admin-store.js';
import { idParamSchema, parseQuery } from './admin-filters.js';
import { requireRole } from './handoff-routes.js';

export interface AccountRouteDeps {
  store: AdminStore;
  audit: (request: FastifyRequest, action: string, detail?: unknown) => Promise<void>;
  csrf: (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void;
}

const roleBody = z.object({ role: z.enum(ADMIN_ROLES) }).strict();

/**
 * Managing console accounts (admins only): list them, change a role, within the caller's
 * workspace (an account of another workspace is not found). Only an owner makes an owner or
 * changes an owner's role. New accounts come from `npm run admin:create`; passwords never pass
 * through this API.
 */
export function registerAccountRoutes(scope: FastifyInstance, deps: AccountRouteDeps): void {
  scope.get('/accounts', async (request) => {
    const actor = request.adminActor!;
    requireRole(actor, 'admin');
    const users = await deps.store.listUsers(actor.workspaceId);
    await deps.audit(request, 'accounts.list');
    return { items: users.map((user) => ({ ...user, createdAt: user.createdAt.toISOString() })) };
  });

  scope.patch('/accounts/:id', { preHandler: deps.csrf }, async (request) => {
    const actor = request.adminActor!;
    requireRole(actor, 'admin');
    const { id } = parseQuery(idParamSchema, request.params);
    const { role } = parseQuery(roleBody, request.body ?? {});
    // An admin demoting themselves could leave nobody able to manage accounts.
    if (actor.kind === 'session' && actor.userId === id) throw new SwitchboardError('forbidden', 'you cannot change your own role');
    const target = await deps.store.findUser(id, actor.workspaceId);
    if (!target) throw new SwitchboardError('not_found', 'no account with this id');
    if ((role === 'owner' || target.role === 'owner') && !hasRole(actor, 'owner')) {
      throw new SwitchboardError('forbidden', 'only an owner makes an owner or changes an owner\'s role');
    }
    const updated = await deps.store.setRole(id, role, actor.workspaceId);
    if (!updated) throw new SwitchboardError('not_found', 'no account with this id');
    await deps.audit(request, 'accounts.role', { id, role });
    return { id: updated.id, email: updated.email, role: updated.role };
  });
}
