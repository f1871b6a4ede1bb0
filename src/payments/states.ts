/**
 * The payment state machine (docs/payments.md), pure. Every status change in Idem goes through
 * `canTransition`; a change not in the table is refused.
 */

/** Every payment status, listed once: types, API schemas and checks derive from this. */
export const PAYMENT_STATUSES = [
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

export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** States with a gateway operation in flight: recovery drives these to an end. */
export const IN_FLIGHT_STATUSES = ['processing', 'capturing', 'voiding', 'refunding'] as const satisfies readonly PaymentStatus[];

/** Every status an attempt (one try of one operation at one gateway) can have. */
export const ATTEMPT_STATUSES = ['pending', 'succeeded', 'declined', 'not_processed', 'unknown'] as const;

export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

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
export function isInFlight(status: string): boolean {
  return (IN_FLIGHT_STATUSES as readonly string[]).includes(status);
}

/**
 * The edges reconciliation may take when it adopts what a gateway did execute (docs/
 * reconciliation.md, "Remediation"): the state follows the money, never past what the
 * gateway's log proves. Not open to requests: only to adoption.
 */
const adoptions: Partial<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  failed: ['authorized'],
  authorized: ['captured', 'partially_captured'],
};

export function canAdopt(from: PaymentStatus, to: PaymentStatus): boolean {
  return adoptions[from]?.includes(to) ?? false;
}
