import type { CachedResponse, FastPath, LockResult } from '../../idempotency/fastpath.js';
import type { RedisClient } from './connect.js';
import { lockKey, replayKey } from './keys.js';

const UNLOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Redis (one server or a cluster): `SET NX PX` lock, replay entries with the key's remaining
 * retention as TTL. A key's lock and replay entry share a hash tag (./keys.ts), so the pipeline
 * in `finish` and the unlock script touch one slot.
 */
export class RedisFastPath implements FastPath {
  constructor(private readonly redis: RedisClient) {
    if (!('idemUnlock' in redis)) redis.defineCommand('idemUnlock', { numberOfKeys: 1, lua: UNLOCK });
  }

  get healthy(): boolean {
    return this.redis.status === 'ready';
  }

  async getReplay(merchantId: string, key: string): Promise<CachedResponse | null> {
    if (!this.healthy) return null;
    try {
      const raw = await this.redis.get(replayKey(merchantId, key));
      if (raw === null) return null;
      const v = JSON.parse(raw) as { f: string; s: number; t: string; b: string };
      return { fingerprint: v.f, status: v.s, contentType: v.t, body: v.b };
    } catch {
      return null;
    }
  }

  async tryLock(merchantId: string, key: string, token: string, ttlMs: number): Promise<LockResult> {
    if (!this.healthy) return 'unavailable';
    try {
      const ok = await this.redis.set(lockKey(merchantId, key), token, 'PX', ttlMs, 'NX');
      return ok === 'OK' ? 'acquired' : 'busy';
    } catch {
      return 'unavailable';
    }
  }

  async known(merchantId: string, key: string): Promise<'known' | 'unknown' | 'unavailable'> {
    if (!this.healthy) return 'unavailable';
    try {
      // One round trip: both names share the key's hash tag, so one slot on a cluster.
      const n = await this.redis.exists(replayKey(merchantId, key), lockKey(merchantId, key));
      return n > 0 ? 'known' : 'unknown';
    } catch {
      return 'unavailable';
    }
  }

  async finish(merchantId: string, key: string, token: string | null, response: CachedResponse | null, ttlMs: number): Promise<void> {
    if (!this.healthy) return;
    const p = this.redis.pipeline();
    if (response) {
      const entry = JSON.stringify({ f: response.fingerprint, s: response.status, t: response.contentType, b: response.body });
      p.set(replayKey(merchantId, key), entry, 'PX', Math.max(1, ttlMs));
    }
    if (token !== null) (p as unknown as { idemUnlock(k: string, t: string): void }).idemUnlock(lockKey(merchantId, key), token);
    await p.exec().catch(() => {});
  }
}
