import type { Database, Queryable } from '../db/database.js';
import type { GatewayOperation } from '../gateways/port.js';
import { toKeyRow, type ClaimResult, type KeyRequest, type KeyRow, type StoredResponse } from '../idempotency/store.js';
import { listEntries, postEntry, type JournalEntry, type LedgerEvent } from '../ledger/ledger.js';
import * as repo from '../payments/repo.js';
import type { AttemptRow, PaymentRow } from '../payments/repo.js';
import type { PaymentEventView, PaymentView } from '../payments/view.js';
import type { AttemptResult, DueWork, NewAttempt, NewPayment, PaymentChanges, Store, StoreOps } from './port.js';

/**
 * The storage port in SQL, one dialect for PostgreSQL and PGlite. Idempotency keys are the
 * truth here: claims are atomic statements, every write carries its fence in its WHERE clause,
 * and a business transaction locks its key row (`guardKey`) so a takeover waits for it.
 */
class SqlOps implements StoreOps {
  constructor(protected readonly q: Queryable) {}

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
    const { rowCount } = await this.q.query(
      `UPDATE idempotency_keys SET lease_until = $4
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress'`,
      [merchantId, key, fence, new Date(now + leaseMs)],
    );
    return rowCount === 1;
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
    const { rowCount } = await this.q.query(
      `UPDATE idempotency_keys
          SET state = 'completed', response_status = $4, response_type = $5, response_body = $6,
              completed_at = $7, expires_at = $8, lease_until = NULL
        WHERE merchant_id = $1 AND key = $2 AND fence = $3 AND state = 'in_progress'`,
      [merchantId, key, fence, response.status, response.contentType, response.body, new Date(now), new Date(now + ttlMs)],
    );
    return rowCount === 1;
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

  insertPayment(p: NewPayment): Promise<PaymentRow> {
    return repo.insertPayment(this.q, p);
  }

  findPayment(merchantId: string, id: string, forUpdate = false): Promise<PaymentRow | null> {
    return repo.findPayment(this.q, merchantId, id, forUpdate);
  }

  updatePayment(current: PaymentRow, changes: PaymentChanges, now: Date): Promise<PaymentRow> {
    return repo.updatePayment(this.q, current, changes, now);
  }

  insertAttempt(a: NewAttempt, runAfter: Date): Promise<AttemptRow> {
    return repo.insertAttempt(this.q, a, runAfter);
  }

  findOpenAttempt(paymentId: string): Promise<AttemptRow | null> {
    return repo.findOpenAttempt(this.q, paymentId);
  }

  lastAttemptNo(paymentId: string, operation: GatewayOperation): Promise<number> {
    return repo.lastAttemptNo(this.q, paymentId, operation);
  }

  async countAttempts(paymentId: string, operation: GatewayOperation, gateway: string): Promise<number> {
    const { rows } = await this.q.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM payment_attempts WHERE payment_id = $1 AND operation = $2 AND gateway = $3`,
      [paymentId, operation, gateway],
    );
    return rows[0]?.n ?? 0;
  }

  recordAttempt(attempt: AttemptRow, result: AttemptResult, now: Date): Promise<void> {
    return repo.recordAttempt(this.q, attempt, result, now);
  }

  insertEvent(paymentId: string, type: string, data: Record<string, unknown>, now: Date): Promise<void> {
    return repo.insertEvent(this.q, paymentId, type, data, now);
  }

  loadView(merchantId: string, id: string): Promise<PaymentView | null> {
    return repo.loadView(this.q, merchantId, id);
  }

  listViews(merchantId: string, limit: number, after: { createdAt: string; id: string } | null): Promise<PaymentView[]> {
    return repo.listViews(this.q, merchantId, limit, after);
  }

  listEvents(paymentId: string): Promise<PaymentEventView[]> {
    return repo.listEvents(this.q, paymentId);
  }

  postEntry(paymentId: string, currency: string, event: LedgerEvent, now: Date): Promise<void> {
    return postEntry(this.q, paymentId, currency, event, now);
  }

  listEntries(paymentId: string): Promise<JournalEntry[]> {
    return listEntries(this.q, paymentId);
  }

  async claimDueWork(now: number, limit: number, leaseMs: number): Promise<DueWork[]> {
    // One statement: the rows are locked (skipping those another claimer holds), leased and
    // fenced before anyone else can see them as due.
    const { rows } = await this.q.query<DueWork>(
      `WITH due AS (
         SELECT o.id FROM outbox o
          WHERE o.state = 'pending' AND o.run_after <= $1 AND (o.lease_until IS NULL OR o.lease_until <= $1)
          ORDER BY o.run_after, o.id
          LIMIT $2
          FOR UPDATE SKIP LOCKED
       ), leased AS (
         UPDATE outbox o SET lease_until = $3, fence = nextval('idempotency_fence_seq'), tries = o.tries + 1
           FROM due WHERE o.id = due.id
         RETURNING o.id, o.payment_id, o.attempt_id, o.tries - 1 AS tries, o.fence, o.run_after
       )
       SELECT l.id, l.payment_id, p.merchant_id, a.idempotency_key, l.tries, l.fence
         FROM leased l
         JOIN payment_attempts a ON a.id = l.attempt_id
         JOIN payments p ON p.id = l.payment_id
        ORDER BY l.run_after, l.id`,
      [new Date(now), limit, new Date(now + leaseMs)],
    );
    return rows;
  }

  async rescheduleWork(id: number, fence: number, runAfter: number): Promise<void> {
    await this.q.query(`UPDATE outbox SET run_after = $3, lease_until = NULL WHERE id = $1 AND fence = $2 AND state = 'pending'`, [
      id,
      fence,
      new Date(runAfter),
    ]);
  }

  async guardWork(id: number, fence: number, leaseUntil: number): Promise<boolean> {
    const { rowCount } = await this.q.query(`UPDATE outbox SET lease_until = $3 WHERE id = $1 AND fence = $2`, [id, fence, new Date(leaseUntil)]);
    return rowCount === 1;
  }
}

/** The storage port over a `Database` (PostgreSQL or PGlite), already migrated. */
export class SqlStore extends SqlOps implements Store {
  readonly kind: 'postgres' | 'pglite';

  constructor(private readonly db: Database) {
    super(db);
    this.kind = db.kind;
  }

  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new SqlOps(tx)));
  }
}
