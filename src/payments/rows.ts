import type { GatewayOperation } from '../gateways/port.js';
import type { PaymentStatus } from './states.js';
import type { AttemptView, PaymentView } from './view.js';

/**
 * A payment and its gateway attempts as every store keeps them (the columns of `payments` and
 * `payment_attempts`, migrations/000001.sql). The SQL lives in src/store/sql/payments.ts; this
 * file is the domain's side: the rows, the error a lost compare-and-set raises, and the view.
 */

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

/** What a payment update may change (compare-and-set on its version, in every store). */
export type PaymentChanges = Partial<
  Pick<
    PaymentRow,
    'status' | 'gateway' | 'authorization_id' | 'amount_authorized' | 'amount_captured' | 'amount_refunded' | 'amount_voided' | 'amount_requested' | 'decline_code'
  >
>;

/** A gateway answer as recorded on its attempt. */
export interface AttemptResult {
  status: 'succeeded' | 'declined' | 'not_processed' | 'unknown';
  gatewayReference?: string | null;
  declineCode?: string | null;
  error?: string | null;
}

/** A payment as written first: the columns with defaults are left out. */
export type NewPayment = Omit<
  PaymentRow,
  'version' | 'amount_authorized' | 'amount_captured' | 'amount_refunded' | 'amount_voided' | 'amount_requested' | 'decline_code' | 'authorization_id'
>;

/** An attempt as written first: pending, nothing answered yet. */
export type NewAttempt = Omit<AttemptRow, 'gateway_reference' | 'decline_code' | 'completed_at' | 'status'>;

/** The row a new payment is stored as: what {@link NewPayment} leaves out at its defaults. */
export function newPaymentRow(p: NewPayment): PaymentRow {
  return {
    ...p,
    reference: p.reference ?? null,
    preferred_gateway: p.preferred_gateway ?? null,
    gateway: p.gateway ?? null,
    authorization_id: null,
    amount_authorized: 0,
    amount_captured: 0,
    amount_refunded: 0,
    amount_voided: 0,
    amount_requested: null,
    decline_code: null,
    version: 0,
    created_at: new Date(p.created_at),
    updated_at: new Date(p.updated_at),
  };
}

/** The row a new attempt is stored as: pending, nothing answered yet. */
export function newAttemptRow(a: NewAttempt): AttemptRow {
  return { ...a, status: 'pending', gateway_reference: null, decline_code: null, completed_at: null, created_at: new Date(a.created_at) };
}

/** The row an update leaves: `changes` applied (one listed as `undefined` writes NULL, as in SQL), the version moved on. */
export function changedPayment(p: PaymentRow, changes: PaymentChanges, now: Date): PaymentRow {
  const row: PaymentRow = { ...p, version: p.version + 1, updated_at: new Date(now) };
  for (const c of Object.keys(changes) as Array<keyof PaymentChanges>) (row as unknown as Record<string, unknown>)[c] = changes[c] ?? null;
  return row;
}

/** The attempt a gateway answer leaves: final answers close it (`completed_at`), an unknown one leaves it open. */
export function recordedAttempt<A extends AttemptRow>(a: A, result: AttemptResult, now: Date): A & { error: string | null } {
  return {
    ...a,
    status: result.status,
    gateway_reference: result.gatewayReference ?? null,
    decline_code: result.declineCode ?? null,
    error: result.error ?? null,
    completed_at: result.status !== 'unknown' ? new Date(now) : null,
  };
}

/** The order a payment's attempts are shown in: by creation, then operation, then number. */
export function attemptOrder(a: AttemptRow, b: AttemptRow): number {
  return a.created_at.getTime() - b.created_at.getTime() || (a.operation < b.operation ? -1 : a.operation > b.operation ? 1 : 0) || a.attempt_no - b.attempt_no;
}

/** A compare-and-set found the payment or attempt changed since it was read: the transaction must roll back. */
export class StaleWriteError extends Error {
  override readonly name = 'StaleWriteError';
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
