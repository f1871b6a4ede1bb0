import { IdemError } from '../errors/registry.js';
import type { PaymentRow } from './rows.js';
import type { PaymentStatus } from './states.js';

/**
 * Validation of capture, void and refund requests against the payment as it stands, pure.
 * Each answers the in-flight state the payment moves to and the amount to send, or throws
 * 409 `PAYMENT_INVALID_STATE` / 422 `AMOUNT_EXCEEDS_AVAILABLE` before anything is written, so
 * the idempotency key stays free (docs/payments.md, "The pipeline", step 1).
 */
export interface ValidRequest {
  to: PaymentStatus;
  amount: number;
}

type Validated = Pick<PaymentRow, 'id' | 'status' | 'amount_authorized' | 'amount_captured' | 'amount_refunded'>;

/** All of the authorization, or `amount` of it. */
export function validateCapture(p: Validated, amount: number | undefined): ValidRequest {
  if (p.status !== 'authorized') throw invalidState(p, 'captured');
  const amt = amount ?? p.amount_authorized;
  if (amt > p.amount_authorized) throw exceeds(p, `capture ${amt} exceeds the authorized ${p.amount_authorized}`);
  return { to: 'capturing', amount: amt };
}

/** An uncaptured authorization, all of it. */
export function validateVoid(p: Validated): ValidRequest {
  if (p.status !== 'authorized') throw invalidState(p, 'voided');
  return { to: 'voiding', amount: p.amount_authorized };
}

/** All that is left of the capture, or `amount` of it. */
export function validateRefund(p: Validated, amount: number | undefined): ValidRequest {
  if (p.status !== 'captured' && p.status !== 'partially_captured' && p.status !== 'partially_refunded') throw invalidState(p, 'refunded');
  const left = p.amount_captured - p.amount_refunded;
  const amt = amount ?? left;
  if (amt > left) throw exceeds(p, `refund ${amt} exceeds the ${left} left to refund`);
  return { to: 'refunding', amount: amt };
}

export function invalidState(p: Pick<PaymentRow, 'id' | 'status'>, to: string): IdemError {
  return new IdemError('PAYMENT_INVALID_STATE', `payment ${p.id} is ${p.status}; it cannot be ${to}`, {
    extensions: { payment_id: p.id, payment_status: p.status },
  });
}

function exceeds(p: Pick<PaymentRow, 'id'>, detail: string): IdemError {
  return new IdemError('AMOUNT_EXCEEDS_AVAILABLE', detail, { extensions: { payment_id: p.id } });
}
