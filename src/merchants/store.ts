/*
 * The merchants' storage port (docs/architecture.md, "Ports"), beside its rows. Composed into
 * `Store` (src/store/port.ts); adapters in src/store/sql/merchants.ts and
 * src/store/memory/merchants.ts.
 */

/** An API key as operators see it: its prefix and its life, never the key or its hash. */
export interface ApiKeyRow {
  merchantId: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** Merchants and their hashed API keys. */
export interface MerchantStore {
  insertMerchant(m: { id: string; name: string; keyHash: string; keyPrefix: string }): Promise<void>;
  merchantForKeyHash(keyHash: string): Promise<string | null>;
  countMerchants(): Promise<number>;
  merchantExists(merchantId: string): Promise<boolean>;
  /** Every merchant, by id (the operator's view, docs/dashboard.md). */
  listMerchants(): Promise<Array<{ id: string; name: string }>>;
  /** Every key of a merchant (prefixes, never the keys), oldest first, revoked ones included. */
  listApiKeys(merchantId: string): Promise<ApiKeyRow[]>;
  /** Adds a key to an existing merchant; false if there is no such merchant. */
  insertApiKey(merchantId: string, keyHash: string, prefix: string, at: Date): Promise<boolean>;
  /** Revokes the merchant's live keys with this prefix at `at`; returns how many. */
  revokeApiKeys(merchantId: string, prefix: string, at: Date): Promise<number>;
}
