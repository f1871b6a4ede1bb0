import { hash } from 'node:crypto';
import type { Transactional } from '../ports/transaction.js';
import type { MerchantStore } from './store.js';
import type { Clock, Random } from '../ports/clock.js';
import { newId } from '../ports/ids.js';

export interface NewMerchant {
  id: string;
  name: string;
  /** Shown once; only its hash is stored. */
  apiKey: string;
}

/** sha256 hex of an API key: what is stored and looked up (on every request). */
export function hashApiKey(apiKey: string): string {
  return hash('sha256', apiKey, 'hex');
}

/**
 * Creates a merchant with one API key (`sk_…`). The key is returned once and stored hashed.
 *
 * @example
 *   // the CLI and tests over a migrated SQL database:
 *   const { apiKey } = await createMerchant(new SqlStore(db), cryptoRandom, 'shop');
 */
export async function createMerchant(store: Transactional<Pick<MerchantStore, 'insertMerchant'>>, random: Random, name: string): Promise<NewMerchant> {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > 200) throw new RangeError('merchant name must be 1-200 characters');
  const id = newId(random, 'mer', 20);
  const apiKey = newId(random, 'sk', 40);
  await store.transaction((tx) => tx.insertMerchant({ id, name: trimmed, keyHash: hashApiKey(apiKey), keyPrefix: apiKey.slice(0, 7) }));
  return { id, name: trimmed, apiKey };
}

/**
 * Resolves API keys to merchants, remembering hits for `ttlMs` so the hot path (a replay)
 * does not touch the database. A revoked key stops working within `ttlMs`. Unknown keys are
 * remembered for `negativeTtlMs` too, so a client retrying a wrong key in a loop costs no
 * database read per request; a key created meanwhile works after at most that long.
 */
export class MerchantAuth {
  private readonly cache = new Map<string, { merchantId: string | null; until: number }>();
  /**
   * Lookups under way, by key hash: when a cached key expires under load, every request that
   * arrives before the database answers shares the one read (at 1,500 connections each expiry
   * queued 1,500 reads in the pool ahead of the requests being served).
   */
  private readonly reading = new Map<string, Promise<string | null>>();

  constructor(
    private readonly store: Pick<MerchantStore, 'merchantForKeyHash'>,
    private readonly clock: Clock,
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 10_000,
    private readonly negativeTtlMs = Math.min(2_000, ttlMs),
  ) {}

  /** The merchant id `apiKey` resolved to within its cache time, without a database read; undefined if not cached. */
  cached(apiKey: string): string | null | undefined {
    const hit = this.cache.get(hashApiKey(apiKey));
    return hit && hit.until > this.clock.now() ? hit.merchantId : undefined;
  }

  /** The merchant id for `apiKey`, or null if it is not a live key. */
  async authenticate(apiKey: string): Promise<string | null> {
    const hash = hashApiKey(apiKey);
    const now = this.clock.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.merchantId;
    const under = this.reading.get(hash);
    if (under) return under;
    const read = this.lookUp(hash, now).finally(() => this.reading.delete(hash));
    this.reading.set(hash, read);
    return read;
  }

  private async lookUp(hash: string, now: number): Promise<string | null> {
    const merchantId = await this.store.merchantForKeyHash(hash);
    this.cache.delete(hash);
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(hash, { merchantId, until: now + (merchantId === null ? this.negativeTtlMs : this.ttlMs) });
    return merchantId;
  }
}
