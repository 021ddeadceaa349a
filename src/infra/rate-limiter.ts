import { ReplyError, type Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
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

/** One budget a message draws from: the scope, whose budget (person, IP, workspace) and, when not the scope's configured limit, its own. */
export interface RateLimitCheck {
  scope: RateLimitScope;
  key: string;
  points?: number | undefined;
}

/** A message over one of its budgets: `scope` names the first budget that was spent. */
export class RateLimitedError extends SwitchboardError {
  override readonly name = 'RateLimitedError';
  constructor(
    readonly scope: RateLimitScope,
    retryAfterMs: number,
  ) {
    super('rate_limited', `too many messages (${scope} limit); try again in ${Math.ceil(retryAfterMs / 1000)} s`, { retryAfterMs });
  }
}

/**
 * All of a message's budgets in one round trip. rate-limiter-flexible's RateLimiterRedis runs
 * one script per budget (three EVALSHAs for a web message), and neither RateLimiterUnion (which
 * calls each limiter) nor a custom script of its (one key per call) can take several budgets at
 * once; so this is our own, over the same kind of counters (a key per budget and person, an
 * integer that expires when its fixed window ends, as rate-limiter-flexible keeps them).
 *
 * KEYS[i] is a budget's counter, ARGV[2i - 1] its points and ARGV[2i] its window in ms. In order,
 * one point is taken from each budget; the first budget found spent stops it (the budgets after
 * it are not charged: a flood refused per IP never eats the global budget). Returns
 * `{ 0, 0 }` when every budget had room, else `{ i, ms until budget i's window ends }`.
 * A budget's own window starts with its first point; a counter left without expiry gets one.
 */
const CONSUME_BUDGETS_LUA = `
for i, key in ipairs(KEYS) do
  local consumed = redis.call('incr', key)
  local windowMs = tonumber(ARGV[2 * i])
  if consumed == 1 then
    redis.call('pexpire', key, windowMs)
  elseif consumed > tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('pttl', key)
    if ttl < 0 then
      redis.call('pexpire', key, windowMs)
      ttl = windowMs
    end
    return { i, ttl }
  end
end
return { 0, 0 }
`;

type BudgetClient = Redis & { consumeBudgets(...args: (string | number)[]): Promise<[number, number]> };

interface Budget {
  keyPrefix: string;
  points: number;
  durationMs: number;
  /** The same budget counted in this process: the limiter without Redis, and the insurance while Redis is unreachable. */
  memory: RateLimiterMemory;
}

/**
 * The message budgets. With Redis, every instance draws from one budget, all of a message's
 * budgets in one script call; when Redis is unreachable the in-memory budgets (the same points,
 * counted per instance) stand in, so a Redis outage never fails a message and never lifts the
 * limits entirely. Without Redis the in-memory budgets are the limiter.
 */
export class RateLimiter {
  readonly #budgets = new Map<RateLimitScope, Budget>();
  /** Every scope's key prefix and window, also for scopes the deployment leaves unlimited (a workspace may limit them). */
  readonly #settings = new Map<RateLimitScope, { keyPrefix: string; duration: number }>();
  readonly #overrides = new Map<string, Budget>();
  readonly #redis: BudgetClient | undefined;
  readonly #onLimited: (scope: RateLimitScope) => void;
  readonly #logger: Logger;

  constructor(
    settings: RateLimitSettings,
    deps: { redis: Redis | undefined; logger: Logger; onLimited?: ((scope: RateLimitScope) => void) | undefined },
  ) {
    this.#logger = deps.logger;
    this.#onLimited = deps.onLimited ?? (() => {});
    const budgets: [RateLimitScope, number, number][] = [
      ['user', settings.userPerMinute, 60],
      ['ip', settings.ipPerMinute, 60],
      ['global', settings.globalPerSecond, 1],
    ];
    for (const [scope, points, duration] of budgets) {
      const keyPrefix = `${settings.prefix}:rl:${scope}`;
      this.#settings.set(scope, { keyPrefix, duration });
      if (points <= 0) continue;
      this.#budgets.set(scope, { keyPrefix, points, durationMs: duration * 1000, memory: new RateLimiterMemory({ keyPrefix, points, duration }) });
    }
    if (deps.redis) {
      deps.redis.defineCommand('consumeBudgets', { lua: CONSUME_BUDGETS_LUA });
      this.#redis = deps.redis as BudgetClient;
    }
  }

  /**
   * Takes one point from each budget, in the order given, until one is spent: throws a
   * RateLimitedError naming that budget, with the time until its window ends. `points` replaces
   * the scope's configured limit for that check (a workspace's own; 0: no limit).
   */
  async consume(checks: RateLimitCheck[]): Promise<void> {
    const charged = checks.flatMap(({ scope, key, points }) => {
      const budget = this.#budgets.get(scope);
      if (points === undefined || (budget && points === budget.points)) return budget ? [{ scope, key, budget }] : [];
      const own = points > 0 ? this.budgetWithPoints(scope, points) : undefined;
      return own ? [{ scope, key, budget: own }] : [];
    });
    if (charged.length === 0) return;
    const decision = (await this.consumeInRedis(charged)) ?? (await consumeInMemory(charged));
    if (decision === 'within') return;
    this.#onLimited(decision.scope);
    throw new RateLimitedError(decision.scope, Math.max(1, Math.ceil(decision.waitMs)));
  }

  /** A scope's budget with other points (a workspace's limit): the same window, its own in-memory stand-in. */
  private budgetWithPoints(scope: RateLimitScope, points: number): Budget | undefined {
    const base = this.#settings.get(scope);
    if (!base) return undefined;
    const name = `${scope}:${points}`;
    let budget = this.#overrides.get(name);
    if (!budget) {
      budget = { keyPrefix: base.keyPrefix, points, durationMs: base.duration * 1000, memory: new RateLimiterMemory({ keyPrefix: `${base.keyPrefix}:${points}`, points, duration: base.duration }) };
      this.#overrides.set(name, budget);
    }
    return budget;
  }

  get usesRedis(): boolean {
    return this.#redis !== undefined;
  }

  /** Undefined when Redis could not answer: the in-memory budgets decide then. */
  private async consumeInRedis(charged: Charge[]): Promise<Decision | undefined> {
    // Not connected: straight to the in-memory budgets, as rate-limiter-flexible's rejectIfRedisNotReady.
    if (this.#redis?.status !== 'ready') return undefined;
    const args: (string | number)[] = [charged.length];
    for (const { budget, key } of charged) args.push(`${budget.keyPrefix}:${key}`);
    for (const { budget } of charged) args.push(budget.points, budget.durationMs);
    try {
      const [spent, waitMs] = await this.#redis.consumeBudgets(...args);
      return spent === 0 ? 'within' : { scope: charged[spent - 1]!.scope, waitMs };
    } catch (error) {
      // A connection error is the client's to log (once, not per message); an error Redis answered is a fault of ours.
      if (error instanceof ReplyError) this.#logger.warn({ err: error }, 'rate limits counted in this process: the budget script failed');
      return undefined;
    }
  }
}

interface Charge {
  scope: RateLimitScope;
  key: string;
  budget: Budget;
}

/** Every budget had room (`within`), or the first one spent and the wait until its window ends. */
type Decision = 'within' | { scope: RateLimitScope; waitMs: number };

/** The same rule as the script, on the in-memory budgets. */
async function consumeInMemory(charged: Charge[]): Promise<Decision> {
  for (const { scope, key, budget } of charged) {
    try {
      await budget.memory.consume(key);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return { scope, waitMs: rejection.msBeforeNext };
      throw rejection;
    }
  }
  return 'within';
}
