import type { MerchantStore } from '../port.js';
import { notNull, unique } from './engine.js';
import type { MemoryState } from './state.js';

/**
 * Merchants and their API keys on the in-memory tables. Methods are `async` only to fit the port:
 * each runs to the end without yielding, so under the store's mutex nothing interleaves with it.
 */
export class MemoryMerchants implements MerchantStore {
  constructor(private readonly s: MemoryState) {}

  async insertMerchant(m: { id: string; name: string; keyHash: string; keyPrefix: string }): Promise<void> {
    notNull('name', m.name);
    notNull('prefix', m.keyPrefix);
    unique(this.s.merchants.has(m.id), 'merchants_pkey', `id ${m.id}`);
    unique(this.s.apiKeys.has(m.keyHash), 'api_keys_pkey', 'key_hash');
    this.s.merchants.set(m.id, { id: m.id, name: m.name });
    this.s.apiKeys.set(m.keyHash, { key_hash: m.keyHash, merchant_id: m.id, prefix: m.keyPrefix, revoked_at: null });
  }

  async merchantForKeyHash(keyHash: string): Promise<string | null> {
    const k = this.s.apiKeys.get(keyHash);
    return k && k.revoked_at === null ? k.merchant_id : null;
  }

  async countMerchants(): Promise<number> {
    return this.s.merchants.size;
  }
}
