import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { ModelChain } from '../agent/model-chain.js';
import { createChatModels } from '../agent/providers/create-chat-models.js';
import type { ChatModel } from '../agent/chat-model.js';
import { WebChannel, type WebServer } from '../channels/web/web-channel.js';
import { configuredProviders, type Config } from '../config/config.js';
import { MessagePipeline } from '../conversation/message-pipeline.js';
import { PipelineEvents } from '../conversation/pipeline-events.js';
import { ConversationStore } from '../db/conversation-store.js';
import { openDatabase, type Database } from '../db/database.js';
import { createLogger, type Logger } from '../logger.js';
import { buildTools } from '../tools/build-tools.js';
import type { AnyTool } from '../tools/tool.js';
import { ToolExecutor } from '../tools/tool-executor.js';
import { ToolRegistry } from '../tools/tool-registry.js';
import { handleHttpError } from './error-handler.js';
import { registerHealthRoutes } from './health-routes.js';
import { loadStaticAssets } from './static-assets.js';

export interface AppOptions {
  logger?: Logger;
  /** Models to use instead of those built from config (a documented seam for tests and embedding). */
  models?: ChatModel[];
  /** Tools offered in addition to the configured integrations. */
  extraTools?: AnyTool[];
}

export interface App {
  readonly http: FastifyInstance;
  readonly io: WebServer;
  readonly database: Database;
  readonly store: ConversationStore;
  readonly pipeline: MessagePipeline;
  readonly events: PipelineEvents;
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
  await database.migrate();
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL.reveal(), { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : undefined;
  redis?.on('error', (error) => logger.warn({ err: error }, 'redis error'));
  await redis?.connect().catch((error: unknown) => logger.warn({ err: error }, 'redis not reachable at start'));

  const models = options.models ?? createChatModels(config);
  if (models.length === 0) {
    logger.warn('no LLM provider configured (set OPENAI_API_KEY, ANTHROPIC_API_KEY or GROQ_API_KEY): every message gets FALLBACK_REPLY');
  } else {
    logger.info({ providers: configuredProviders(config) }, 'LLM providers');
  }

  const store = new ConversationStore(database.db);
  const events = new PipelineEvents(logger);
  const registry = new ToolRegistry([...buildTools(config, logger), ...(options.extraTools ?? [])]);
  const pipeline = new MessagePipeline({
    store,
    chain: new ModelChain(models, logger),
    tools: registry,
    executor: new ToolExecutor(registry, store, logger, config.TOOL_TIMEOUT_MS, events),
    settings: {
      systemPrompt: config.SYSTEM_PROMPT,
      maxToolSteps: config.MAX_TOOL_STEPS,
      maxMessageChars: config.MAX_MESSAGE_CHARS,
      historyCharBudget: config.HISTORY_CHAR_BUDGET,
      maxOutputTokens: config.MAX_OUTPUT_TOKENS,
      fallbackReply: config.FALLBACK_REPLY,
    },
    logger,
    events,
  });

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

  const io: WebServer = new Server(http.server, {
    // Room for MAX_MESSAGE_CHARS of 4-byte characters, so an over-long message is
    // answered with message_too_long instead of socket.io dropping the connection.
    maxHttpBufferSize: Math.max(100_000, config.MAX_MESSAGE_CHARS * 4 + 4096),
    cors: { origin: true, credentials: false },
  });
  new WebChannel(io, pipeline, store, logger).attach();

  return {
    http,
    io,
    database,
    store,
    pipeline,
    events,
    logger,
    async listen(port = config.PORT, host = config.HOST) {
      return http.listen({ port, host });
    },
    async close() {
      shuttingDown = true;
      await pipeline.drain(config.SHUTDOWN_TIMEOUT_MS);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await http.close();
      redis?.disconnect();
      await database.close();
    },
  };
}
