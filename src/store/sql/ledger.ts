import type { Queryable } from '../../db/database.js';
import { eventName, postingsFor, type Account, type JournalEntry, type LedgerEvent } from '../../ledger/ledger.js';
import type { LedgerStore } from '../port.js';

/** The double-entry journal in SQL; the postings themselves come from src/ledger/ledger.ts. */
export class SqlLedger implements LedgerStore {
  constructor(private readonly q: Queryable) {}

  /**
   * Appends one journal entry in the caller's transaction. Unique per (payment, event): posting
   * the same movement twice fails the transaction instead of moving money twice in the books.
   */
  async postEntry(paymentId: string, currency: string, event: LedgerEvent, now: Date): Promise<void> {
    const postings = postingsFor(event).filter((p) => p.amount !== 0);
    if (postings.reduce((s, p) => s + p.amount, 0) !== 0) throw new Error(`unbalanced ledger entry for ${paymentId}`);
    const { rows } = await this.q.query<{ id: number }>(
      `INSERT INTO ledger_entries (payment_id, event, currency, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
      [paymentId, eventName(event), currency, now],
    );
    const entryId = rows[0]!.id;
    const values = postings.map((_, i) => `($1, $${i * 2 + 2}, $${i * 2 + 3})`).join(', ');
    await this.q.query(
      `INSERT INTO ledger_postings (entry_id, account, amount) VALUES ${values}`,
      [entryId, ...postings.flatMap((p) => [p.account, p.amount])],
    );
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
}
