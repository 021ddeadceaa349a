import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { ToolSpec } from '../agent/chat-model.js';
import type { Logger } from '../observability/logger.js';

/** What a cache hit replays: the answer and which model gave it. */
export const cachedReplySchema = z.object({
  text: z.string().min(1),
  provider: z.string().min(1),
  model: z.string().min(1),
});
export type CachedReply = z.infer<typeof cachedReplySchema>;

/**
 * Exact-match answers to the first message of a conversation. Implementations
 * never throw: a broken or unreachable store is a miss, and a failed write is
 * only logged, so the cache can never fail a turn.
 */
export interface ResponseCache {
  get(key: string): Promise<CachedReply | undefined>;
  set(key: string, reply: CachedReply): Promise<void>;
}

/** Everything besides the text that decides the answer to a first message. */
export interface ResponseCacheContext {
  systemPrompt: string;
  tools: ToolSpec[];
  chain: string[];
}

/**
 * The key: the normalised text (trimmed, whitespace collapsed, lower-cased, so trivial
 * variants hit) and everything else that decides the answer. The context is the same
 * for every message of a process, so it is serialised once, not per message.
 */
export function responseCacheKeyer(context: ResponseCacheContext): (text: string) => string {
  const tools = context.tools.map((tool) => [tool.name, tool.description, tool.inputSchema]);
  const fixed = JSON.stringify([context.systemPrompt, tools, context.chain]);
  return (text) => {
    const normalized = text.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
    return createHash('sha256').update(JSON.stringify(normalized)).update(fixed).digest('hex');
  };
}

/** How many hits one process keeps in memory; at a few KB per answer, a few MB at most. */
const LOCAL_MAX_ENTRIES = 1000;

/**
 * The cache in Redis, shared by every instance, with the hits this process read kept in memory
 * for `localTtlMs` (never past the Redis entry's own expiry). A hot first question ("when do you
 * open?") is then answered without a Redis round trip: the cache-hit turn's only wait is the
 * statement that stores it. Only hits are kept, so an answer another instance stores is seen on
 * its next lookup; an entry deleted or rewritten in Redis is seen after `localTtlMs` at most.
 */
export class RedisResponseCache implements ResponseCache {
  readonly #local: LRUCache<string, CachedReply> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string; ttlSeconds: number; localTtlMs: number },
    private readonly logger: Logger,
  ) {
    this.#local = options.localTtlMs > 0 ? new LRUCache({ max: LOCAL_MAX_ENTRIES, ttl: options.localTtlMs }) : undefined;
  }

  async get(key: string): Promise<CachedReply | undefined> {
    const local = this.#local?.get(key);
    if (local) return local;
    try {
      const redisKey = this.redisKey(key);
      // The remaining TTL comes in the same round trip, so a local copy never outlives the entry.
      const [[getError, raw], [ttlError, remainingMs]] = (await this.redis.pipeline().get(redisKey).pttl(redisKey).exec())! as [
        [Error | null, string | null],
        [Error | null, number],
      ];
      if (getError ?? ttlError) throw getError ?? ttlError;
      if (raw === null) return undefined;
      const parsed = cachedReplySchema.safeParse(JSON.parse(raw));
      if (parsed.success) {
        this.keepLocally(key, parsed.data, remainingMs);
        return parsed.data;
      }
      this.logger.warn('reply cache entry has an unexpected shape: treated as a miss');
    } catch (error) {
      this.logger.warn({ err: error }, 'reply cache unavailable or entry unreadable: treated as a miss');
    }
    return undefined;
  }

  async set(key: string, reply: CachedReply): Promise<void> {
    try {
      await this.redis.set(this.redisKey(key), JSON.stringify(reply), 'EX', this.options.ttlSeconds);
      this.keepLocally(key, reply, this.options.ttlSeconds * 1000);
    } catch (error) {
      this.logger.warn({ err: error }, 'reply cache write failed');
    }
  }

  /** `remainingMs` is the Redis entry's (PTTL: -1 without expiry, -2 when gone). */
  private keepLocally(key: string, reply: CachedReply, remainingMs: number): void {
    if (!this.#local || remainingMs === -2 || remainingMs === 0) return;
    const ttl = remainingMs > 0 ? Math.min(remainingMs, this.options.localTtlMs) : this.options.localTtlMs;
    this.#local.set(key, reply, { ttl });
  }

  private redisKey(key: string): string {
    return `${this.options.prefix}:cache:${key}`;
  }
}
