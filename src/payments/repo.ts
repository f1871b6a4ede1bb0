import type { Queryable } from '../db/database.js';
import type { GatewayOperation } from '../gateways/port.js';
import type { PaymentStatus } from './states.js';
import type { AttemptView, PaymentEventView, PaymentView } from './view.js';

/** SQL for payments, attempts, outbox rows and events. Every status change is compare-and-set. */

export interface PaymentRow {
  id: string;
  merchant_id: string;
  amount: number;
  currency: string;
  capture_method: 'automatic' | 'manual';
  status: PaymentStatus;
  token: string;
  reference: string | null;
  metadata: Record<string, string>;
  preferred_gateway: string | null;
  gateway: string | null;
  authorization_id: string | null;
  amount_authorized: number;
  amount_captured: number;
  amount_refunded: number;
  amount_voided: number;
  amount_requested: number | null;
  decline_code: string | null;
  idempotency_key: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export interface AttemptRow {
  id: string;
  payment_id: string;
  operation: GatewayOperation;
  attempt_no: number;
  gateway: string;
  gateway_key: string;
  amount: number;
  status: AttemptView['status'];
  gateway_reference: string | null;
  decline_code: string | null;
  idempotency_key: string | null;
  created_at: Date;
  completed_at: Date | null;
}

export class StaleWriteError extends Error {
  override readonly name = 'StaleWriteError';
}

export async function insertPayment(
  tx: Queryable,
  p: Omit<PaymentRow, 'version' | 'amount_authorized' | 'amount_captured' | 'amount_refunded' | 'amount_voided' | 'amount_requested' | 'decline_code' | 'authorization_id'>,
): Promise<PaymentRow> {
  const { rows } = await tx.query<PaymentRow>(
    `INSERT INTO payments (id, merchant_id, amount, currency, capture_method, status, token, reference, metadata,
                           preferred_gateway, gateway, idempotency_key, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     RETURNING *`,
    [p.id, p.merchant_id, p.amount, p.currency, p.capture_method, p.status, p.token, p.reference,
     JSON.stringify(p.metadata), p.preferred_gateway, p.gateway, p.idempotency_key, p.created_at, p.updated_at],
  );
  return rows[0]!;
}

export async function findPayment(q: Queryable, merchantId: string, id: string, forUpdate = false): Promise<PaymentRow | null> {
  const { rows } = await q.query<PaymentRow>(
    `SELECT * FROM payments WHERE id = $1 AND merchant_id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
    [id, merchantId],
  );
  return rows[0] ?? null;
}

/** Applies `changes` if the payment is still at `expected` status and version; else throws. */
export async function updatePayment(
  tx: Queryable,
  current: PaymentRow,
  changes: Partial<Pick<PaymentRow, 'status' | 'gateway' | 'authorization_id' | 'amount_authorized' | 'amount_captured' | 'amount_refunded' | 'amount_voided' | 'amount_requested' | 'decline_code'>>,
  now: Date,
): Promise<PaymentRow> {
  const cols = Object.keys(changes) as Array<keyof typeof changes>;
  const sets = cols.map((c, i) => `${c} = $${i + 4}`);
  const { rows } = await tx.query<PaymentRow>(
    `UPDATE payments SET ${[...sets, `version = version + 1`, `updated_at = $3`].join(', ')}
      WHERE id = $1 AND version = $2 RETURNING *`,
    [current.id, current.version, now, ...cols.map((c) => changes[c])],
  );
  if (!rows[0]) throw new StaleWriteError(`payment ${current.id} changed under us (expected version ${current.version})`);
  return rows[0];
}

/** Writes an attempt and its outbox row in one statement (one round trip); returns the attempt. */
export async function insertAttempt(tx: Queryable, a: Omit<AttemptRow, 'gateway_reference' | 'decline_code' | 'completed_at' | 'status'>, runAfter: Date): Promise<AttemptRow> {
  const { rows } = await tx.query<AttemptRow>(
    `WITH attempt AS (
       INSERT INTO payment_attempts (id, payment_id, operation, attempt_no, gateway, gateway_key, amount, status, idempotency_key, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)
       RETURNING *
     ), work AS (
       INSERT INTO outbox (payment_id, attempt_id, kind, run_after, created_at)
       SELECT payment_id, id, 'gateway_call', $10, created_at FROM attempt
     )
     SELECT * FROM attempt`,
    [a.id, a.payment_id, a.operation, a.attempt_no, a.gateway, a.gateway_key, a.amount, a.idempotency_key, a.created_at, runAfter],
  );
  return rows[0]!;
}

/** The attempt still waiting for a definitive gateway answer, if any. */
export async function findOpenAttempt(q: Queryable, paymentId: string): Promise<AttemptRow | null> {
  const { rows } = await q.query<AttemptRow>(
    `SELECT * FROM payment_attempts WHERE payment_id = $1 AND status IN ('pending', 'unknown')
      ORDER BY created_at DESC, attempt_no DESC LIMIT 1`,
    [paymentId],
  );
  return rows[0] ?? null;
}

export async function lastAttemptNo(q: Queryable, paymentId: string, operation: GatewayOperation): Promise<number> {
  const { rows } = await q.query<{ n: number | null }>(
    `SELECT max(attempt_no) AS n FROM payment_attempts WHERE payment_id = $1 AND operation = $2`,
    [paymentId, operation],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Records a gateway answer on an open attempt (compare-and-set on its status). An `unknown`
 * answer leaves the outbox row pending for recovery; any other closes it.
 */
export async function recordAttempt(
  tx: Queryable,
  attempt: AttemptRow,
  result: { status: Exclude<AttemptView['status'], 'pending'>; gatewayReference?: string | null; declineCode?: string | null; error?: string | null },
  now: Date,
): Promise<void> {
  const final = result.status !== 'unknown';
  // One statement (one round trip): the outbox row changes only when the attempt did.
  const { rows } = await tx.query<{ n: number }>(
    `WITH recorded AS (
       UPDATE payment_attempts SET status = $2, gateway_reference = $3, decline_code = $4, error = $5, completed_at = $6
        WHERE id = $1 AND status IN ('pending', 'unknown')
        RETURNING id
     ), work AS (
       UPDATE outbox SET ${final ? `state = 'done', done_at = $7` : `tries = tries + 1, run_after = $7`}
        WHERE attempt_id IN (SELECT id FROM recorded) AND state = 'pending'
     )
     SELECT count(*)::int AS n FROM recorded`,
    [attempt.id, result.status, result.gatewayReference ?? null, result.declineCode ?? null, result.error ?? null, final ? now : null, now],
  );
  if (rows[0]?.n !== 1) throw new StaleWriteError(`attempt ${attempt.id} was already recorded`);
}

export async function insertEvent(tx: Queryable, paymentId: string, type: string, data: Record<string, unknown>, now: Date): Promise<void> {
  await tx.query(`INSERT INTO payment_events (payment_id, type, data, created_at) VALUES ($1, $2, $3, $4)`, [
    paymentId,
    type,
    JSON.stringify(data),
    now,
  ]);
}

export async function loadView(q: Queryable, merchantId: string, id: string): Promise<PaymentView | null> {
  const p = await findPayment(q, merchantId, id);
  if (!p) return null;
  const { rows } = await q.query<AttemptRow>(
    `SELECT * FROM payment_attempts WHERE payment_id = $1 ORDER BY created_at, operation, attempt_no`,
    [id],
  );
  return toView(p, rows);
}

export async function listViews(
  q: Queryable,
  merchantId: string,
  limit: number,
  after: { createdAt: string; id: string } | null,
): Promise<PaymentView[]> {
  const params: unknown[] = [merchantId, limit];
  let where = 'merchant_id = $1';
  if (after) {
    params.push(after.createdAt, after.id);
    where += ' AND (created_at, id) < ($3::timestamptz, $4)';
  }
  const { rows: payments } = await q.query<PaymentRow>(
    `SELECT * FROM payments WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT $2`,
    params,
  );
  if (payments.length === 0) return [];
  const { rows: attempts } = await q.query<AttemptRow>(
    `SELECT * FROM payment_attempts WHERE payment_id = ANY($1::text[]) ORDER BY created_at, operation, attempt_no`,
    [payments.map((p) => p.id)],
  );
  return payments.map((p) => toView(p, attempts.filter((a) => a.payment_id === p.id)));
}

export async function listEvents(q: Queryable, paymentId: string): Promise<PaymentEventView[]> {
  const { rows } = await q.query<{ id: number; type: string; data: Record<string, unknown>; created_at: Date }>(
    `SELECT id, type, data, created_at FROM payment_events WHERE payment_id = $1 ORDER BY id`,
    [paymentId],
  );
  return rows.map((e) => ({ id: e.id, type: e.type, data: e.data, created_at: e.created_at.toISOString() }));
}

/** A payment row and its attempts as the API shows them (shared by every store). */
export function toView(p: PaymentRow, attempts: AttemptRow[]): PaymentView {
  return {
    id: p.id,
    object: 'payment',
    amount: p.amount,
    currency: p.currency,
    capture_method: p.capture_method,
    status: p.status,
    payment_method: { type: 'card', token: p.token },
    reference: p.reference,
    metadata: p.metadata,
    gateway: p.gateway,
    amount_authorized: p.amount_authorized,
    amount_captured: p.amount_captured,
    amount_refunded: p.amount_refunded,
    amount_voided: p.amount_voided,
    decline_code: p.decline_code,
    idempotency_key: p.idempotency_key,
    attempts: attempts.map((a) => ({
      id: a.id,
      operation: a.operation,
      attempt_no: a.attempt_no,
      gateway: a.gateway,
      gateway_key: a.gateway_key,
      amount: a.amount,
      status: a.status,
      decline_code: a.decline_code,
      created_at: a.created_at.toISOString(),
      completed_at: a.completed_at ? a.completed_at.toISOString() : null,
    })),
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
  };
}
