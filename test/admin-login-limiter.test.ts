import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { LoginLimiter, LoginRateLimitedError } from '../src/admin/login-limiter.js';
import { deleteRedisKeys, REDIS_TEST_URL } from './helpers/test-database.js';

/** The admin login limiter on real Redis (shared by every instance) and in memory. */
const redis = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: 1 });
const prefix = `sb-test:${randomBytes(6).toString('hex')}`;

afterAll(async () => {
  await deleteRedisKeys(redis, prefix);
  redis.disconnect();
});

async function attempts(limiter: LoginLimiter, ip: string, email: string, count: number): Promise<(number | 'ok')[]> {
  const results: (number | 'ok')[] = [];
  for (let i = 0; i < count; i++) {
    try {
      await limiter.consume(ip, email);
      results.push('ok');
    } catch (error) {
      expect(error).toBeInstanceOf(LoginRateLimitedError);
      results.push((error as LoginRateLimitedError).retryAfterSeconds);
    }
  }
  return results;
}

describe('LoginLimiter', () => {
  it('limits per address and email across instances sharing Redis, and forgets after a success', async () => {
    const first = new LoginLimiter(3, redis, prefix);
    const second = new LoginLimiter(3, redis, prefix);
    expect(await attempts(first, '10.0.0.1', 'a@example.com', 2)).toEqual(['ok', 'ok']);
    const [third, fourth] = await attempts(second, '10.0.0.1', 'A@Example.com ', 2);
    expect(third).toBe('ok');
    expect(fourth).toBeGreaterThan(800); // about 15 minutes
    expect(await redis.keys(`${prefix}*`)).not.toHaveLength(0);
    // Another email from the same address still has its own budget.
    expect(await attempts(first, '10.0.0.1', 'b@example.com', 1)).toEqual(['ok']);
    await first.succeeded('10.0.0.1', 'b@example.com');
    expect(await attempts(first, '10.0.0.1', 'b@example.com', 3)).toEqual(['ok', 'ok', 'ok']);
  });

  it('limits one address across many emails at four times the per-account budget', async () => {
    const limiter = new LoginLimiter(2);
    const results: (number | 'ok')[] = [];
    for (let i = 0; i < 9; i++) results.push(...(await attempts(limiter, '10.0.0.2', `user${i}@example.com`, 1)));
    expect(results.slice(0, 8)).toEqual(Array(8).fill('ok'));
    expect(results[8]).toEqual(expect.any(Number));
  });
});
