import type { BooksSummary, JournalEntry, LedgerEvent } from './ledger.js';

/*
 * The ledger's storage port (docs/architecture.md, "Ports"), beside its rows. Composed into
 * `Store` (src/store/port.ts); adapters in src/store/sql/ledger.ts and
 * src/store/memory/ledger.ts.
 */

/** The double-entry journal (src/ledger/ledger.ts holds the pure postings). */
export interface LedgerStore {
  /** One balanced journal entry, unique per (payment, event name): a second one throws. */
  postEntry(paymentId: string, currency: string, event: LedgerEvent, now: Date): Promise<void>;
  /** The payment's committed journal, oldest first; postings ordered by account. */
  listEntries(paymentId: string): Promise<JournalEntry[]>;
  /** Every payment's amounts and balances, the entries that do not balance and each currency's total (`verifyLedger`). */
  summarizeBooks(): Promise<BooksSummary>;
}
