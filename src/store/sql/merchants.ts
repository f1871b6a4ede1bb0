import type { Queryable } from '../../db/database.js';
import type { MerchantStore } from '../port.js';

/** Merchants and their API keys (stored hashed) in SQL. */
export class SqlMerchants implements MerchantStore {
  constructor(private readonly q: Queryable) {}

  async insertMerchant(m: { id: string; name: string; keyHash: string; keyPrefix: string }): Promise<void> {
    // One statement, so the merchant never exists without its key, in a transaction or not.
    await this.q.query(
      `WITH merchant AS (INSERT INTO merchants (id, name) VALUES ($1, $2) RETURNING id)
       INSERT INTO api_keys (key_hash, merchant_id, prefix) SELECT $3, id, $4 FROM merchant`,
      [m.id, m.name, m.keyHash, m.keyPrefix],
    );
  }

  async merchantForKeyHash(keyHash: string): Promise<string | null> {
    const { rows } = await this.q.query<{ merchant_id: string }>(
      'SELECT merchant_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
      [keyHash],
    );
    return rows[0]?.merchant_id ?? null;
  }

  async countMerchants(): Promise<number> {
    const { rows } = await this.q.query<{ n: number }>('SELECT count(*)::int AS n FROM merchants');
    return rows[0]?.n ?? 0;
  }
}
