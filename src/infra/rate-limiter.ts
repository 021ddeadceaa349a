import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { SwitchboardError } from '../errors/index.js';
import type { Logger } from '../observability/logger.js';

export type RateLimitScope = 'user' | 'ip' | 'global';

export interface RateLimitSettings {
  /** Messages per end user (channel + external user id) per minute; 0 = no limit. */
  userPerMinute: number;
  /** Messages per web client IP per minute; 0 = no limit. */
  ipPerMinute: number;
  /** Messages across the whole service per second; 0 = no limit. */
  globalPerSecond: number;
  /** Key prefix in Redis, shared by every instance that should share one budget. */
  prefix: string;
}

/**
 * The message budgets. With Redis, every instance draws from one budget; when Redis
 * is unreachable each limiter falls back to its in-memory insurance limiter (the
 * same points, counted per instance), so a Redis outage never fails a message and
 * never lifts the limits entirely. Without Redis the in-memory limiter is the limiter.
 */
export class RateLimiter {
  readonly #limiters = new Map<RateLimitScope, RateLimiterAbstract>();

  private readonly redis: Redis | undefined;
  private readonly logger: Logger;
  private readonly onLimited: (scope: RateLimitScope) => void;

  constructor(
    settings: RateLimitSettings,
    deps: { redis: Redis | undefined; logger: Logger; onLimited?: ((scope: RateLimitScope) => void) | undefined },
  ) {
    const { redis } = deps;
    this.redis = redis;
    this.logger = deps.logger;
    this.onLimited = deps.onLimited ?? (() => {});
    const budgets: [RateLimitScope, number, number][] = [
      ['user', settings.userPerMinute, 60],
      ['ip', settings.ipPerMinute, 60],
      ['global', settings.globalPerSecond, 1],
    ];
    for (const [scope, points, duration] of budgets) {
      if (points <= 0) continue;
      const keyPrefix = `${settings.prefix}:rl:${scope}`;
      const memory = new RateLimiterMemory({ keyPrefix, points, duration });
      this.#limiters.set(
        scope,
        redis
          ? new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration, insuranceLimiter: memory, rejectIfRedisNotReady: true })
          : memory,
      );
    }
  }

  /**
   * Takes one point from each budget, in order. Throws `rate_limited` with the
   * longest wait among the exhausted budgets. A limiter failure (it has no insurance
   * left to fall back on) is logged and lets the message through.
   */
  async consume(checks: { scope: RateLimitScope; key: string }[]): Promise<void> {
    let waitMs = 0;
    let limitedScope: RateLimitScope | undefined;
    for (const { scope, key } of checks) {
      const limiter = this.#limiters.get(scope);
      if (!limiter) continue;
      try {
        await limiter.consume(key);
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          limitedScope ??= scope;
          waitMs = Math.max(waitMs, rejection.msBeforeNext);
          continue;
        }
        this.logger.warn({ err: rejection, scope }, 'rate limiter unavailable: message let through');
      }
    }
    if (limitedScope === undefined) return;
    this.onLimited(limitedScope);
    const retryAfterMs = Math.max(1, Math.ceil(waitMs));
    throw new SwitchboardError('rate_limited', `too many messages (${limitedScope} limit); try again in ${Math.ceil(retryAfterMs / 1000)} s`, {
      retryAfterMs,
    });
  }

  get usesRedis(): boolean {
    return this.redis !== undefined;
  }
}
