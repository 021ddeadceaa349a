import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { ToolSpec } from '../agent/chat-model.js';
import type { Logger } from '../logger.js';

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

export class RedisResponseCache implements ResponseCache {
  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string; ttlSeconds: number },
    private readonly logger: Logger,
  ) {}

  async get(key: string): Promise<CachedReply | undefined> {
    try {
      const raw = await this.redis.get(this.redisKey(key));
      if (raw === null) return undefined;
      const parsed = cachedReplySchema.safeParse(JSON.parse(raw));
      if (parsed.success) return parsed.data;
      this.logger.warn('reply cache entry has an unexpected shape: treated as a miss');
    } catch (error) {
      this.logger.warn({ err: error }, 'reply cache unavailable or entry unreadable: treated as a miss');
    }
    return undefined;
  }

  async set(key: string, reply: CachedReply): Promise<void> {
    try {
      await this.redis.set(this.redisKey(key), JSON.stringify(reply), 'EX', this.options.ttlSeconds);
    } catch (error) {
      this.logger.warn({ err: error }, 'reply cache write failed');
    }
  }

  private redisKey(key: string): string {
    return `${this.options.prefix}:cache:${key}`;
  }
}
