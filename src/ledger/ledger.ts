import type { PaymentStatus } from '../payments/states.js';

/**
 * The double-entry ledger, pure: accounts, postings per money movement and the balances a
 * payment's state implies (docs/architecture.md; the journal's SQL is in src/store/sql/ledger.ts).
 * Accounts, per currency:
 *
 * | account              | holds                                                        |
 * |----------------------|--------------------------------------------------------------|
 * | `gateway_holds`      | authorizations standing at a gateway (debit)                 |
 * | `holds_outstanding`  | their counterpart until captured or voided (credit)          |
 * | `gateway_receivable` | captured money the gateway owes us, less refunds (debit)     |
 * | `merchant_payable`   | what we owe the merchant for it (credit)                     |
 *
 * authorize A:       DR gateway_holds A          CR holds_outstanding A
 * capture C of A:    DR holds_outstanding A      CR gateway_holds A        (hold released)
 *                    DR gateway_receivable C     CR merchant_payable C
 * void A:            DR holds_outstanding A      CR gateway_holds A
 * refund R:          DR merchant_payable R       CR gateway_receivable R
 * extra hold H (an authorization reconciliation found beside the payment's own and voided,
 * docs/reconciliation.md), two entries posted together once the void succeeded:
 *                    DR gateway_holds H          CR holds_outstanding H   (remediation_hold)
 *                    DR holds_outstanding H      CR gateway_holds H       (remediation_release)
 */
export type Account = 'gateway_holds' | 'holds_outstanding' | 'gateway_receivable' | 'merchant_payable';

export interface Posting {
  account: Account;
  /** Debit positive, credit negative, minor units. */
  amount: number;
}

export type LedgerEvent =
  | { kind: 'authorize'; amount: number }
  | { kind: 'capture'; authorized: number; captured: number; attemptId: string }
  | { kind: 'void'; authorized: number }
  | { kind: 'refund'; amount: number; attemptId: string }
  | { kind: 'remediation_hold'; amount: number; authorizationId: string }
  | { kind: 'remediation_release'; amount: number; authorizationId: string };

/** One committed journal entry as read back: its unique name, currency and postings by account. */
export interface JournalEntry {
  event: string;
  currency: string;
  postings: Posting[];
}

/** The postings for one money movement; they always sum to zero. Pure. */
export function postingsFor(event: LedgerEvent): Posting[] {
  switch (event.kind) {
    case 'authorize':
      return [
        { account: 'gateway_holds', amount: event.amount },
        { account: 'holds_outstanding', amount: -event.amount },
      ];
    case 'capture':
      return [
        { account: 'holds_outstanding', amount: event.authorized },
        { account: 'gateway_holds', amount: -event.authorized },
        { account: 'gateway_receivable', amount: event.captured },
        { account: 'merchant_payable', amount: -event.captured },
      ];
    case 'void':
      return [
        { account: 'holds_outstanding', amount: event.authorized },
        { account: 'gateway_holds', amount: -event.authorized },
      ];
    case 'refund':
      return [
        { account: 'merchant_payable', amount: event.amount },
        { account: 'gateway_receivable', amount: -event.amount },
      ];
    case 'remediation_hold':
      return [
        { account: 'gateway_holds', amount: event.amount },
        { account: 'holds_outstanding', amount: -event.amount },
      ];
    case 'remediation_release':
      return [
        { account: 'holds_outstanding', amount: event.amount },
        { account: 'gateway_holds', amount: -event.amount },
      ];
  }
}

/** The entry's unique name within its payment: one authorize, one void, one per capture/refund attempt, one pair per remediated authorization. */
export function eventName(event: LedgerEvent): string {
  if (event.kind === 'capture' || event.kind === 'refund') return `${event.kind}:${event.attemptId}`;
  if (event.kind === 'remediation_hold' || event.kind === 'remediation_release') return `${event.kind}:${event.authorizationId}`;
  return event.kind;
}

/** A payment's amounts beside its balances in the books, as an audit (`verifyLedger`) reads them. */
export interface PaymentBooks {
  id: string;
  status: PaymentStatus;
  amount: number;
  amount_authorized: number;
  amount_captured: number;
  amount_refunded: number;
  amount_voided: number;
  /** The sum of its postings on `gateway_holds`. */
  holds: number;
  /** The sum of its postings on `gateway_receivable`. */
  receivable: number;
}

/** The whole books at a glance, for an audit (`LedgerStore.summarizeBooks`). */
export interface BooksSummary {
  /** How many journal entries there are. */
  entries: number;
  /** Entries whose postings do not sum to zero, or that have none, oldest first. */
  unbalancedEntries: Array<{ paymentId: string; event: string; total: number }>;
  /** The sum of every posting, per currency that has postings, by currency. */
  currencyTotals: Array<{ currency: string; total: number }>;
  /** Every payment, by id (byte order). */
  payments: PaymentBooks[];
}

export interface PaymentBalances {
  gateway_holds: number;
  gateway_receivable: number;
}

/** What a payment's ledger balances must be for its state and amounts. */
export function expectedBalances(p: { status: string; amount_authorized: number; amount_captured: number; amount_refunded: number }): PaymentBalances {
  // An authorization stands until captured or voided; with automatic capture the payment is
  // still `processing` between the two.
  const holding =
    p.status === 'authorized' || p.status === 'capturing' || p.status === 'voiding' || (p.status === 'processing' && p.amount_authorized > 0);
  return {
    gateway_holds: holding ? p.amount_authorized : 0,
    gateway_receivable: p.amount_captured - p.amount_refunded,
  };
}

/** A payment's balances as its journal (`LedgerStore.listEntries`) says. Pure. */
export function paymentBalances(journal: JournalEntry[]): PaymentBalances {
  const sum = (a: Account) => journal.reduce((s, e) => s + e.postings.filter((p) => p.account === a).reduce((t, p) => t + p.amount, 0), 0);
  return { gateway_holds: sum('gateway_holds'), gateway_receivable: sum('gateway_receivable') };
}
