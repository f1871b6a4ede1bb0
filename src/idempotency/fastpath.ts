import type { Redis } from 'ioredis';
import type { Clock } from '../ports/clock.js';
import type { StoredResponse } from './store.js';

/** A completed response as cached for replay, with the fingerprint it answers. */
export interface CachedResponse extends StoredResponse {
  fingerprint: string;
}

export type LockResult = 'acquired' | 'busy' | 'unavailable';

/**
 * The fast path in front of PostgreSQL: a replay cache and a lock that keeps duplicates from
 * racing into the database. Never a source of truth: every method may fail or lie (a lost
 * lock, an evicted entry) and Idem stays correct, because the claim and the fence are
 * PostgreSQL's. Errors are swallowed into `null` / `'unavailable'`.
 */
export interface FastPath {
  getReplay(merchantId: string, key: string): Promise<CachedResponse | null>;
  tryLock(merchantId: string, key: string, token: string, ttlMs: number): Promise<LockResult>;
  /** Caches the final response (if any) and releases the lock if `token` still holds it. */
  finish(merchantId: string, key: string, token: string | null, response: CachedResponse | null, ttlMs: number): Promise<void>;
  readonly healthy: boolean;
}

/** Embedded mode: one process, so an in-process lock is the whole gate; no replay cache. */
export class InProcessFastPath implements FastPath {
  private readonly locks = new Map<string, { token: string; until: number }>();
  readonly healthy = true;
  constructor(private readonly clock: Clock) {}

  async getReplay(): Promise<CachedResponse | null> {
    return null;
  }

  async tryLock(merchantId: string, key: string, token: string, ttlMs: number): Promise<LockResult> {
    const id = merchantId + ' ' + key;
    const now = this.clock.now();
    const held = this.locks.get(id);
    if (held && held.until > now) return 'busy';
    this.locks.set(id, { token, until: now + ttlMs });
    return 'acquired';
  }

  async finish(merchantId: string, key: string, token: string | null): Promise<void> {
    const id = merchantId + ' ' + key;
    if (token !== null && this.locks.get(id)?.token === token) this.locks.delete(id);
  }
}

const UNLOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Redis: `SET NX PX` lock, replay entries with the key's remaining retention as TTL. */
export class RedisFastPath implements FastPath {
  constructor(private readonly redis: Redis) {
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

function replayKey(merchantId: string, key: string): string {
  return `idem:r:${merchantId}:${key}`;
}

function lockKey(merchantId: string, key: string): string {
  return `idem:l:${merchantId}:${key}`;
}
