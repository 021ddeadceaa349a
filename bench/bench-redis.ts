import { Redis } from 'ioredis';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SCAN_BATCH = 500;
/** A run writes at most a few hundred thousand keys (queue jobs, cache entries); the loop stops there regardless. */
const MAX_SCAN_ROUNDS = 10_000;

/** Deletes every key under `prefix:` (the server's REDIS_PREFIX for one scenario). Returns how many. */
export async function dropRedisPrefix(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    for (let round = 0; round < MAX_SCAN_ROUNDS; round++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', SCAN_BATCH);
      if (keys.length > 0) deleted += await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}
