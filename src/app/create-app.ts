import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { attachAdminConsole } from '../admin/admin-console.js';
import { ModelChain } from '../agent/model-chain.js';
import { createChatModels } from '../agent/providers/create-chat-models.js';
import { apiKeyVariableList } from '../agent/providers/index.js';
import type { ChatModel } from '../agent/chat-model.js';
import { WebChannel, type WebServer } from '../channels/web/web-channel.js';
import { SessionLookup } from '../store/sessions.js';
import { createSocketServer } from '../channels/web/socket-server.js';
import { mountChannels, type Channels } from '../channels/mount-channels.js';
import type { WhatsAppWebClient } from '../channels/whatsapp-web/whatsapp-web-channel.js';
import { configuredProviders, migratesOnStart, type Config } from '../config/config.js';
import { MessagePipeline } from '../turn/message-pipeline.js';
import { PipelineEvents } from '../observability/events.js';
import { ConversationStore } from '../store/conversation-store.js';
import { openDatabase, type Database } from '../store/database.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { registerMetricsRoute } from '../observability/metrics-route.js';
import { FollowUpRunner } from '../turn/follow-ups.js';
import { buildResilience } from '../infra/build-infra.js';
import { buildTools } from '../tools/build-tools.js';
import type { AnyTool } from '../tools/tool.js';
import { ToolExecutor } from '../tools/tool-executor.js';
import { ToolRegistry } from '../tools/tool-registry.js';
import { ToolPolicy } from '../tools/tool-policy.js';
import { ConfirmationService } from '../turn/confirmations.js';
import { ConfirmationStore } from '../store/confirmation-store.js';
import type { ReplyTransport } from '../turn/reply-transport.js';
import { handleHttpError } from '../server/error-handler.js';
import { registerHealthRoutes } from '../server/health-routes.js';
import { loadStaticAssets } from '../server/static-assets.js';
import { createSocketAdapter } from '../infra/socket-adapter.js';

export interface AppOptions {
  logger?: Logger;
  /** Models to use instead of those built from config (a documented seam for tests and embedding). */
  models?: ChatModel[];
  /** Tools offered in addition to the configured integrations. */
  extraTools?: AnyTool[];
  /** Replaces the whatsapp-web.js client when WHATSAPP_WEB_ENABLED (tests drive the adapter without a browser). */
  whatsAppWebClient?: () => WhatsAppWebClient;
}

export interface App {
  readonly http: FastifyInstance;
  readonly io: WebServer;
  readonly database: Database;
  readonly store: ConversationStore;
  readonly pipeline: MessagePipeline;
  readonly events: PipelineEvents;
  /** Confirm / decline of sensitive tool calls, for every channel: `confirmations.answer(conversationId, id | 'latest', decision)`. */
  readonly confirmations: ConfirmationService;
  /** Slack, SMS, WhatsApp: the mounted ones, delivery records, the whatsapp-web pairing state. */
  readonly channels: Channels;
  /** Prometheus registry; other parts register breakers and queues here (see src/metrics/metrics.ts). */
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Starts listening; resolves to the bound address, e.g. http://127.0.0.1:3000. */
  listen(port?: number, host?: string): Promise<string>;
  /** Graceful: stop accepting, finish turns in flight, close sockets, HTTP, Redis and the database. */
  close(): Promise<void>;
}

/** The composition root: builds every part from config and wires them. No logic lives here. */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL });
  const database = await openDatabase({ url: config.DATABASE_URL?.reveal(), dataDir: config.DATA_DIR });
  // Split roles leave migrations to `npm run migrate`, once per deploy, instead of racing from every instance.
  if (migratesOnStart(config)) await database.migrate();
  const role = config.SWITCHBOARD_ROLE;
  /** Web instances only enqueue when there is a shared queue; the in-process default always runs its own turns. */
  const consumesTurns = role !== 'web' || !config.REDIS_URL;
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL.reveal(), { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : undefined;
  redis?.on('error', (error) => logger.warn({ err: error }, 'redis error'));
  await redis?.connect().catch((error: unknown) => logger.warn({ err: error }, 'redis not reachable at start'));

  const models = options.models ?? (await createChatModels(config));
  if (models.length === 0) {
    logger.warn(`no LLM provider configured (set ${apiKeyVariableList()}): every message gets FALLBACK_REPLY`);
  } else {
    logger.info({ providers: configuredProviders(config) }, 'LLM providers');
  }

  const store = new ConversationStore(database.db);
  const events = new PipelineEvents(logger);
  const resilience = buildResilience(config, {
    db: database.db,
    redis,
    logger,
    onRateLimited: (scope) => metrics.rateLimited.inc({ scope }),
  });
  const chain = new ModelChain(models, logger, resilience.chainPolicy);
  const registry = new ToolRegistry([...(await buildTools(config, logger)), ...(options.extraTools ?? [])], new ToolPolicy(config.TOOL_CHANNEL_POLICY));
  const confirmations: ConfirmationService = new ConfirmationService({
    store: new ConfirmationStore(database.db),
    conversations: store,
    registry,
    logger,
    events,
    sensitiveTools: new Set(config.SENSITIVE_TOOLS),
    ttlMs: config.CONFIRMATION_TTL_S * 1000,
    toolTimeoutMs: config.TOOL_TIMEOUT_MS,
    transportFor: (channel): ReplyTransport | undefined => pipeline.transportFor(channel),
  });
  const pipeline = new MessagePipeline({
    store,
    chain,
    tools: registry,
    executor: new ToolExecutor(registry, store, logger, config.TOOL_TIMEOUT_MS, events, { confirmations }),
    settings: {
      systemPrompt: config.SYSTEM_PROMPT,
      maxToolSteps: config.MAX_TOOL_STEPS,
      maxMessageChars: config.MAX_MESSAGE_CHARS,
      historyCharBudget: config.HISTORY_CHAR_BUDGET,
      maxOutputTokens: config.MAX_OUTPUT_TOKENS,
      streamCoalesceMs: config.STREAM_COALESCE_MS,
      fallbackReply: config.FALLBACK_REPLY,
      fallbackReplyByChannel: config.FALLBACK_REPLY_BY_CHANNEL,
      followUp: config.FOLLOW_UP_ENABLED,
    },
    logger,
    events,
    queue: resilience.queue,
    cache: resilience.cache,
    limiter: resilience.limiter,
    ledger: resilience.ledger,
  });
  if (consumesTurns) await pipeline.start();
  const followUps = new FollowUpRunner({ pipeline, ledger: resilience.ledger, chain, logger, intervalMs: config.FOLLOW_UP_INTERVAL_MS });

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
  new WebChannel(io, pipeline, store, new SessionLookup(database.db), logger, resilience.limiter, confirmations, () => socketAdapter?.latestOffset()).attach();
  const channels = await mountChannels(config, {
    http,
    pipeline,
    db: database.db,
    logger,
    confirmations,
    ...(options.whatsAppWebClient && { whatsAppWebClient: options.whatsAppWebClient }),
  });

  const metrics = new Metrics();
  metrics.observe(events, logger);
  registerMetricsRoute(http, metrics);
  for (const entry of chain.health()) {
    const name = `${entry.provider}:${entry.model}`;
    metrics.registerBreaker({ name, state: () => chain.health().find((h) => `${h.provider}:${h.model}` === name)?.breaker ?? 'closed' });
  }
  metrics.registerQueue({ name: 'turns', depth: () => resilience.queue.depth() });
  await attachAdminConsole({
    http,
    io: io as unknown as Server,
    db: database.db,
    config,
    metrics,
    events,
    logger,
    redis,
    channels: {
      listDeliveries: (filter) => channels.records.listDeliveries(filter),
      whatsappWebPairing: () => channels.whatsappWeb?.pairing,
    },
  });

  return {
    http,
    io,
    database,
    store,
    pipeline,
    events,
    confirmations,
    channels,
    metrics,
    logger,
    async listen(port = config.PORT, host = config.HOST) {
      // After a restart every client of the old process reconnects at once: with Node's default
      // accept queue (511) the kernel drops their SYNs and each dropped client waits for TCP to
      // retransmit (after 1 s, 3 s, 7 s). The kernel caps this at net.core.somaxconn.
      const address = await http.listen({ port, host, backlog: 4096 });
      if (!consumesTurns) return address;
      // Every channel is attached by now, so recovered and followed-up turns can be delivered.
      await pipeline
        .recoverStuckMessages(config.LEDGER_RECOVERY_AFTER_MS)
        .catch((error: unknown) => logger.error({ err: error }, 'ledger recovery failed'));
      if (config.FOLLOW_UP_ENABLED) followUps.start();
      confirmations.startSweeper(Math.min(60_000, config.CONFIRMATION_TTL_S * 1000));
      return address;
    },
    async close() {
      shuttingDown = true;
      confirmations.stopSweeper();
      await followUps.stop();
      await pipeline.drain(config.SHUTDOWN_TIMEOUT_MS);
      await channels.close();
      // A detached server (worker) has no engine to close.
      if (role !== 'worker') await new Promise<void>((resolve) => io.close(() => resolve()));
      socketAdapter?.close();
      await http.close();
      redis?.disconnect();
      await database.close();
    },
  };
}
