import type { Queryable } from '../../db/database.js';
import type { GatewayOperation } from '../../gateways/port.js';
import { newAttemptRow, newPaymentRow, StaleWriteError, toView, type AttemptRow, type PaymentRow } from '../../payments/rows.js';
import type { PaymentView } from '../../payments/view.js';
import type { AttemptResult, NewAttempt, NewPayment, PaymentChanges } from '../../payments/rows.js';
import type { OpenPayment, OpenedPayment, PaymentStore } from '../../payments/store.js';
import { insertEventsWrite } from './events.js';
import { guardKeyWrite, insertKeyWrite } from './keys.js';
import { Statement } from './statement.js';

/** Payments, attempts with their outbox rows, and views in SQL (events: ./events.ts). Every status change is compare-and-set. */
export class SqlPayments implements PaymentStore {
  constructor(private readonly q: Queryable) {}

  async insertPayment(p: NewPayment): Promise<PaymentRow> {
    const s = new Statement();
    return (await s.rows<PaymentRow>(this.q, insertPaymentWrite(s, p)))[0]!;
  }

  /**
   * `Store.openPayment` in one statement, so one round trip with no BEGIN or COMMIT, built from
   * the single operations' fragments: the key's fence checked (its lease renewed and the
   * payment bound to it) or, for a key this write claims (docs/idempotency.md, claim step 5), the key's new row bound
   * to the payment; the payment, its attempt with the outbox row, its events. A lost fence or
   * a key that has a row already makes `idem_expect` raise and the statement writes nothing. The
   * rows returned are the ones written (the same values; only the defaults are filled in here).
   */
  async openPayment(o: OpenPayment): Promise<OpenedPayment | null> {
    const { payment: p, attempt: a, key: k } = o;
    const s = new Statement();
    const key = 'fence' in k ? guardKeyWrite(s, k, p.id) : insertKeyWrite(s, k.claim, k.now, k.leaseMs, p.id);
    s.check(key, 1);
    s.check(insertPaymentWrite(s, p), 1);
    s.check(insertAttemptWrite(s, a, o.runAfter), 1);
    if (o.events.length > 0) s.check(insertEventsWrite(s, o.events), o.events.length);
    let claimed: unknown;
    try {
      // A key claimed here answers its new fence; a fenced one keeps its own.
      claimed = await s.all(this.q, 'fence' in k ? undefined : { cte: key, column: 'fence' });
    } catch (err) {
      if ((err as { code?: string }).code === 'IDM01') return null;
      throw err;
    }
    const attempt = newAttemptRow(a);
    return { fence: 'fence' in k ? k.fence : Number(claimed), payment: newPaymentRow(p), attempt, attempts: [attempt] };
  }

  async findPayment(merchantId: string, id: string, forUpdate = false): Promise<PaymentRow | null> {
    const { rows } = await this.q.query<PaymentRow>(
      `SELECT * FROM payments WHERE id = $1 AND merchant_id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
      [id, merchantId],
    );
    return rows[0] ?? null;
  }

  /** Applies `changes` if the payment is still at `expected` status and version; else throws. */
  async updatePayment(current: PaymentRow, changes: PaymentChanges, now: Date): Promise<PaymentRow> {
    const s = new Statement();
    const [row] = await s.rows<PaymentRow>(this.q, updatePaymentWrite(s, current, changes, now));
    if (!row) throw new StaleWriteError(`payment ${current.id} changed under us (expected version ${current.version})`);
    return row;
  }

  /** Writes an attempt and its outbox row in one statement (one round trip); returns the attempt. */
  async insertAttempt(a: NewAttempt, runAfter: Date): Promise<AttemptRow> {
    const s = new Statement();
    return (await s.rows<AttemptRow>(this.q, insertAttemptWrite(s, a, runAfter)))[0]!;
  }

  /** The attempt still waiting for a definitive gateway answer, if any. */
  async findOpenAttempt(paymentId: string): Promise<AttemptRow | null> {
    const { rows } = await this.q.query<AttemptRow>(
      `SELECT * FROM payment_attempts WHERE payment_id = $1 AND status IN ('pending', 'unknown')
        ORDER BY created_at DESC, attempt_no DESC LIMIT 1`,
      [paymentId],
    );
    return rows[0] ?? null;
  }

  async lastAttemptNo(paymentId: string, operation: GatewayOperation): Promise<number> {
    const { rows } = await this.q.query<{ n: number | null }>(
      `SELECT max(attempt_no) AS n FROM payment_attempts WHERE payment_id = $1 AND operation = $2`,
      [paymentId, operation],
    );
    return rows[0]?.n ?? 0;
  }

  async listAttempts(paymentId: string): Promise<AttemptRow[]> {
    const { rows } = await this.q.query<AttemptRow>(
      `SELECT * FROM payment_attempts WHERE payment_id = $1 ORDER BY created_at, operation, attempt_no`,
      [paymentId],
    );
    return rows;
  }

  async countAttempts(paymentId: string, operation: GatewayOperation, gateway: string): Promise<number> {
    const { rows } = await this.q.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM payment_attempts WHERE payment_id = $1 AND operation = $2 AND gateway = $3`,
      [paymentId, operation, gateway],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Records a gateway answer on an open attempt (compare-and-set on its status). An `unknown`
   * answer leaves the outbox row pending for recovery; any other closes it.
   */
  async recordAttempt(attempt: AttemptRow, result: AttemptResult, now: Date): Promise<void> {
    const s = new Statement();
    if ((await s.count(this.q, recordAttemptWrite(s, attempt, result, now))) !== 1) throw new StaleWriteError(`attempt ${attempt.id} was already recorded`);
  }

  async loadView(merchantId: string, id: string): Promise<PaymentView | null> {
    // One round trip: the payment and its attempts (as JSON, times read back as Dates).
    const { rows } = await this.q.query<PaymentRow & { attempts_json: Array<Omit<AttemptRow, 'created_at' | 'completed_at'> & { created_at: string; completed_at: string | null }> }>(
      `SELECT p.*, coalesce((SELECT json_agg(a ORDER BY a.created_at, a.operation, a.attempt_no) FROM payment_attempts a WHERE a.payment_id = p.id), '[]') AS attempts_json
         FROM payments p WHERE p.id = $1 AND p.merchant_id = $2`,
      [id, merchantId],
    );
    const r = rows[0];
    if (!r) return null;
    const { attempts_json, ...p } = r;
    const attempts = attempts_json.map((a) => ({ ...a, created_at: new Date(a.created_at), completed_at: a.completed_at === null ? null : new Date(a.completed_at) }));
    return toView(p, attempts);
  }

  async listViews(merchantId: string, limit: number, after: { createdAt: string; id: string } | null): Promise<PaymentView[]> {
    const params: unknown[] = [merchantId, limit];
    let where = 'merchant_id = $1';
    if (after) {
      params.push(after.createdAt, after.id);
      where += ' AND (created_at, id) < ($3::timestamptz, $4)';
    }
    const { rows: payments } = await this.q.query<PaymentRow>(
      `SELECT * FROM payments WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT $2`,
      params,
    );
    if (payments.length === 0) return [];
    const { rows: attempts } = await this.q.query<AttemptRow>(
      `SELECT * FROM payment_attempts WHERE payment_id = ANY($1::text[]) ORDER BY created_at, operation, attempt_no`,
      [payments.map((p) => p.id)],
    );
    return payments.map((p) => toView(p, attempts.filter((a) => a.payment_id === p.id)));
  }
}

/** The payment's `changes` if it is still at `current.version` (`PaymentStore.updatePayment`); returns the CTE, the row as updated. */
export function updatePaymentWrite(s: Statement, current: PaymentRow, changes: PaymentChanges, now: Date): string {
  const sets = (Object.keys(changes) as Array<keyof PaymentChanges>).map((c) => `${c} = ${s.p(changes[c])}`);
  return s.cte(
    `UPDATE payments SET ${[...sets, 'version = version + 1', `updated_at = ${s.p(now)}`].join(', ')}
      WHERE id = ${s.p(current.id)} AND version = ${s.p(current.version)}
     RETURNING *`,
  );
}

/** An attempt, pending, with its outbox row due at `runAfter` (`PaymentStore.insertAttempt`); returns the CTE, the attempt as inserted. */
export function insertAttemptWrite(s: Statement, a: NewAttempt, runAfter: Date): string {
  const attempt = s.cte(
    `INSERT INTO payment_attempts (id, payment_id, operation, attempt_no, gateway, gateway_key, amount, status, idempotency_key, created_at)
     VALUES (${[a.id, a.payment_id, a.operation, a.attempt_no, a.gateway, a.gateway_key, a.amount].map((v) => s.p(v)).join(', ')}, 'pending', ${s.p(a.idempotency_key)}, ${s.p(a.created_at)})
     RETURNING *`,
  );
  s.cte(
    `INSERT INTO outbox (payment_id, attempt_id, kind, run_after, created_at)
     SELECT payment_id, id, 'gateway_call', ${s.p(runAfter)}, created_at FROM ${attempt}
     RETURNING 1`,
  );
  return attempt;
}

/**
 * A gateway answer recorded on an attempt still open (`PaymentStore.recordAttempt`): an
 * `unknown` answer leaves its outbox row pending for recovery, any other closes it; the
 * outbox row changes only when the attempt did. Returns the CTE, one row when recorded.
 */
export function recordAttemptWrite(s: Statement, attempt: AttemptRow, result: AttemptResult, now: Date): string {
  const final = result.status !== 'unknown';
  const recorded = s.cte(
    `UPDATE payment_attempts SET status = ${s.p(result.status)}, gateway_reference = ${s.p(result.gatewayReference ?? null)},
            decline_code = ${s.p(result.declineCode ?? null)}, error = ${s.p(result.error ?? null)}, completed_at = ${s.p(final ? now : null)}::timestamptz
      WHERE id = ${s.p(attempt.id)} AND status IN ('pending', 'unknown')
     RETURNING id`,
  );
  const at = s.p(now);
  s.cte(
    `UPDATE outbox SET ${final ? `state = 'done', done_at = ${at}` : `tries = tries + 1, run_after = ${at}`}
      WHERE attempt_id IN (SELECT id FROM ${recorded}) AND state = 'pending'
     RETURNING 1`,
  );
  return recorded;
}

/** A new payment (`PaymentStore.insertPayment`); returns the CTE, the row as inserted. */
export function insertPaymentWrite(s: Statement, p: NewPayment): string {
  const values = [p.id, p.merchant_id, p.amount, p.currency, p.capture_method, p.status, p.token, p.reference, JSON.stringify(p.metadata), p.preferred_gateway, p.gateway, p.idempotency_key, p.created_at, p.updated_at];
  return s.cte(
    `INSERT INTO payments (id, merchant_id, amount, currency, capture_method, status, token, reference, metadata,
                           preferred_gateway, gateway, idempotency_key, created_at, updated_at)
     VALUES (${values.map((v) => s.p(v)).join(', ')})
     RETURNING *`,
  );
}
