/**
 * The payment state machine (SPEC section 5), pure. Every status change in Idem goes through
 * `canTransition`; a change not in the table is refused.
 */

export const paymentStatuses = [
  'processing',
  'authorized',
  'captured',
  'partially_captured',
  'declined',
  'failed',
  'capturing',
  'voiding',
  'voided',
  'refunding',
  'partially_refunded',
  'refunded',
] as const;

export type PaymentStatus = (typeof paymentStatuses)[number];

const transitions: Record<PaymentStatus, readonly PaymentStatus[]> = {
  processing: ['authorized', 'captured', 'declined', 'failed'],
  authorized: ['capturing', 'voiding'],
  capturing: ['captured', 'partially_captured', 'authorized'],
  voiding: ['voided', 'authorized'],
  captured: ['refunding'],
  partially_captured: ['refunding'],
  refunding: ['partially_refunded', 'refunded', 'captured', 'partially_captured'],
  partially_refunded: ['refunding'],
  declined: [],
  failed: [],
  voided: [],
  refunded: [],
};

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return transitions[from].includes(to);
}

/** States no operation ever leaves. */
export function isTerminal(status: PaymentStatus): boolean {
  return transitions[status].length === 0;
}

/** States with a gateway operation in flight: recovery drives these to an end. */
export function isInFlight(status: PaymentStatus): boolean {
  return status === 'processing' || status === 'capturing' || status === 'voiding' || status === 'refunding';
}
