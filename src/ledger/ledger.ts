import type { Queryable } from '../db/database.js';

/**
 * The double-entry ledger (SPEC section 7). Accounts, per currency:
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
  | { kind: 'refund'; amount: number; attemptId: string };

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
  }
}

/** The entry's unique name within its payment: one authorize, one void, one per capture/refund attempt. */
export function eventName(event: LedgerEvent): string {
  return event.kind === 'capture' || event.kind === 'refund' ? `${event.kind}:${event.attemptId}` : event.kind;
}

/**
 * Appends one journal entry in the caller's transaction. Unique per (payment, event): posting
 * the same movement twice fails the transaction instead of moving money twice in the books.
 */
export async function postEntry(tx: Queryable, paymentId: string, currency: string, event: LedgerEvent, now: Date): Promise<void> {
  const postings = postingsFor(event).filter((p) => p.amount !== 0);
  if (postings.reduce((s, p) => s + p.amount, 0) !== 0) throw new Error(`unbalanced ledger entry for ${paymentId}`);
  const { rows } = await tx.query<{ id: number }>(
    `INSERT INTO ledger_entries (payment_id, event, currency, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
    [paymentId, eventName(event), currency, now],
  );
  const entryId = rows[0]!.id;
  const values = postings.map((_, i) => `($1, $${i * 2 + 2}, $${i * 2 + 3})`).join(', ');
  await tx.query(
    `INSERT INTO ledger_postings (entry_id, account, amount) VALUES ${values}`,
    [entryId, ...postings.flatMap((p) => [p.account, p.amount])],
  );
}

/** A payment's journal, oldest entry first, each entry's postings ordered by account. */
export async function listEntries(q: Queryable, paymentId: string): Promise<JournalEntry[]> {
  const { rows } = await q.query<{ event: string; currency: string; postings: Array<{ account: Account; amount: string | number }> }>(
    `SELECT e.event, e.currency,
            json_agg(json_build_object('account', p.account, 'amount', p.amount) ORDER BY p.account COLLATE "C") AS postings
       FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id
      WHERE e.payment_id = $1
      GROUP BY e.id ORDER BY e.id`,
    [paymentId],
  );
  return rows.map((r) => ({ event: r.event, currency: r.currency, postings: r.postings.map((p) => ({ account: p.account, amount: Number(p.amount) })) }));
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

/** A payment's balances as its postings say. */
export async function paymentBalances(q: Queryable, paymentId: string): Promise<PaymentBalances> {
  const { rows } = await q.query<{ account: Account; balance: number }>(
    `SELECT p.account, sum(p.amount)::bigint AS balance
       FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
      WHERE e.payment_id = $1 GROUP BY p.account`,
    [paymentId],
  );
  const get = (a: Account) => rows.find((r) => r.account === a)?.balance ?? 0;
  return { gateway_holds: get('gateway_holds'), gateway_receivable: get('gateway_receivable') };
}
