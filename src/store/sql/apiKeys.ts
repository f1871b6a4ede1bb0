import type { Queryable } from '../../db/database.js';

/**
 * API-key SQL for the operator commands (`idem merchant keys …`). Keys are stored as their
 * sha256 hash with a short prefix to tell them apart; the key itself is never stored.
 */

export interface ApiKeyRow {
  merchantId: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** Every key of a merchant, oldest first, revoked ones included. */
export async function listApiKeys(q: Queryable, merchantId: string): Promise<ApiKeyRow[]> {
  const { rows } = await q.query<{ merchant_id: string; prefix: string; created_at: Date | string; revoked_at: Date | string | null }>(
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

/** Adds a key to an existing merchant; false if there is no such merchant. */
export async function insertApiKey(q: Queryable, merchantId: string, keyHash: string, prefix: string): Promise<boolean> {
  const { rowCount } = await q.query(
    `INSERT INTO api_keys (key_hash, merchant_id, prefix) SELECT $2, id, $3 FROM merchants WHERE id = $1`,
    [merchantId, keyHash, prefix],
  );
  return rowCount === 1;
}

/**
 * Revokes the merchant's live keys whose prefix is `prefix`; returns how many. A prefix names
 * one key in practice (it carries 7 random characters); revoking several is reported.
 */
export async function revokeApiKeys(q: Queryable, merchantId: string, prefix: string, at: Date): Promise<number> {
  const { rowCount } = await q.query(
    `UPDATE api_keys SET revoked_at = $3 WHERE merchant_id = $1 AND prefix = $2 AND revoked_at IS NULL`,
    [merchantId, prefix, at],
  );
  return rowCount;
}

export async function merchantExists(q: Queryable, merchantId: string): Promise<boolean> {
  const { rows } = await q.query('SELECT 1 FROM merchants WHERE id = $1', [merchantId]);
  return rows.length > 0;
}
