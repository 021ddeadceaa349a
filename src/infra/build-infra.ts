import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import { BullTurnQueue } from './bullmq-turn-queue.js';
import { InProcessTurnQueue } from './in-process-turn-queue.js';
import { InstanceHeartbeat } from './instance-heartbeat.js';
import type { TurnQueue } from './turn-queue.js';
import { RateLimiter, type RateLimitScope } from './rate-limiter.js';
import { RedisResponseCache, type ResponseCache } from './response-cache.js';

export interface InfraParts {
  /** Where accepted messages wait for their turn: BullMQ with Redis, else the in-process queue. */
  queue: TurnQueue;
  /** Runs turns in this process (first, where it runs turns; else when the durable queue cannot take them); `queue` itself without Redis. */
  localQueue: InProcessTurnQueue;
  /** This instance's liveness in Redis, where it runs turns with Redis: the owner of the turns it runs in-process. */
  heartbeat: InstanceHeartbeat | undefined;
  cache: ResponseCache | undefined;
  limiter: RateLimiter;
}

/** The Redis-or-embedded parts, chosen from config: Redis-backed when REDIS_URL is set, in-process otherwise. */
export function buildInfra(
  config: Config,
  deps: { redis: Redis | undefined; logger: Logger; onRateLimited?: (scope: RateLimitScope) => void },
): InfraParts {
  const { redis, logger } = deps;
  // QUEUE_ATTEMPTS holds for both queues: a turn that falls back to this process is retried as often.
  const queueSettings = { attempts: config.QUEUE_ATTEMPTS, backoffMs: 1000 };
  const ttlSeconds = config.CACHE_TTL_S;
  const localQueue = new InProcessTurnQueue(queueSettings, logger);
  return {
    queue: config.REDIS_URL
      ? new BullTurnQueue(
          {
            ...queueSettings,
            redisUrl: config.REDIS_URL.reveal(),
            prefix: config.REDIS_PREFIX,
            concurrency: config.QUEUE_CONCURRENCY,
            lockMs: config.QUEUE_LOCK_MS,
          },
          logger,
        )
      : localQueue,
    localQueue,
    // The web role runs no turns of its own, so nothing of it needs taking over.
    heartbeat: redis && config.SWITCHBOARD_ROLE !== 'web' ? new InstanceHeartbeat(redis, { prefix: config.REDIS_PREFIX, ttlMs: config.QUEUE_LOCK_MS }, logger) : undefined,
    // Redis only: an answer cached per process would differ between instances, and a
    // single-process install gains little from replaying first answers.
    cache: redis && ttlSeconds > 0 ? new RedisResponseCache(redis, { prefix: config.REDIS_PREFIX, ttlSeconds, localTtlMs: config.CACHE_LOCAL_TTL_MS }, logger) : undefined,
    limiter: new RateLimiter(
      {
        userPerMinute: config.RATE_LIMIT_USER_PER_MINUTE,
        ipPerMinute: config.RATE_LIMIT_IP_PER_MINUTE,
        globalPerSecond: config.RATE_LIMIT_GLOBAL_PER_SECOND,
        prefix: config.REDIS_PREFIX,
      },
      { redis, logger, onLimited: deps.onRateLimited },
    ),
  };
}
