import type { ApiKeyRow, MerchantStore } from '../../merchants/store.js';
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
    this.s.apiKeys.set(m.keyHash, { key_hash: m.keyHash, merchant_id: m.id, prefix: m.keyPrefix, created_at: new Date(0), revoked_at: null });
  }

  async merchantForKeyHash(keyHash: string): Promise<string | null> {
    const k = this.s.apiKeys.get(keyHash);
    return k && k.revoked_at === null ? k.merchant_id : null;
  }

  async countMerchants(): Promise<number> {
    return this.s.merchants.size;
  }

  async listMerchants(): Promise<Array<{ id: string; name: string }>> {
    return [...this.s.merchants.values()].map((m) => ({ id: m.id, name: m.name })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async merchantExists(merchantId: string): Promise<boolean> {
    return this.s.merchants.has(merchantId);
  }

  async listApiKeys(merchantId: string): Promise<ApiKeyRow[]> {
    return [...this.s.apiKeys.values()]
      .filter((k) => k.merchant_id === merchantId)
      .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0))
      .map((k) => ({ merchantId: k.merchant_id, prefix: k.prefix, createdAt: k.created_at, revokedAt: k.revoked_at }));
  }

  async insertApiKey(merchantId: string, keyHash: string, prefix: string, at: Date): Promise<boolean> {
    if (!this.s.merchants.has(merchantId)) return false;
    unique(this.s.apiKeys.has(keyHash), 'api_keys_pkey', 'key_hash');
    this.s.apiKeys.set(keyHash, { key_hash: keyHash, merchant_id: merchantId, prefix, created_at: at, revoked_at: null });
    return true;
  }

  async revokeApiKeys(merchantId: string, prefix: string, at: Date): Promise<number> {
    let n = 0;
    for (const k of [...this.s.apiKeys.values()]) {
      if (k.merchant_id !== merchantId || k.prefix !== prefix || k.revoked_at !== null) continue;
      this.s.apiKeys.set(k.key_hash, { ...k, revoked_at: at });
      n++;
    }
    return n;
  }
}
