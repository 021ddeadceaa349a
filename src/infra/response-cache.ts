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
  /** A cached answer of one workspace never reaches another, even with the same prompt, tools and models. */
  workspaceId: string;
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
  const fixed = JSON.stringify([context.workspaceId, context.systemPrompt, tools, context.chain]);
  return (text) => {
    const normalized = text.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
    return createHash('sha256').update(JSON.stringify(normalized)).update(fixed).digest('hex');
  };
}

/** How many hits one process keeps in memory; at a few KB per answer, a few MB at most. */
const LOCAL_MAX_ENTRIES = 1000;

/**
 * An entry as stored in Redis: the reply and when the entry expires (epoch ms, the writer's
 * clock), so one GET tells a reader both, without a PTTL. A reader whose clock is behind keeps
 * its copy that much longer (still never past `localTtlMs`). Entries written before `expiresAt`
 * existed are still read; they are only not kept in memory.
 */
const storedReplySchema = cachedReplySchema.extend({ expiresAt: z.number().int().optional() });

/**
 * The cache in Redis, shared by every instance, with the hits this process read kept in memory
 * for `localTtlMs` (never past the Redis entry's own expiry). A hot first question ("when do you
 * open?") is then answered without a Redis round trip: the cache-hit turn's only wait is the
 * statement that stores it. Only hits are kept, so an answer another instance stores is seen on
 * its next lookup; an entry deleted or rewritten in Redis is seen after `localTtlMs` at most.
 * A lookup is one command (GET), a store one (SET); the client auto-pipelines, so a lookup
 * started alongside the message's rate limits goes to Redis in the same write.
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
      const raw = await this.redis.get(this.redisKey(key));
      if (raw === null) return undefined;
      const parsed = storedReplySchema.safeParse(JSON.parse(raw));
      if (parsed.success) {
        const { expiresAt, ...reply } = parsed.data;
        if (expiresAt !== undefined) this.keepLocally(key, reply, expiresAt - Date.now());
        return reply;
      }
      this.logger.warn('reply cache entry has an unexpected shape: treated as a miss');
    } catch (error) {
      this.logger.warn({ err: error }, 'reply cache unavailable or entry unreadable: treated as a miss');
    }
    return undefined;
  }

  async set(key: string, reply: CachedReply): Promise<void> {
    const ttlMs = this.options.ttlSeconds * 1000;
    try {
      await this.redis.set(this.redisKey(key), JSON.stringify({ ...reply, expiresAt: Date.now() + ttlMs }), 'PX', ttlMs);
      this.keepLocally(key, reply, ttlMs);
    } catch (error) {
      this.logger.warn({ err: error }, 'reply cache write failed');
    }
  }

  /** Kept for `localTtlMs`, or less when the Redis entry expires sooner (`remainingMs`). */
  private keepLocally(key: string, reply: CachedReply, remainingMs: number): void {
    if (!this.#local || remainingMs <= 0) return;
    this.#local.set(key, reply, { ttl: Math.min(remainingMs, this.options.localTtlMs) });
  }

  private redisKey(key: string): string {
    return `${this.options.prefix}:cache:${key}`;
  }
}
