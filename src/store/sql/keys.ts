import type { Queryable } from '../../db/database.js';
import { toKeyRow, type ClaimResult, type KeyRequest, type KeyRow, type StoredResponse } from '../../idempotency/store.js';
import type { FenceWrite, KeyStore } from '../../idempotency/store.js';
import { Statement } from './statement.js';

/**
 * Idempotency keys in SQL. Keys are the truth here: claims are atomic statements, every write
 * carries its fence in its WHERE clause, and a business transaction locks its key row
 * (`guardKey`) so a takeover waits for it (docs/architecture.md).
 */
export class SqlKeys implements KeyStore {
  constructor(private readonly q: Queryable) {}

  /**
   * A new key, an in-progress key whose lease ran out (same fingerprint: the owner died, take
   * it over with a higher fence) and a completed key past its expiry are owned by the caller;
   * anything else comes back as it is.
   *
   *   owner A            claim (fence 7) ── runs ──╳ dies
   *   retry B                      claim → existing, lease valid → hold
   *   retry B                                          lease ends → claim (fence 8), resumes
   *   owner A (zombie)                                   write with fence 7 → refused
   */
  async claimKey(req: KeyRequest, now: number, leaseMs: number): Promise<ClaimResult> {
    const { rows } = await this.q.query<{ fence: number; resource_id: string | null; inserted: boolean }>(
      `INSERT INTO idempotency_keys AS k
         (merchant_id, key, fingerprint, method, path, state, fence, lease_until, created_at, operation)
       VALUES ($1, $2, $3, $4, $5, 'in_progress', nextval('idempotency_fence_seq'), $6, $7, $8)
       ON CONFLICT (merchant_id, key) DO UPDATE SET
         fence = EXCLUDED.fence,
         lease_until = EXCLUDED.lease_until,
         resource_id = CASE WHEN k.state = 'completed' THEN NULL ELSE k.resource_id END,
         created_at = CASE WHEN k.state = 'completed' THEN EXCLUDED.created_at ELSE k.created_at END,
         state = 'in_progress',
         fingerprint = EXCLUDED.fingerprint,
         method = EXCLUDED.method,
         path = EXCLUDED.path, operation = EXCLUDED.operation,
         response_status = NULL, response_type = NULL, response_body = NULL,
         completed_at = NULL, expires_at = NULL
       WHERE (k.state = 'in_progress' AND k.lease_until <= EXCLUDED.created_at AND k.fingerprint = EXCLUDED.fingerprint)
          OR (k.state = 'completed' AND k.expires_at <= EXCLUDED.created_at)
       RETURNING fence, resource_id, (xmax = 0) AS inserted`,
      [req.merchantId, req.key, req.fingerprint, req.method, req.path, new Date(now + leaseMs), new Date(now), req.operation ?? null],
    );
    const won = rows[0];
    if (won) return { kind: 'owned', fence: won.fence, resourceId: won.resource_id, takenOver: !won.inserted && won.resource_id !== null };
    const row = await this.readKey(req.merchantId, req.key);
    // Swept between the two statements: claim again.
    if (row === null) return this.claimKey(req, now, leaseMs);
    return { kind: 'existing', row };
  }

  async insertKey(req: KeyRequest, now: number, leaseMs: number, resourceId: string): Promise<number | null> {
    const s = new Statement();
    const [row] = await s.rows<{ fence: string | number }>(this.q, insertKeyWrite(s, req, now, leaseMs, resourceId));
    return row ? Number(row.fence) : null;
  }

  async readKey(merchantId: string, key: string): Promise<KeyRow | null> {
    const { rows } = await this.q.query<Parameters<typeof toKeyRow>[0]>(
      `SELECT merchant_id, key, fingerprint, method, path, operation, state, fence, lease_until, resource_id,
              response_status, response_type, response_body, expires_at
         FROM idempotency_keys WHERE merchant_id = $1 AND key = $2`,
      [merchantId, key],
    );
    return rows[0] ? toKeyRow(rows[0]) : null;
  }

  async renewKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean> {
    const s = new Statement();
    return (await s.count(this.q, guardKeyWrite(s, { merchantId, key, fence, now, leaseMs }))) === 1;
  }

  /** The same statement as renewKey: inside a transaction its row lock lasts until the end. */
  guardKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean> {
    return this.renewKey(merchantId, key, fence, now, leaseMs);
  }

  async bindKeyResource(merchantId: string, key: string, fence: number, resourceId: string): Promise<boolean> {
    const { rowCount } = await this.q.query(
      `UPDATE idempotency_keys SET resource_id = $4
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress'`,
      [merchantId, key, fence, resourceId],
    );
    return rowCount === 1;
  }

  async completeKey(merchantId: string, key: string, fence: number, response: StoredResponse, now: number, ttlMs: number): Promise<boolean> {
    const s = new Statement();
    return (await s.count(this.q, completeKeyWrite(s, { merchantId, key, fence, response, now, ttlMs }))) === 1;
  }

  async forgetKey(merchantId: string, key: string, fence: number): Promise<boolean> {
    const { rowCount } = await this.q.query(
      `DELETE FROM idempotency_keys
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress' AND resource_id IS NULL`,
      [merchantId, key, fence],
    );
    return rowCount === 1;
  }

  async endKeyLease(merchantId: string, key: string, fence: number, now: number): Promise<void> {
    await this.q.query(
      `UPDATE idempotency_keys SET lease_until = $4
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress'`,
      [merchantId, key, fence, new Date(now)],
    );
  }

  async sweepKeys(now: number, limit: number): Promise<number> {
    const { rowCount } = await this.q.query(
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

/**
 * A new key claimed by its resource's first write (`KeyStore.insertKey`, docs/idempotency.md, claim step 5): its fence
 * returned, or no row when the key has one already. A concurrent insert of the same key makes
 * this wait for that transaction's end, then take nothing.
 */
export function insertKeyWrite(s: Statement, req: KeyRequest, now: number, leaseMs: number, resourceId: string): string {
  return s.cte(
    `INSERT INTO idempotency_keys
       (merchant_id, key, fingerprint, method, path, state, fence, lease_until, created_at, operation, resource_id)
     VALUES (${s.p(req.merchantId)}, ${s.p(req.key)}, ${s.p(req.fingerprint)}, ${s.p(req.method)}, ${s.p(req.path)}, 'in_progress',
             nextval('idempotency_fence_seq'), ${s.p(new Date(now + leaseMs))}, ${s.p(new Date(now))}, ${s.p(req.operation ?? null)}, ${s.p(resourceId)})
     ON CONFLICT (merchant_id, key) DO NOTHING
     RETURNING fence`,
  );
}

/**
 * The lease renewed while `fence` holds the key in progress (`KeyStore.guardKey`), and the key
 * bound to `resourceId` when given (the first write, `PaymentRounds.openPayment`); one row
 * returned when it does.
 */
export function guardKeyWrite(s: Statement, w: Omit<Extract<FenceWrite, { op: 'guardKey' }>, 'op'>, resourceId?: string): string {
  const bind = resourceId === undefined ? '' : `, resource_id = ${s.p(resourceId)}`;
  return s.cte(
    `UPDATE idempotency_keys SET lease_until = ${s.p(new Date(w.now + w.leaseMs))}${bind}
      WHERE merchant_id = ${s.p(w.merchantId)} AND key = ${s.p(w.key)} AND fence = ${s.p(w.fence)} AND state = 'in_progress'
     RETURNING 1`,
  );
}

/** The response stored and the lease ended while `fence` holds the key in progress (`KeyStore.completeKey`); one row returned when it does. */
export function completeKeyWrite(s: Statement, w: Omit<Extract<FenceWrite, { op: 'completeKey' }>, 'op'>): string {
  return s.cte(
    `UPDATE idempotency_keys
        SET state = 'completed', response_status = ${s.p(w.response.status)}, response_type = ${s.p(w.response.contentType)},
            response_body = ${s.p(w.response.body)}, completed_at = ${s.p(new Date(w.now))}, expires_at = ${s.p(new Date(w.now + w.ttlMs))},
            lease_until = NULL
      WHERE merchant_id = ${s.p(w.merchantId)} AND key = ${s.p(w.key)} AND fence = ${s.p(w.fence)} AND state = 'in_progress'
     RETURNING 1`,
  );
}
