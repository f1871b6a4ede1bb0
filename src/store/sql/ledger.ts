import type { Queryable } from '../../db/database.js';
import { eventName, postingsFor, type Account, type BooksSummary, type JournalEntry, type LedgerEvent, type PaymentBooks, type Posting } from '../../ledger/ledger.js';
import type { LedgerStore } from '../../ledger/store.js';
import { Statement } from './statement.js';

/** An entry's postings, the zero ones left out; throws unless they balance. */
export function balancedPostings(paymentId: string, event: LedgerEvent): Posting[] {
  const postings = postingsFor(event).filter((p) => p.amount !== 0);
  if (postings.reduce((s, p) => s + p.amount, 0) !== 0) throw new Error(`unbalanced ledger entry for ${paymentId}`);
  return postings;
}

/** The double-entry journal in SQL; the postings themselves come from src/ledger/ledger.ts. */
export class SqlLedger implements LedgerStore {
  constructor(private readonly q: Queryable) {}

  /**
   * Appends one journal entry in the caller's transaction. Unique per (payment, event): posting
   * the same movement twice fails the transaction instead of moving money twice in the books.
   */
  async postEntry(paymentId: string, currency: string, event: LedgerEvent, now: Date): Promise<void> {
    const s = new Statement();
    await s.count(this.q, postEntryWrite(s, paymentId, currency, event, now));
  }

  /** A payment's journal, oldest entry first, each entry's postings ordered by account. */
  async listEntries(paymentId: string): Promise<JournalEntry[]> {
    const { rows } = await this.q.query<{ event: string; currency: string; postings: Array<{ account: Account; amount: string | number }> }>(
      `SELECT e.event, e.currency,
              json_agg(json_build_object('account', p.account, 'amount', p.amount) ORDER BY p.account COLLATE "C") AS postings
         FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id
        WHERE e.payment_id = $1
        GROUP BY e.id ORDER BY e.id`,
      [paymentId],
    );
    return rows.map((r) => ({ event: r.event, currency: r.currency, postings: r.postings.map((p) => ({ account: p.account, amount: Number(p.amount) })) }));
  }

  async summarizeBooks(): Promise<BooksSummary> {
    const { rows: unbalanced } = await this.q.query<{ payment_id: string; event: string; total: number }>(
      `SELECT e.payment_id, e.event, coalesce(sum(p.amount), 0)::bigint AS total
         FROM ledger_entries e LEFT JOIN ledger_postings p ON p.entry_id = e.id
        GROUP BY e.id, e.payment_id, e.event HAVING coalesce(sum(p.amount), 0) <> 0 OR count(p.entry_id) = 0
        ORDER BY e.id`,
    );
    const { rows: currencyTotals } = await this.q.query<{ currency: string; total: number }>(
      `SELECT e.currency, sum(p.amount)::bigint AS total FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
        GROUP BY e.currency ORDER BY e.currency COLLATE "C"`,
    );
    const { rows: payments } = await this.q.query<PaymentBooks>(
      `SELECT p.id, p.status, p.amount, p.amount_authorized, p.amount_captured, p.amount_refunded, p.amount_voided,
              coalesce(sum(lp.amount) FILTER (WHERE lp.account = 'gateway_holds'), 0)::bigint AS holds,
              coalesce(sum(lp.amount) FILTER (WHERE lp.account = 'gateway_receivable'), 0)::bigint AS receivable
         FROM payments p
         LEFT JOIN ledger_entries le ON le.payment_id = p.id
         LEFT JOIN ledger_postings lp ON lp.entry_id = le.id
        GROUP BY p.id ORDER BY p.id COLLATE "C"`,
    );
    const { rows: count } = await this.q.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_entries');
    return {
      entries: count[0]!.n,
      unbalancedEntries: unbalanced.map((r) => ({ paymentId: r.payment_id, event: r.event, total: r.total })),
      currencyTotals,
      payments,
    };
  }
}

/** A journal entry with its balanced postings (`LedgerStore.postEntry`), one statement; returns the entry's CTE (one row). */
export function postEntryWrite(s: Statement, paymentId: string, currency: string, event: LedgerEvent, now: Date): string {
  const postings = balancedPostings(paymentId, event);
  const entry = s.cte(
    `INSERT INTO ledger_entries (payment_id, event, currency, created_at)
     VALUES (${s.p(paymentId)}, ${s.p(eventName(event))}, ${s.p(currency)}, ${s.p(now)}) RETURNING id`,
  );
  s.cte(
    `INSERT INTO ledger_postings (entry_id, account, amount)
     SELECT e.id, p.account, p.amount FROM ${entry} e, unnest(${s.p(postings.map((p) => p.account))}::text[], ${s.p(postings.map((p) => p.amount))}::bigint[]) AS p (account, amount)
     RETURNING 1`,
  );
  return entry;
}
