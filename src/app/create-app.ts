import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { attachAdminConsole } from '../admin/admin-console.js';
import type { FirstRunSetup } from '../admin/first-run-setup.js';
import { chainPolicyFrom } from '../agent/chain-policy-from-config.js';
import type { ChatModel } from '../agent/chat-model.js';
import { ModelChain } from '../agent/model-chain.js';
import { createChatModels } from '../agent/providers/create-chat-models.js';
import { apiKeyVariableList } from '../agent/providers/index.js';
import type { ChannelSeams } from '../channels/channel.js';
import { CHANNEL_FACTORIES, mountChannels, type MountedChannels } from '../channels/index.js';
import { createDeliveryRetry } from '../channels/delivery-retry.js';
import { OutboundDelivery } from '../channels/outbound-delivery.js';
import type { SlackChannel } from '../channels/slack/slack-channel.js';
import type { WebServer } from '../channels/web/web-channel.js';
import { createSocketServer } from '../channels/web/socket-server.js';
import type { WhatsAppWebChannel } from '../channels/whatsapp-web/whatsapp-web-channel.js';
import { configuredProviders, migratesOnStart, type Config } from '../config/config.js';
import { buildInfra } from '../infra/build-infra.js';
import { createSocketAdapter } from '../infra/socket-adapter.js';
import { PipelineEvents } from '../observability/events.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { registerMetricsRoute } from '../observability/metrics-route.js';
import { paymentNoticesFrom } from '../payments/payment-notices.js';
import { PaymentEventProcessor } from '../payments/payment-processor.js';
import { registerStripeWebhook } from '../payments/stripe-webhook.js';
import { handleHttpError } from '../server/error-handler.js';
import { registerHealthRoutes } from '../server/health-routes.js';
import { loadStaticAssets } from '../server/static-assets.js';
import { openDatabase, type Database } from '../store/database.js';
import { createStore, type Store } from '../store/index.js';
import { ApprovalPolicy } from '../tools/approval.js';
import { buildTools } from '../tools/build-tools.js';
import type { AnyTool } from '../tools/tool.js';
import { ToolPolicy } from '../tools/tool-policy.js';
import { ToolRegistry } from '../tools/tool-registry.js';
import type { ConfirmationService } from '../turn/confirmations.js';
import type { Intake } from '../turn/intake.js';
import { handoffSettingsFrom } from '../turn/handoff-settings.js';
import { turnSettingsFrom } from '../turn/settings.js';
import { createSpine, type Spine } from '../turn/spine.js';
import type { WorkspaceTurnParts } from '../turn/workspace-turns.js';
import { WorkspaceDirectory } from '../workspaces/workspace-directory.js';
import { WorkspaceRecords } from '../workspaces/workspace-records.js';
import { WorkspaceConfigs } from '../workspaces/workspace-configs.js';
import { openCredentialVault, type CredentialVault } from '../workspaces/credential-vault.js';
import { credentialOverlay } from '../workspaces/integrations.js';
import { envIdentitiesFrom } from '../workspaces/env-identities.js';
import type { TransportRegistry } from '../turn/transports.js';
import { rotatingSecrets } from '../config/secret.js';

export interface AppOptions {
  logger?: Logger;
  /** Models to use instead of those built from config (a documented seam for tests and embedding). */
  models?: ChatModel[];
  /** Tools offered in addition to the configured integrations. */
  extraTools?: AnyTool[];
  /** Replaces the whatsapp-web.js client when WHATSAPP_WEB_ENABLED (tests drive the adapter without a browser). */
  whatsAppWebClient?: ChannelSeams['whatsAppWebClient'];
}

export interface App {
  readonly http: FastifyInstance;
  readonly io: WebServer;
  readonly database: Database;
  /** Every statement over the domain tables, by table. */
  readonly store: Store;
  /** Every workspace and channel binding, in memory: routes inbound messages (`route`, `routeWidget`). */
  readonly workspaces: WorkspaceDirectory;
  /** Statements over workspaces, bindings and refusals (changes are followed by `workspaces.changed()`). */
  readonly workspaceRecords: WorkspaceRecords;
  /** Each workspace's effective config (settings and credentials over the deployment's), cached until a change. */
  readonly workspaceConfigs: WorkspaceConfigs;
  /** Each workspace's credentials, encrypted at rest (SECRETS_MASTER_KEY); after a change call `workspaces.changed()`. */
  readonly credentials: CredentialVault;
  /** The one way in for messages (every channel's, and embedders'). */
  readonly intake: Intake;
  /** Where channels' reply transports are found (turns, confirmations, follow-ups). */
  readonly transports: TransportRegistry;
  /** The turn spine: queue kind, work in flight, the runner. */
  readonly spine: Spine;
  readonly events: PipelineEvents;
  /** Confirm / decline of sensitive tool calls, for every channel: `confirmations.answer(conversationId, id | 'latest', decision)`. */
  readonly confirmations: ConfirmationService;
  /** The mounted channels (web, and Slack, SMS, WhatsApp when configured). */
  readonly channels: MountedChannels;
  /** Prometheus registry; other parts register breakers and queues here (see src/metrics/metrics.ts). */
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The console's first-run setup (open while no admin account exists); undefined on a worker. */
  readonly firstRun: FirstRunSetup | undefined;
  /** Starts listening; resolves to the bound address, e.g. http://127.0.0.1:3000. */
  listen(port?: number, host?: string): Promise<string>;
  /** Graceful: stop accepting, finish turns in flight, close sockets, HTTP, Redis and the database. */
  close(): Promise<void>;
}

const approvalPolicyFrom = (config: Config) =>
  new ApprovalPolicy({ sensitiveTools: new Set(config.SENSITIVE_TOOLS), ttlMs: config.CONFIRMATION_TTL_S * 1000 });

/** The composition root: builds every part from config and wires them. No logic lives here. */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL });
  const database = await openDatabase({ url: config.DATABASE_URL?.reveal(), dataDir: config.DATA_DIR });
  // Split roles leave migrations to `npm run migrate`, once per deploy, instead of racing from every instance.
  if (migratesOnStart(config)) await database.migrate();
  const role = config.SWITCHBOARD_ROLE;
  /** Web instances only enqueue when there is a shared queue; the in-process default always runs its own turns. */
  const consumesTurns = role !== 'web' || !config.REDIS_URL;
  // The hot client (reply cache, rate limits): auto-pipelined, so the commands of all the messages
  // read in one event-loop turn go to Redis in one write, not one write each.
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL.reveal(), { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, enableAutoPipelining: true })
    : undefined;
  redis?.on('error', (error) => logger.warn({ err: error }, 'redis error'));
  await redis?.connect().catch((error: unknown) => logger.warn({ err: error }, 'redis not reachable at start'));

  const models = options.models ?? (await createChatModels(config));
  if (models.length === 0) {
    logger.warn(`no LLM provider configured (set ${apiKeyVariableList()}): every message gets FALLBACK_REPLY`);
  } else {
    logger.info({ providers: configuredProviders(config) }, 'LLM providers');
  }

  const store = createStore(database.db);
  const workspaceRecords = new WorkspaceRecords(database.db);
  const workspaces = await WorkspaceDirectory.open({
    records: workspaceRecords,
    logger,
    redis: config.REDIS_URL && { url: config.REDIS_URL.reveal(), prefix: config.REDIS_PREFIX },
    envIdentities: envIdentitiesFrom(config),
    onRefused: (channel, reason) => metrics.inboundRefused.inc({ channel, reason }),
  });
  // A master key that does not open the stored credentials stops the start here, with what to set.
  const credentials = openCredentialVault(config, database.db);
  await credentials.verifyAtStart().catch(async (error: unknown) => {
    await workspaces.close();
    redis?.disconnect();
    await database.close();
    throw error;
  });
  workspaces.onChange(() => credentials.invalidate());
  const workspaceConfigs = new WorkspaceConfigs(
    config,
    workspaces,
    async (workspaceId) => credentialOverlay(config, workspaceId, await credentials.all(workspaceId)),
    logger,
  );
  let mountedChannels: MountedChannels | undefined;
  const events = new PipelineEvents(logger);
  const infra = buildInfra(config, { redis, logger, onRateLimited: (scope) => metrics.rateLimited.inc({ scope }) });
  // Beating before the first message is accepted: a turn this process owns is never read as orphaned.
  await infra.heartbeat?.start();
  const chain = new ModelChain(models, logger, { policy: chainPolicyFrom(config) });
  const registry = new ToolRegistry([...(await buildTools(config, logger)), ...(options.extraTools ?? [])], new ToolPolicy(config.TOOL_CHANNEL_POLICY));
  // A workspace with settings or credentials of its own gets models, tools and settings built from its config.
  const workspaceParts = async (workspaceId: string): Promise<WorkspaceTurnParts | undefined> => {
    const resolved = await workspaceConfigs.configFor(workspaceId);
    if (resolved.isDeploymentConfig) return undefined;
    const own = resolved.config;
    const ownModels = options.models ?? (await createChatModels(own));
    const tools = [...(await buildTools(own, logger)), ...(options.extraTools ?? [])].filter(
      (tool) => !resolved.enabledTools || resolved.enabledTools.includes(tool.name),
    );
    return {
      chain: new ModelChain(ownModels, logger, { policy: chainPolicyFrom(own) }),
      tools: new ToolRegistry(tools, new ToolPolicy(own.TOOL_CHANNEL_POLICY)),
      settings: turnSettingsFrom(own),
      approvals: approvalPolicyFrom(own),
    };
  };
  const deploymentHandoffSettings = handoffSettingsFrom(config);
  const spine = createSpine({
    store,
    chain,
    tools: registry,
    settings: turnSettingsFrom(config),
    events,
    logger,
    queues: { durable: infra.queue, local: infra.localQueue },
    // Turns run where they were accepted; a stopped instance's are taken over within about QUEUE_LOCK_MS.
    placement: infra.heartbeat && {
      liveness: infra.heartbeat,
      concurrency: config.QUEUE_CONCURRENCY,
      sweepIntervalMs: Math.max(250, Math.floor(config.QUEUE_LOCK_MS / 2)),
    },
    cache: infra.cache,
    limiter: infra.limiter,
    approvals: approvalPolicyFrom(config),
    workspaces: {
      partsFor: workspaceParts,
      generation: () => workspaceConfigs.generation,
      shared: () => workspaces.isMulti,
      limits: (workspaceId) => {
        const own = workspaceConfigs.settingsFor(workspaceId).config;
        return { userPerMinute: own.RATE_LIMIT_USER_PER_MINUTE, ipPerMinute: own.RATE_LIMIT_IP_PER_MINUTE };
      },
    },
    toolTimeoutMs: config.TOOL_TIMEOUT_MS,
    followUpIntervalMs: config.FOLLOW_UP_INTERVAL_MS,
    handoff: {
      settings: deploymentHandoffSettings,
      settingsFor: (workspaceId) => {
        const own = workspaceConfigs.settingsFor(workspaceId);
        return own.isDeploymentConfig ? deploymentHandoffSettings : handoffSettingsFrom(own.config);
      },
      consoleLink: (conversationId) => `${config.PUBLIC_URL ?? `http://localhost:${config.PORT}`}/admin#/conversations/${conversationId}`,
      // The channels mount after the spine: the Slack channel is looked up when a handoff opens.
      notifier: () => {
        const slack = mountedChannels?.get('slack') as SlackChannel | undefined;
        const target = config.HANDOFF_SLACK_CHANNEL;
        return slack && target ? { waiting: (input) => slack.notifyWaitingHandoff(target, input) } : undefined;
      },
    },
  });
  await spine.start(consumesTurns);
  const { confirmations } = spine;

  const http = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request access lines cost more than the work on the hot path; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1_048_576,
  });
  http.setErrorHandler(handleHttpError);
  http.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'not_found', message: `no route for ${request.method} ${request.url.split('?')[0]}` } });
  });
  let shuttingDown = false;
  registerHealthRoutes(http, { database, redis, isShuttingDown: () => shuttingDown });
  const assets = await loadStaticAssets();
  for (const [path, asset] of Object.entries(assets)) {
    http.get(path, (_request, reply) => reply.type(asset.contentType).header('cache-control', 'no-cache').send(asset.body));
  }

  const ioOptions = {
    // Room for MAX_MESSAGE_CHARS of 4-byte characters, so an over-long message is
    // answered with message_too_long instead of socket.io dropping the connection.
    maxHttpBufferSize: Math.max(100_000, config.MAX_MESSAGE_CHARS * 4 + 4096),
    // A client that drops for a moment gets the reply events it missed (`socket.recovered`).
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000 },
  };
  // A worker serves no sockets: its server only broadcasts replies, through the adapter, to the web instances.
  // CORS (any origin) for long-polling requests only: see createSocketServer.
  const io = createSocketServer<WebServer>(role === 'worker' ? undefined : http.server, ioOptions);
  const socketAdapter = config.REDIS_URL
    ? createSocketAdapter({ redisUrl: config.REDIS_URL.reveal(), prefix: config.REDIS_PREFIX }, logger)
    : undefined;
  socketAdapter?.install(io as unknown as Server);
  // Before any socket is served: whether other instances run decides where a broadcast goes.
  await socketAdapter?.start();
  const delivery = new OutboundDelivery(
    store.channels,
    createDeliveryRetry({
      maxAttempts: config.CHANNEL_DELIVERY_ATTEMPTS,
      baseDelayMs: config.CHANNEL_DELIVERY_BASE_DELAY_MS,
      maxDelayMs: config.CHANNEL_DELIVERY_MAX_DELAY_MS,
    }),
    logger,
  );
  const channels = await mountChannels(
    CHANNEL_FACTORIES,
    { config, http, io, intake: spine.intake, store, workspaces, workspaceConfigs, credentials, workspaceRecords, delivery, confirmations, logger, recoveryOffset: () => socketAdapter?.latestOffset() },
    spine.transports,
    { logger, seams: { ...(options.whatsAppWebClient && { whatsAppWebClient: options.whatsAppWebClient }) } },
  );
  mountedChannels = channels;

  // Signed Stripe webhooks close the loop on checkout links (STRIPE_WEBHOOK_SECRET).
  const webhookSecrets = rotatingSecrets(config.STRIPE_WEBHOOK_SECRET);
  const payments =
    webhookSecrets.length > 0
      ? new PaymentEventProcessor({ store, delivery: spine.delivery, events, inFlight: spine.inFlight, logger, notices: paymentNoticesFrom(config) })
      : undefined;
  if (payments) registerStripeWebhook(http, { secrets: webhookSecrets, store, processor: payments, workspaces: { directory: workspaces, configs: workspaceConfigs } });

  const metrics = new Metrics(config.METRICS_WORKSPACE_LABELS);
  metrics.observe(events, logger);
  registerMetricsRoute(http, metrics);
  for (const entry of chain.health()) {
    const name = `${entry.provider}:${entry.model}`;
    metrics.registerBreaker({ name, state: () => chain.health().find((h) => `${h.provider}:${h.model}` === name)?.breaker ?? 'closed' });
  }
  metrics.registerQueue({ name: 'turns', depth: () => infra.queue.depth() });
  if (infra.localQueue !== infra.queue) metrics.registerQueue({ name: 'turns-in-process', depth: () => infra.localQueue.depth() });
  const admin = await attachAdminConsole({
    http,
    io: io as unknown as Server,
    db: database.db,
    config,
    workspaces: { directory: workspaces, records: workspaceRecords },
    credentials,
    metrics,
    events,
    logger,
    redis,
    handoffs: { handoffs: spine.handoffs, records: store.handoffs },
    channels: {
      whatsappWebPairing: () => (channels.get('whatsapp-web') as WhatsAppWebChannel | undefined)?.pairing,
    },
    firstRun: role !== 'worker',
  });

  return {
    http,
    io,
    database,
    store,
    workspaces,
    workspaceRecords,
    workspaceConfigs,
    credentials,
    intake: spine.intake,
    transports: spine.transports,
    spine,
    events,
    confirmations,
    channels,
    metrics,
    logger,
    firstRun: admin.setup,
    async listen(port = config.PORT, host = config.HOST) {
      // After a restart every client of the old process reconnects at once: with Node's default
      // accept queue (511) the kernel drops their SYNs and each dropped client waits for TCP to
      // retransmit (after 1 s, 3 s, 7 s). The kernel caps this at net.core.somaxconn.
      const address = await http.listen({ port, host, backlog: 4096 });
      // Events a stopped process stored but did not handle; then a sweep for those that fail.
      if (payments) {
        await payments.sweep(0).catch((error: unknown) => logger.error({ err: error }, 'payment event recovery failed'));
        payments.startSweeper(30_000);
      }
      if (!consumesTurns) return address;
      // Every channel is attached by now, so recovered and followed-up turns can be delivered.
      await spine.recover(config.LEDGER_RECOVERY_AFTER_MS).catch((error: unknown) => logger.error({ err: error }, 'ledger recovery failed'));
      spine.orphans?.start();
      if (config.FOLLOW_UP_ENABLED) spine.followUps.start();
      confirmations.startSweeper(Math.min(60_000, config.CONFIRMATION_TTL_S * 1000));
      spine.handoffs?.startSweeper(Math.min(30_000, Math.max(1000, config.HANDOFF_WAIT_NOTICE_S * 250)));
      return address;
    },
    async close() {
      shuttingDown = true;
      payments?.stopSweeper();
      await spine.drain(config.SHUTDOWN_TIMEOUT_MS);
      // After the drain: what it could not finish is taken over by another instance at once.
      await infra.heartbeat?.stop();
      await channels.close();
      // Connections write once per event-loop iteration (channels/web/socket-server.ts): let the
      // replies the drain just finished leave before the sockets are closed, which discards them.
      await new Promise<void>((resolve) => setImmediate(resolve));
      // A detached server (worker) has no engine to close.
      if (role !== 'worker') await new Promise<void>((resolve) => io.close(() => resolve()));
      await socketAdapter?.close();
      await http.close();
      redis?.disconnect();
      await workspaces.close();
      await database.close();
    },
  };
}
