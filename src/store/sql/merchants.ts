import type { Queryable } from '../../db/database.js';
import type { ApiKeyRow, MerchantStore } from '../../merchants/store.js';

/** Merchants and their API keys in SQL: a key is stored as its sha256 hash with a short prefix to tell it apart. */
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

  async listMerchants(): Promise<Array<{ id: string; name: string }>> {
    const { rows } = await this.q.query<{ id: string; name: string }>('SELECT id, name FROM merchants ORDER BY id');
    return rows;
  }

  async merchantExists(merchantId: string): Promise<boolean> {
    const { rows } = await this.q.query('SELECT 1 FROM merchants WHERE id = $1', [merchantId]);
    return rows.length > 0;
  }

  async listApiKeys(merchantId: string): Promise<ApiKeyRow[]> {
    const { rows } = await this.q.query<{ merchant_id: string; prefix: string; created_at: Date | string; revoked_at: Date | string | null }>(
      `SELECT merchant_id, prefix, created_at, revoked_at FROM api_keys WHERE merchant_id = $1 ORDER BY created_at, prefix`,
      [merchantId],
    );
    return rows.map((r) => ({
      merchantId: r.merchant_id,
      prefix: r.prefix,
      createdAt: new Date(r.created_at),
      revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
    }));
  }

  async insertApiKey(merchantId: string, keyHash: string, prefix: string, at: Date): Promise<boolean> {
    const { rowCount } = await this.q.query(
      `INSERT INTO api_keys (key_hash, merchant_id, prefix, created_at) SELECT $2, id, $3, $4 FROM merchants WHERE id = $1`,
      [merchantId, keyHash, prefix, at],
    );
    return rowCount === 1;
  }

  async revokeApiKeys(merchantId: string, prefix: string, at: Date): Promise<number> {
    const { rowCount } = await this.q.query(
      `UPDATE api_keys SET revoked_at = $3 WHERE merchant_id = $1 AND prefix = $2 AND revoked_at IS NULL`,
      [merchantId, prefix, at],
    );
    return rowCount;
  }
}
