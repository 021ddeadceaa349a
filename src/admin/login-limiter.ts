import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { SwitchboardError } from '../errors/index.js';
import { sha256 } from './admin-store.js';

const WINDOW_SECONDS = 15 * 60;
/** Per address, across all emails: stops spraying many accounts from one place. */
const PER_IP_FACTOR = 4;

/**
 * Login attempts per (address, email) and per address, in Redis when configured
 * (shared by every instance) or in memory. A successful login clears the
 * (address, email) budget.
 */
export class LoginLimiter {
  readonly #perAccount: RateLimiterAbstract;
  readonly #perIp: RateLimiterAbstract;

  /** `keyPrefix` separates deployments (and test runs) sharing one Redis. */
  constructor(maxAttempts: number, redis?: Redis, keyPrefix = 'sb:admin-login') {
    const make = (points: number, keyPrefix: string): RateLimiterAbstract =>
      redis
        ? new RateLimiterRedis({
            storeClient: redis,
            points,
            duration: WINDOW_SECONDS,
            keyPrefix,
            insuranceLimiter: new RateLimiterMemory({ points, duration: WINDOW_SECONDS, keyPrefix }),
          })
        : new RateLimiterMemory({ points, duration: WINDOW_SECONDS, keyPrefix });
    this.#perAccount = make(maxAttempts, `${keyPrefix}:account`);
    this.#perIp = make(maxAttempts * PER_IP_FACTOR, `${keyPrefix}:ip`);
  }

  /** Spends one attempt; throws `rate_limited` (with seconds to wait) when the budget is gone. */
  async consume(ip: string, email: string): Promise<void> {
    try {
      await Promise.all([this.#perAccount.consume(accountKey(ip, email)), this.#perIp.consume(ip)]);
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw new LoginRateLimitedError(Math.max(1, Math.ceil(error.msBeforeNext / 1000)));
      }
      throw error;
    }
  }

  async succeeded(ip: string, email: string): Promise<void> {
    await this.#perAccount.delete(accountKey(ip, email)).catch(() => undefined);
  }
}

export class LoginRateLimitedError extends SwitchboardError {
  override readonly name = 'LoginRateLimitedError';
  constructor(readonly retryAfterSeconds: number) {
    super('rate_limited', `too many login attempts; try again in ${retryAfterSeconds} s`);
  }
}

const accountKey = (ip: string, email: string) => `${ip}:${sha256(email.trim().toLowerCase()).slice(0, 32)}`;
