import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IdemError } from '../../errors/registry.js';
import type { Clock } from '../../ports/clock.js';

/**
 * A token bucket per merchant, per instance: `ratePerSecond` sustained, `burst` at once. A
 * refused request answers 429 `RATE_LIMITED` with `Retry-After` before the idempotency gate,
 * so it does not consume its key. Registered after auth: it counts merchants, not addresses.
 */
export function registerRateLimit(app: FastifyInstance, clock: Clock, ratePerSecond: number, burst: number): void {
  const buckets = new Map<string, { tokens: number; at: number }>();
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const now = clock.now();
    const b = buckets.get(request.merchantId) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * ratePerSecond);
    b.at = now;
    buckets.set(request.merchantId, b);
    if (b.tokens < 1) {
      const waitS = Math.max(1, Math.ceil((1 - b.tokens) / ratePerSecond));
      throw new IdemError('RATE_LIMITED', `more than ${ratePerSecond} requests per second for this merchant`, {
        headers: { 'retry-after': String(waitS) },
      });
    }
    b.tokens -= 1;
  });
}
