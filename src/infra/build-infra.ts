import type { Redis } from 'ioredis';
import type { ChainPolicySettings } from '../agent/chain-policy.js';
import type { Config } from '../config/config.js';
import type { Db } from '../store/database.js';
import type { Logger } from '../observability/logger.js';
import { BullTurnQueue } from './bullmq-turn-queue.js';
import { InProcessTurnQueue } from './in-process-turn-queue.js';
import { LedgerStore } from '../store/ledger-store.js';
import type { TurnQueue } from './turn-queue.js';
import { RateLimiter, type RateLimitScope } from './rate-limiter.js';
import { RedisResponseCache, type ResponseCache } from './response-cache.js';

export interface ResilienceParts {
  chainPolicy: ChainPolicySettings;
  queue: TurnQueue;
  cache: ResponseCache | undefined;
  limiter: RateLimiter;
  ledger: LedgerStore;
}

/** The Redis-or-embedded parts, chosen from config: Redis-backed when REDIS_URL is set, in-process otherwise. */
export function buildResilience(
  config: Config,
  deps: { db: Db; redis: Redis | undefined; logger: Logger; onRateLimited?: (scope: RateLimitScope) => void },
): ResilienceParts {
  const { redis, logger } = deps;
  const queueSettings = { attempts: config.QUEUE_ATTEMPTS, backoffMs: 1000 };
  const ttlSeconds = config.CACHE_TTL_S;
  return {
    chainPolicy: {
      retries: config.LLM_RETRIES,
      maxAttempts: config.LLM_MAX_ATTEMPTS,
      retryBaseMs: config.LLM_RETRY_BASE_MS,
      retryMaxDelayMs: config.LLM_RETRY_MAX_DELAY_MS,
      firstTokenTimeoutMs: config.LLM_FIRST_TOKEN_TIMEOUT_MS,
      attemptTimeoutMs: config.LLM_ATTEMPT_TIMEOUT_MS,
      turnTimeoutMs: config.LLM_TURN_TIMEOUT_MS,
      fallbackAfterMs: config.FALLBACK_AFTER_MS,
      breaker: {
        failureRatio: config.BREAKER_FAILURE_RATIO,
        windowMs: config.BREAKER_WINDOW_MS,
        minRequests: config.BREAKER_MIN_REQUESTS,
        halfOpenAfterMs: config.BREAKER_HALF_OPEN_AFTER_MS,
      },
    },
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
      : new InProcessTurnQueue(queueSettings, logger),
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
      redis,
      logger,
      deps.onRateLimited,
    ),
    ledger: new LedgerStore(deps.db),
  };
}
