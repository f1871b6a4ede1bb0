import type { RedisClient } from '../../store/redis/connect.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IdemError } from '../../errors/registry.js';
import type { Clock } from '../../ports/clock.js';

/** A limit as a rate and a burst: `perSecond` sustained, `burst` at once. */
export interface Limit {
  perSecond: number;
  burst: number;
}

/** Answers whether one more event for `key` fits its limit, and if not, when it will. */
export interface Limiter {
  take(key: string): Promise<{ allowed: boolean; retryAfterMs: number }>;
}

/**
 * A token bucket per key in this process. Kept small: the least recently touched key goes when
 * more than `maxKeys` are tracked, so a flood of distinct keys (addresses) cannot grow memory.
 */
export class LocalLimiter implements Limiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly limit: Limit,
    private readonly maxKeys = 100_000,
  ) {}

  take(key: string): Promise<{ allowed: boolean; retryAfterMs: number }> {
    return Promise.resolve(this.takeNow(key));
  }

  takeNow(key: string): { allowed: boolean; retryAfterMs: number } {
    const { perSecond, burst } = this.limit;
    const now = this.clock.now();
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    this.buckets.delete(key);
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens < 1) return { allowed: false, retryAfterMs: Math.ceil(((1 - b.tokens) / perSecond) * 1000) };
    b.tokens -= 1;
    return { allowed: true, retryAfterMs: 0 };
  }

  /** True if `key` has no token left now (does not take one). */
  exhausted(key: string): boolean {
    const b = this.buckets.get(key);
    if (!b) return false;
    const tokens = Math.min(this.limit.burst, b.tokens + ((this.clock.now() - b.at) / 1000) * this.limit.perSecond);
    return tokens < 1;
  }
}

/**
 * GCRA (the token bucket as one "theoretical arrival time" per key) on Redis's own clock, so
 * every instance sharing the Redis shares one limit per key. Returns [allowed, retry after ms].
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local newTat = tat + interval
local allowAt = newTat - burst * interval
if allowAt > now then return {0, allowAt - now} end
redis.call('SET', KEYS[1], newTat, 'PX', newTat - now + 1000)
return {1, 0}
`;

/**
 * The limit shared by all instances through Redis. While Redis does not answer, each instance
 * falls back to its own bucket (`fallback`): Redis is an accelerator, and losing it never stops
 * traffic (README, "Production").
 */
export class RedisLimiter implements Limiter {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly limit: Limit,
    private readonly fallback: Limiter,
  ) {}

  async take(key: string): Promise<{ allowed: boolean; retryAfterMs: number }> {
    if (this.redis.status !== 'ready') return this.fallback.take(key);
    try {
      const interval = 1000 / this.limit.perSecond;
      const [allowed, retryAfterMs] = (await this.redis.eval(GCRA, 1, `${this.prefix}${key}`, String(interval), String(this.limit.burst))) as [number, number];
      return { allowed: allowed === 1, retryAfterMs: Number(retryAfterMs) };
    } catch {
      return this.fallback.take(key);
    }
  }
}

/**
 * A limit per merchant on every route of the calling context. A refused request answers 429
 * `RATE_LIMITED` with `Retry-After` before the idempotency gate, so it does not consume its key.
 * Registered after auth: it counts merchants, not addresses.
 */
export function registerRateLimit(app: FastifyInstance, limiter: Limiter, perSecond: number): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const { allowed, retryAfterMs } = await limiter.take(request.merchantId);
    if (!allowed) {
      throw new IdemError('RATE_LIMITED', `more than ${perSecond} requests per second for this merchant`, {
        headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
      });
    }
  });
}
