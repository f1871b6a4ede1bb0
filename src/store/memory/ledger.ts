import { eventName, postingsFor, type BooksSummary, type JournalEntry, type LedgerEvent } from '../../ledger/ledger.js';
import type { LedgerStore } from '../../ledger/store.js';
import { MemoryConstraintError, bytes, foreign, int8, ms, unique } from './engine.js';
import type { EntryRecord, MemoryState } from './state.js';

/**
 * The journal on the in-memory tables. Methods are `async` only to fit the port: each runs to the
 * end without yielding, so under the store's mutex nothing interleaves with it.
 */
export class MemoryLedger implements LedgerStore {
  constructor(private readonly s: MemoryState) {}

  async postEntry(paymentId: string, currency: string, event: LedgerEvent, now: Date): Promise<void> {
    const postings = postingsFor(event).filter((p) => p.amount !== 0);
    if (postings.reduce((s, p) => s + p.amount, 0) !== 0) throw new Error(`unbalanced ledger entry for ${paymentId}`);
    // The SQL store's multi-row INSERT has no rows to insert then, and fails.
    if (postings.length === 0) throw new MemoryConstraintError('42601', 'ledger_postings', `ledger entry for ${paymentId} has no postings`);
    for (const p of postings) int8('amount', p.amount);
    const name = eventName(event);
    unique(
      this.s.entries.values().some((e) => e.payment_id === paymentId && e.event === name),
      'ledger_entries_payment_id_event_key',
      `${paymentId}, ${name}`,
    );
    foreign(this.s.payments.has(paymentId), 'ledger_entries_payment_id_fkey', `payment ${paymentId}`);
    const id = this.s.nextEntryId();
    this.s.entries.set(id, { id, payment_id: paymentId, event: name, currency, created_at: ms(now), postings });
  }

  async listEntries(paymentId: string): Promise<JournalEntry[]> {
    return this.s.entries
      .values()
      .filter((e) => e.payment_id === paymentId)
      .sort((a, b) => a.id - b.id)
      .map((e) => ({
        event: e.event,
        currency: e.currency,
        postings: e.postings.map((p) => ({ ...p })).sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0)),
      }));
  }

  async summarizeBooks(): Promise<BooksSummary> {
    const entries = this.s.entries.values().sort((a, b) => a.id - b.id);
    const total = (e: EntryRecord) => e.postings.reduce((t, p) => t + p.amount, 0);
    const byCurrency = new Map<string, number>();
    const balances = new Map<string, { holds: number; receivable: number }>();
    for (const e of entries) {
      if (e.postings.length > 0) byCurrency.set(e.currency, (byCurrency.get(e.currency) ?? 0) + total(e));
      const b = balances.get(e.payment_id) ?? { holds: 0, receivable: 0 };
      for (const p of e.postings) {
        if (p.account === 'gateway_holds') b.holds += p.amount;
        if (p.account === 'gateway_receivable') b.receivable += p.amount;
      }
      balances.set(e.payment_id, b);
    }
    return {
      entries: entries.length,
      unbalancedEntries: entries
        .filter((e) => e.postings.length === 0 || total(e) !== 0)
        .map((e) => ({ paymentId: e.payment_id, event: e.event, total: total(e) })),
      currencyTotals: [...byCurrency].sort(([a], [b]) => bytes(a, b)).map(([currency, t]) => ({ currency, total: t })),
      payments: this.s.payments
        .values()
        .sort((a, b) => bytes(a.id, b.id))
        .map((p) => ({
          id: p.id,
          status: p.status,
          amount: p.amount,
          amount_authorized: p.amount_authorized,
          amount_captured: p.amount_captured,
          amount_refunded: p.amount_refunded,
          amount_voided: p.amount_voided,
          holds: balances.get(p.id)?.holds ?? 0,
          receivable: balances.get(p.id)?.receivable ?? 0,
        })),
    };
  }
}
