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
 * PostgreSQL's. Errors are swallowed into `null` / `'unavailable'`. The Redis adapter is in
 * src/store/redis/fastPath.ts (docs/architecture.md).
 */
export interface FastPath {
  getReplay(merchantId: string, key: string): Promise<CachedResponse | null>;
  tryLock(merchantId: string, key: string, token: string, ttlMs: number): Promise<LockResult>;
  /**
   * `getReplay`, and on a miss `tryLock`, in one round trip: the cached answer, or how the
   * lock went. What a request meeting its key asks first.
   */
  replayOrLock(merchantId: string, key: string, token: string, ttlMs: number): Promise<CachedResponse | LockResult>;
  /** Caches the final response (if any) and releases the lock if `token` still holds it. */
  finish(merchantId: string, key: string, token: string | null, response: CachedResponse | null, ttlMs: number): Promise<void>;
  readonly healthy: boolean;
  /**
   * Whether the fast path knows the key now (a replay cached or a lock held), in one cheap
   * look that changes nothing; `unavailable` when it cannot tell. Optional: without it the gate
   * never sheds a request before reading its body.
   */
  known?(merchantId: string, key: string): Promise<'known' | 'unknown' | 'unavailable'>;
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

  replayOrLock(merchantId: string, key: string, token: string, ttlMs: number): Promise<LockResult> {
    return this.tryLock(merchantId, key, token, ttlMs);
  }

  async finish(merchantId: string, key: string, token: string | null): Promise<void> {
    const id = merchantId + ' ' + key;
    if (token !== null && this.locks.get(id)?.token === token) this.locks.delete(id);
  }
}
