import type { Queryable } from '../../db/database.js';
import type { DueWork, OutboxStore } from '../../outbox/store.js';

/** The outbox relay's work claims in SQL: leased, fenced, `FOR UPDATE SKIP LOCKED`. */
export class SqlOutbox implements OutboxStore {
  constructor(private readonly q: Queryable) {}

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

  async hastenWork(gateway: string, paymentIds: readonly string[], now: number): Promise<number> {
    if (paymentIds.length === 0) return 0;
    const { rowCount } = await this.q.query(
      `UPDATE outbox o SET run_after = $3
         FROM payment_attempts a
        WHERE a.id = o.attempt_id AND a.gateway = $1 AND o.payment_id = ANY($2::text[]) AND o.state = 'pending' AND o.run_after > $3`,
      [gateway, [...paymentIds], new Date(now)],
    );
    return rowCount;
  }
}
