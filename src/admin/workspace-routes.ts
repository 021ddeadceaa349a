import { registerAdminScope } from './admin-scope.js';
import { count } from 'drizzle-orm';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import { CredentialInvalidError, SwitchboardError } from '../errors/index.js';
import { redactValue } from '../observability/redaction.js';
import type { Db } from '../store/database.js';
import { adminUsers, WORKSPACE_STATUSES, type Workspace } from '../store/schema.js';
import type { CredentialVault } from '../workspaces/credential-vault.js';
import { effectiveSettings } from '../workspaces/effective-settings.js';
import { credentialMode, INTEGRATION_NAMES, INTEGRATIONS, isIntegrationName, type IntegrationName } from '../workspaces/integrations.js';
import type { WorkspaceDirectory } from '../workspaces/workspace-directory.js';
import { channelBindingSchema, embedSnippet, originListSchema, slugSchema, workspaceNameSchema } from '../workspaces/workspace-input.js';
import type { ChannelBinding, WorkspaceRecords } from '../workspaces/workspace-records.js';
import { storableSettings, WorkspaceSettingsError } from '../workspaces/workspace-settings.js';
import { actorName, hasRole, WORKSPACE_HEADER, type AdminAuth } from './admin-auth.js';
import { parseQuery } from './admin-filters.js';
import type { AdminStore } from './admin-store.js';
import { requireRole } from './handoff-routes.js';

export interface WorkspaceRouteDeps {
  config: Config;
  db: Db;
  store: AdminStore;
  auth: AdminAuth;
  directory: WorkspaceDirectory;
  records: WorkspaceRecords;
  /** The workspaces' sealed credentials; without it the console lists none and stores none. */
  credentials?: CredentialVault | undefined;
}

const workspaceIdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a workspace id') });
const integrationParams = z.object({
  integration: z.string().refine(isIntegrationName, `expected one of ${INTEGRATION_NAMES.join(', ')}`),
});
const createBody = z
  .object({ slug: slugSchema, name: workspaceNameSchema, allowedOrigins: originListSchema.optional(), settings: z.record(z.string(), z.unknown()).optional() })
  .strict();
const patchBody = z
  .object({ name: workspaceNameSchema.optional(), status: z.enum(WORKSPACE_STATUSES).optional() })
  .strict()
  .refine((body) => body.name !== undefined || body.status !== undefined, 'send name or status');
const settingsBody = z.object({ settings: z.record(z.string(), z.unknown()) }).strict();
const originsBody = z.object({ allowedOrigins: originListSchema }).strict();
const credentialsBody = z.object({ values: z.record(z.string(), z.unknown()) }).strict();
const refusalsQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }).strict();

/** Postgres' unique_violation (23505), wherever drizzle or the driver wrapped it. */
function isUniqueViolation(error: unknown): boolean {
  for (let cause = error, depth = 0; cause && depth < 5; cause = (cause as { cause?: unknown }).cause, depth++) {
    if ((cause as { code?: unknown }).code === '23505') return true;
  }
  return false;
}

/** What the console may show of each integration's fields: names and which are secret, never a value. */
function integrationFields(integration: IntegrationName) {
  const spec = INTEGRATIONS[integration];
  const shape = (spec.schema as unknown as z.ZodObject).shape as Record<string, z.ZodType>;
  return Object.entries(shape).map(([name, field]) => ({ name, secret: spec.secretFields.has(name), required: !field.safeParse(undefined).success }));
}

/**
 * Managing workspaces (README "Workspaces"), in the admin API's path (/api/admin) but a scope of its
 * own, so it registers apart from admin-routes.ts with the same rules: a session cookie or the
 * ADMIN_TOKEN bearer (401 otherwise), the CSRF token on every write by cookie (the same secret
 * cookie as the rest of the API), an audit row for every read and write, `no-store`.
 *
 * Two audiences:
 * - the deployment's **owner** (and the token holder): `/workspaces…` lists, creates, suspends
 *   workspaces, rotates widget keys, binds channel identities, and reads the refused inbound
 *   messages. Anyone else gets 403 `forbidden`: these routes exist on every deployment (README),
 *   so hiding them with 404 would hide nothing.
 * - an **admin** of a workspace (or an owner acting in it through `x-switchboard-workspace`):
 *   `/workspace…` reads and changes the caller's own workspace: widget, origins, settings, credentials.
 *
 * Every write tells the directory (`changed()`), which reads the table again here and announces it
 * to the other instances, whose settings and credential caches drop what they built.
 * Credential values are taken in and never given back: responses and audit rows name fields only.
 */
export function registerWorkspaceRoutes(http: FastifyInstance, deps: WorkspaceRouteDeps): void {
  void http.register(
    async (scope) => {
      await registerAdminScope(scope, deps.config, [
        (error, _request, reply) => {
          if (!(error instanceof WorkspaceSettingsError)) return false;
          void reply.status(400).send({ error: { code: 'invalid_payload', message: error.message, problems: error.problems } });
          return true;
        },
        (error, _request, reply) => {
          if (!(error instanceof CredentialInvalidError)) return false;
          // Field names and what is wrong with each; never a value.
          void reply.status(400).send({ error: { ...error.toJSON(), integration: error.integration, issues: error.issues } });
          return true;
        },
      ]);
      scope.addHook('onRequest', async (request) => {
        const actor = await deps.auth.authenticate({
          authorization: request.headers.authorization,
          cookie: request.headers.cookie,
          workspace: request.headers[WORKSPACE_HEADER],
        });
        if (!actor) throw new SwitchboardError('unauthorized', 'authentication required');
        request.adminActor = actor;
      });
      scope.addHook('onSend', async (_request, reply, payload) => {
        void reply.header('cache-control', 'no-store');
        return payload;
      });

      const csrf = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
        if (request.adminActor?.kind === 'token') return done();
        scope.csrfProtection(request, reply, done);
      };
      /** An audit row in the workspace the action concerns (the caller's, unless an owner acted on another). */
      const audit = (request: FastifyRequest, action: string, detail: unknown, workspaceId = request.adminActor!.workspaceId) =>
        deps.store.audit({ actor: actorName(request.adminActor!), action, detail: redactValue(detail, 'list'), ip: request.ip, workspaceId });
      const owner = (request: FastifyRequest) => requireRole(request.adminActor!, 'owner');
      const baseUrl = (request: FastifyRequest) => deps.config.PUBLIC_URL ?? `${request.protocol}://${request.host}`;

      const workspaceOf = async (id: string): Promise<Workspace> => {
        const workspace = await deps.records.get(id);
        if (!workspace) throw new SwitchboardError('not_found', 'no workspace with this id');
        return workspace;
      };
      const accountCounts = async (): Promise<Map<string, number>> => {
        const rows = await deps.db.select({ workspaceId: adminUsers.workspaceId, accounts: count() }).from(adminUsers).groupBy(adminUsers.workspaceId);
        return new Map(rows.map((row) => [row.workspaceId, Number(row.accounts)]));
      };
      const summary = (workspace: Workspace, bindings: ChannelBinding[], accounts: number | undefined, request: FastifyRequest) => ({
        id: workspace.id,
        slug: workspace.slug,
        name: workspace.name,
        status: workspace.status,
        isDefault: workspace.id === DEFAULT_WORKSPACE_ID,
        widgetKey: workspace.widgetKey,
        embedSnippet: embedSnippet(baseUrl(request), workspace.widgetKey),
        allowedOrigins: workspace.allowedOrigins,
        channels: bindings.filter((binding) => binding.workspaceId === workspace.id).map(({ channel, identity }) => ({ channel, identity })),
        ...(accounts !== undefined && { accounts }),
        createdAt: workspace.createdAt.toISOString(),
        updatedAt: workspace.updatedAt.toISOString(),
      });
      const summaryOf = async (workspace: Workspace, request: FastifyRequest) =>
        summary(workspace, await deps.records.bindings(), (await accountCounts()).get(workspace.id) ?? 0, request);

      // ---------- the owner's: every workspace ----------

      scope.get('/workspaces', async (request) => {
        owner(request);
        const [rows, bindings, accounts] = await Promise.all([deps.records.list(), deps.records.bindings(), accountCounts()]);
        await audit(request, 'workspaces.list', null);
        return { items: rows.map((row) => summary(row, bindings, accounts.get(row.id) ?? 0, request)) };
      });

      scope.post('/workspaces', { preHandler: csrf }, async (request, reply) => {
        owner(request);
        const body = parseQuery(createBody, request.body);
        const settings = storableSettings(body.settings ?? {});
        if ((await deps.records.list()).some((row) => row.slug === body.slug)) throw slugTaken(body.slug);
        const created = await deps.records
          .create({ slug: body.slug, name: body.name, allowedOrigins: body.allowedOrigins ?? [], settings })
          .catch((error: unknown) => {
            throw isUniqueViolation(error) ? slugTaken(body.slug) : error;
          });
        await deps.directory.changed();
        await audit(request, 'workspaces.create', { id: created.id, slug: created.slug, settings: Object.keys(settings) }, created.id);
        return reply.status(201).send(await summaryOf(created, request));
      });

      scope.patch('/workspaces/:id', { preHandler: csrf }, async (request) => {
        owner(request);
        const { id } = parseQuery(workspaceIdParams, request.params);
        const body = parseQuery(patchBody, request.body);
        await workspaceOf(id);
        if (id === DEFAULT_WORKSPACE_ID && body.status === 'suspended') {
          throw new SwitchboardError('default_not_suspendable', 'the default workspace cannot be suspended: it serves the deployment configured by environment');
        }
        const updated = await deps.records.update(id, body);
        if (!updated) throw new SwitchboardError('not_found', 'no workspace with this id');
        await deps.directory.changed();
        await audit(request, 'workspaces.update', { id, ...body }, id);
        return summaryOf(updated, request);
      });

      scope.post('/workspaces/:id/widget-key', { preHandler: csrf }, async (request) => {
        owner(request);
        const { id } = parseQuery(workspaceIdParams, request.params);
        const rotated = await deps.records.rotateWidgetKey(id);
        if (!rotated) throw new SwitchboardError('not_found', 'no workspace with this id');
        await deps.directory.changed();
        await audit(request, 'workspaces.widget-key.rotate', { id }, id);
        return summaryOf(rotated, request);
      });

      scope.post('/workspaces/:id/channels', { preHandler: csrf }, async (request, reply) => {
        owner(request);
        const { id } = parseQuery(workspaceIdParams, request.params);
        const binding = parseQuery(channelBindingSchema, request.body);
        const workspace = await workspaceOf(id);
        const elsewhere = deps.directory.boundTo(binding.channel, binding.identity);
        if ((elsewhere !== undefined && elsewhere !== id) || !(await deps.records.bind({ ...binding, workspaceId: id }))) {
          throw new SwitchboardError('identity_taken', `this ${binding.channel} identity belongs to another workspace: unbind it there first`);
        }
        await deps.directory.changed();
        await audit(request, 'workspaces.channels.bind', { id, ...binding }, id);
        return reply.status(201).send(await summaryOf(workspace, request));
      });

      scope.delete('/workspaces/:id/channels', { preHandler: csrf }, async (request) => {
        owner(request);
        const { id } = parseQuery(workspaceIdParams, request.params);
        const binding = parseQuery(channelBindingSchema, request.body);
        const workspace = await workspaceOf(id);
        if (!(await deps.records.unbind({ ...binding, workspaceId: id }))) throw new SwitchboardError('not_found', `this ${binding.channel} identity is not bound to this workspace`);
        await deps.directory.changed();
        await audit(request, 'workspaces.channels.unbind', { id, ...binding }, id);
        return summaryOf(workspace, request);
      });

      // Refused inbound messages have no workspace (that is why they were refused): the owner's to read.
      scope.get('/workspace/refusals', async (request) => {
        owner(request);
        const { limit } = parseQuery(refusalsQuery, request.query);
        const rows = await deps.records.refusals(limit);
        await audit(request, 'workspaces.refusals.list', { limit });
        return { items: rows.map((row) => ({ ...row, createdAt: row.createdAt.toISOString() })) };
      });

      // ---------- an admin's: the caller's workspace ----------

      const ownWorkspace = async (request: FastifyRequest): Promise<Workspace> => {
        requireRole(request.adminActor!, 'admin');
        return workspaceOf(request.adminActor!.workspaceId);
      };

      const credentialView = async (workspaceId: string) => {
        const stored = new Map((await deps.credentials?.listMasked(workspaceId))?.map((row) => [row.integration, row]) ?? []);
        return {
          available: deps.credentials !== undefined,
          // The default workspace is the deployment as its environment configures it, credentials included.
          fromEnvironment: workspaceId === DEFAULT_WORKSPACE_ID,
          integrations: INTEGRATION_NAMES.map((integration) => {
            const row = stored.get(integration);
            return {
              integration,
              mode: credentialMode(deps.config, integration),
              fields: integrationFields(integration),
              stored: row ? { masked: row.masked, updatedAt: row.updatedAt.toISOString() } : null,
            };
          }),
        };
      };
      const workspaceView = async (workspace: Workspace, request: FastifyRequest) => ({
        ...(await summaryOf(workspace, request)),
        settings: workspace.settings,
        effective: effectiveSettings(deps.config, workspace.settings),
        credentials: await credentialView(workspace.id),
        canManageWorkspaces: hasRole(request.adminActor!, 'owner'),
      });
      /** After a write: the directory reads it back (and tells the other instances), then the view is read fresh. */
      const changedView = async (request: FastifyRequest, workspaceId: string) => {
        await deps.directory.changed();
        return workspaceView(await workspaceOf(workspaceId), request);
      };

      scope.get('/workspace', async (request) => {
        const workspace = await ownWorkspace(request);
        await audit(request, 'workspace.read', null);
        return workspaceView(workspace, request);
      });

      scope.put('/workspace/settings', { preHandler: csrf }, async (request) => {
        const workspace = await ownWorkspace(request);
        const { settings: submitted } = parseQuery(settingsBody, request.body);
        const settings = storableSettings(submitted);
        await deps.records.update(workspace.id, { settings });
        const before = Object.keys(workspace.settings);
        const after = Object.keys(settings);
        const changedKeys = [...new Set([...before, ...after])].filter((key) => workspace.settings[key] !== settings[key]).sort();
        const view = await changedView(request, workspace.id);
        // Keys only: a system prompt or a notice is the workspace's text, not the audit trail's.
        await audit(request, 'workspace.settings.update', { changed: changedKeys });
        return view;
      });

      scope.put('/workspace/origins', { preHandler: csrf }, async (request) => {
        const workspace = await ownWorkspace(request);
        const { allowedOrigins } = parseQuery(originsBody, request.body);
        await deps.records.update(workspace.id, { allowedOrigins });
        const view = await changedView(request, workspace.id);
        await audit(request, 'workspace.origins.update', { allowedOrigins });
        return view;
      });

      const vault = (workspaceId: string): CredentialVault => {
        if (!deps.credentials) throw new SwitchboardError('unavailable', 'workspace credentials are not available on this server');
        if (workspaceId === DEFAULT_WORKSPACE_ID) {
          throw new SwitchboardError('invalid_payload', 'the default workspace takes its credentials from the environment: set them there');
        }
        return deps.credentials;
      };

      scope.put('/workspace/credentials/:integration', { preHandler: csrf }, async (request) => {
        const workspace = await ownWorkspace(request);
        const { integration } = parseQuery(integrationParams, request.params) as { integration: IntegrationName };
        const { values } = parseQuery(credentialsBody, request.body);
        await vault(workspace.id).put(workspace.id, integration, values);
        const view = await changedView(request, workspace.id);
        await audit(request, 'workspace.credentials.put', { integration, fields: Object.keys(values).sort() });
        return view;
      });

      scope.delete('/workspace/credentials/:integration', { preHandler: csrf }, async (request) => {
        const workspace = await ownWorkspace(request);
        const { integration } = parseQuery(integrationParams, request.params) as { integration: IntegrationName };
        if (!(await vault(workspace.id).delete(workspace.id, integration))) throw new SwitchboardError('not_found', `no ${integration} credentials are stored for this workspace`);
        const view = await changedView(request, workspace.id);
        await audit(request, 'workspace.credentials.delete', { integration });
        return view;
      });
    },
    { prefix: '/api/admin' },
  );
}

const slugTaken = (slug: string) => new SwitchboardError('slug_taken', `another workspace has the slug "${slug}"`);
