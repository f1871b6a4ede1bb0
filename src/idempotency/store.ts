import type { Database, Queryable } from '../db/database.js';

/** A response as stored for replay: status, content type and the exact bytes of the body. */
export interface StoredResponse {
  status: number;
  contentType: string;
  body: string;
}

export interface KeyRequest {
  merchantId: string;
  key: string;
  method: string;
  path: string;
  fingerprint: string;
}

export interface KeyRow {
  merchantId: string;
  key: string;
  fingerprint: string;
  method: string;
  path: string;
  state: 'in_progress' | 'completed';
  fence: number;
  leaseUntil: number | null;
  resourceId: string | null;
  response: StoredResponse | null;
  expiresAt: number | null;
}

export type ClaimResult =
  | { kind: 'owned'; fence: number; resourceId: string | null; takenOver: boolean }
  | { kind: 'existing'; row: KeyRow };

/**
 * A write carried a fence that is no longer the key's: another execution took the key over
 * after this one's lease ran out. The transaction that carried it must roll back.
 */
export class FenceLostError extends Error {
  override readonly name = 'FenceLostError';
  constructor(
    readonly merchantId: string,
    readonly key: string,
    readonly fence: number,
  ) {
    super(`idempotency key "${key}" of merchant ${merchantId} is no longer held with fence ${fence}`);
  }
}

interface RawRow {
  merchant_id: string;
  key: string;
  fingerprint: string;
  method: string;
  path: string;
  state: 'in_progress' | 'completed';
  fence: number;
  lease_until: Date | null;
  resource_id: string | null;
  response_status: number | null;
  response_type: string | null;
  response_body: string | null;
  expires_at: Date | null;
}

/**
 * PostgreSQL is the truth for idempotency keys: claims are atomic, every write is fenced, and
 * the final response is stored in the same transaction as the business change. Times come
 * from the caller (Idem's clock) so a simulator can drive them.
 */
export class KeyStore {
  constructor(private readonly db: Database) {}

  /**
   * Claims the key atomically. A new key, an in-progress key whose lease ran out (same
   * fingerprint: the owner died, take it over with a higher fence) and a completed key past
   * its expiry are owned by the caller; anything else comes back as it is.
   *
   *   owner A            claim (fence 7) ── runs ──╳ dies
   *   retry B                      claim → existing, lease valid → hold
   *   retry B                                          lease ends → claim (fence 8), resumes
   *   owner A (zombie)                                   write with fence 7 → refused
   */
  async claim(req: KeyRequest, now: number, leaseMs: number): Promise<ClaimResult> {
    const nowAt = new Date(now);
    const { rows } = await this.db.query<{ fence: number; resource_id: string | null; inserted: boolean }>(
      `INSERT INTO idempotency_keys AS k
         (merchant_id, key, fingerprint, method, path, state, fence, lease_until, created_at)
       VALUES ($1, $2, $3, $4, $5, 'in_progress', nextval('idempotency_fence_seq'), $6, $7)
       ON CONFLICT (merchant_id, key) DO UPDATE SET
         fence = EXCLUDED.fence,
         lease_until = EXCLUDED.lease_until,
         resource_id = CASE WHEN k.state = 'completed' THEN NULL ELSE k.resource_id END,
         created_at = CASE WHEN k.state = 'completed' THEN EXCLUDED.created_at ELSE k.created_at END,
         state = 'in_progress',
         fingerprint = EXCLUDED.fingerprint,
         method = EXCLUDED.method,
         path = EXCLUDED.path,
         response_status = NULL, response_type = NULL, response_body = NULL,
         completed_at = NULL, expires_at = NULL
       WHERE (k.state = 'in_progress' AND k.lease_until <= EXCLUDED.created_at AND k.fingerprint = EXCLUDED.fingerprint)
          OR (k.state = 'completed' AND k.expires_at <= EXCLUDED.created_at)
       RETURNING fence, resource_id, (xmax = 0) AS inserted`,
      [req.merchantId, req.key, req.fingerprint, req.method, req.path, new Date(now + leaseMs), nowAt],
    );
    const won = rows[0];
    if (won) return { kind: 'owned', fence: won.fence, resourceId: won.resource_id, takenOver: !won.inserted && won.resource_id !== null };
    const row = await this.read(req.merchantId, req.key);
    // Swept between the two statements: claim again.
    if (row === null) return this.claim(req, now, leaseMs);
    return { kind: 'existing', row };
  }

  async read(merchantId: string, key: string): Promise<KeyRow | null> {
    const { rows } = await this.db.query<RawRow>(
      `SELECT merchant_id, key, fingerprint, method, path, state, fence, lease_until, resource_id,
              response_status, response_type, response_body, expires_at
         FROM idempotency_keys WHERE merchant_id = $1 AND key = $2`,
      [merchantId, key],
    );
    return rows[0] ? toKeyRow(rows[0]) : null;
  }

  /** Extends the lease while work runs; false when the fence was lost. */
  async renew(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE idempotency_keys SET lease_until = $4
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress'`,
      [merchantId, key, fence, new Date(now + leaseMs)],
    );
    return rowCount === 1;
  }

  /**
   * Inside a business transaction: locks the key row, checks the fence and renews the lease.
   * A takeover waits for this transaction to end, so it sees everything it wrote.
   */
  async guard(tx: Queryable, merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<void> {
    const { rowCount } = await tx.query(
      `UPDATE idempotency_keys SET lease_until = $4
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress'`,
      [merchantId, key, fence, new Date(now + leaseMs)],
    );
    if (rowCount !== 1) throw new FenceLostError(merchantId, key, fence);
  }

  /** Inside a business transaction: records the resource this execution created. */
  async bindResource(tx: Queryable, merchantId: string, key: string, fence: number, resourceId: string): Promise<void> {
    const { rowCount } = await tx.query(
      `UPDATE idempotency_keys SET resource_id = $4
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress'`,
      [merchantId, key, fence, resourceId],
    );
    if (rowCount !== 1) throw new FenceLostError(merchantId, key, fence);
  }

  /** Inside the business transaction that makes the final change: stores the response. */
  async complete(
    tx: Queryable,
    merchantId: string,
    key: string,
    fence: number,
    response: StoredResponse,
    now: number,
    ttlMs: number,
  ): Promise<void> {
    const { rowCount } = await tx.query(
      `UPDATE idempotency_keys
          SET state = 'completed', response_status = $4, response_type = $5, response_body = $6,
              completed_at = $7, expires_at = $8, lease_until = NULL
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress'`,
      [merchantId, key, fence, response.status, response.contentType, response.body, new Date(now), new Date(now + ttlMs)],
    );
    if (rowCount !== 1) throw new FenceLostError(merchantId, key, fence);
  }

  /**
   * Gives the key up after a failure. If nothing was created yet the key is forgotten, so the
   * retry is a fresh request; otherwise its lease ends now, so the retry takes it over at once
   * and resumes the resource.
   */
  async release(merchantId: string, key: string, fence: number, now: number): Promise<void> {
    const { rowCount } = await this.db.query(
      `DELETE FROM idempotency_keys
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress' AND resource_id IS NULL`,
      [merchantId, key, fence],
    );
    if (rowCount === 0) await this.endLease(merchantId, key, fence, now);
  }

  /** Ends the lease now (the key stays in progress), so the next claim takes it over. */
  async endLease(merchantId: string, key: string, fence: number, now: number): Promise<void> {
    await this.db.query(
      `UPDATE idempotency_keys SET lease_until = $4
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress'`,
      [merchantId, key, fence, new Date(now)],
    );
  }

  /** Deletes up to `limit` completed keys past their expiry; returns how many. */
  async sweep(now: number, limit = 1000): Promise<number> {
    const { rowCount } = await this.db.query(
      `DELETE FROM idempotency_keys
        WHERE (merchant_id, key) IN (
          SELECT merchant_id, key FROM idempotency_keys
           WHERE state = 'completed' AND expires_at <= $1
           LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [new Date(now), limit],
    );
    return rowCount;
  }
}

function toKeyRow(r: RawRow): KeyRow {
  return {
    merchantId: r.merchant_id,
    key: r.key,
    fingerprint: r.fingerprint,
    method: r.method,
    path: r.path,
    state: r.state,
    fence: r.fence,
    leaseUntil: r.lease_until ? r.lease_until.getTime() : null,
    resourceId: r.resource_id,
    response:
      r.state === 'completed' && r.response_status !== null && r.response_body !== null
        ? { status: r.response_status, contentType: r.response_type ?? 'application/json', body: r.response_body }
        : null,
    expiresAt: r.expires_at ? r.expires_at.getTime() : null,
  };
}
