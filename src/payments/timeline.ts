/**
 * A payment's timeline events as the pipeline writes them (docs/events.md): each with the
 * standard metadata (docs/metadata.md) and an id drawn from the injected random source.
 */
import { pickMetadata } from '../events/metadata.js';
import type { NewPaymentEvent } from '../events/model.js';
import type { Random } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import type { RequestMetadata } from './requestMetadata.js';
import { toView, type AttemptRow, type PaymentRow } from './rows.js';
import type { PaymentView } from './view.js';

/**
 * One payment event with the standard metadata: the payment's, the attempt's when there is
 * one, and the request's.
 */
export function paymentEvent(
  random: Random,
  p: Pick<PaymentRow, 'id' | 'merchant_id' | 'idempotency_key'>,
  a: AttemptRow | null,
  meta: RequestMetadata & { idempotency_key?: string },
  type: string,
  data: Record<string, unknown>,
  now: Date,
): NewPaymentEvent {
  const metadata = pickMetadata({
    merchant_id: p.merchant_id,
    payment_id: p.id,
    idempotency_key: meta.idempotency_key ?? p.idempotency_key,
    request_id: meta.request_id,
    attempt_id: a?.id,
    attempt_no: a?.attempt_no,
    operation: a?.operation,
    gateway: a?.gateway,
    gateway_key: a?.gateway_key,
    trace_id: meta.trace_id,
  });
  return { id: newId(random, 'evt'), type, merchantId: p.merchant_id, paymentId: p.id, data, metadata, createdAt: now };
}

/** A timeline event about one attempt: the attempt as it stands, and what the event adds. */
export function attemptEvent(random: Random, p: PaymentRow, a: AttemptRow, meta: RequestMetadata, type: string, data: Record<string, unknown>, now: Date): NewPaymentEvent {
  const attempt = { id: a.id, operation: a.operation, attempt_no: a.attempt_no, gateway: a.gateway, gateway_key: a.gateway_key, amount: a.amount };
  return paymentEvent(random, p, a, { ...meta, ...(a.idempotency_key !== null ? { idempotency_key: a.idempotency_key } : {}) }, type, { attempt, ...data }, now);
}

/**
 * The `attempt.started` event keeps the opening request's `request_id` and `traceparent`, so
 * a recovery logs under that request and links its spans to its trace (docs/metadata.md).
 */
export function attemptStartedEvent(random: Random, payment: PaymentRow, attempt: AttemptRow, meta: RequestMetadata, now: Date): NewPaymentEvent {
  return attemptEvent(random, payment, attempt, meta, 'attempt.started', meta.traceparent ? { traceparent: meta.traceparent } : {}, now);
}

/** The payment as its events carry it: the API's view without the attempts. */
export function paymentSnapshot(p: PaymentRow): Omit<PaymentView, 'attempts'> {
  const { attempts: _attempts, ...rest } = toView(p, []);
  return rest;
}
