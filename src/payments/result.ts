import type { StoredResponse } from '../idempotency/store.js';
import type { PaymentView } from './view.js';

/** The request kinds that move a payment, each behind the idempotency gate. */
export const paymentRequestKinds = ['create', 'capture', 'void', 'refund'] as const;
export type PaymentRequestKind = (typeof paymentRequestKinds)[number];

/** The kind an idempotency key was claimed for (`KeyRow.operation`), when it is a payment request's. */
export function asPaymentRequestKind(operation: string | null | undefined): PaymentRequestKind | null {
  return (paymentRequestKinds as readonly string[]).includes(operation ?? '') ? (operation as PaymentRequestKind) : null;
}

/**
 * What a payment request ended with, in domain terms, before anything renders it for HTTP:
 * its kind, the payment as it stands and the gateway's decline code when it was declined.
 * - `final`: answered for good; the rendering is stored with the last state change and
 *   replayed for every retry of the key;
 * - `pending`: the outcome is unknown; the payment is still in flight and the key stays open.
 */
export interface PaymentResult {
  request: PaymentRequestKind;
  outcome: 'final' | 'pending';
  payment: PaymentView;
  /** Set only for a final answer to a declined request. */
  declineCode: string | null;
  /** The request answered (its `Request-Id`), when known: a stored refusal names it. */
  requestId?: string | undefined;
}

/**
 * Turns a result into the response stored for replay (src/api/render.ts). Injected into
 * `PaymentService`, so the stored bytes are written in the transaction that makes the final
 * business change, and every path that finishes a key (the API, recovery, the simulator)
 * renders them the same way.
 */
export type PaymentRenderer = (result: PaymentResult) => StoredResponse;
