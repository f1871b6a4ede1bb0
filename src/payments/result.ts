/** The request kinds that move a payment, each behind the idempotency gate. */
export const paymentRequestKinds = ['create', 'capture', 'void', 'refund'] as const;
export type PaymentRequestKind = (typeof paymentRequestKinds)[number];

/** The kind an idempotency key was claimed for (`KeyRow.operation`), when it is a payment request's. */
export function asPaymentRequestKind(operation: string | null | undefined): PaymentRequestKind | null {
  return (paymentRequestKinds as readonly string[]).includes(operation ?? '') ? (operation as PaymentRequestKind) : null;
}
