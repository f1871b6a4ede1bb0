/*
 * The outbox relay's storage port (docs/architecture.md, "Ports"), beside its rows. Composed into
 * `Store` (src/store/port.ts); adapters in src/store/sql/outbox.ts and
 * src/store/memory/outbox.ts. Attempts write their outbox rows through
 * `PaymentStore.insertAttempt` (src/payments/store.ts).
 */

/** The outbox relay's leased, fenced work claims. */
export interface OutboxStore {
  /**
   * (`tries` in each row counts the claims before this one.)
   * Claims up to `limit` pending outbox rows due at `now` whose lease is free, oldest due first,
   * leasing each until `now + leaseMs` with a new fence. Rows held by another open claim are
   * skipped, never waited for.
   */
  claimDueWork(now: number, limit: number, leaseMs: number): Promise<DueWork[]>;
  /** Sets the row's next due time and frees its lease, if `fence` still holds it. */
  rescheduleWork(id: number, fence: number, runAfter: number): Promise<void>;
  /** Extends the row's lease if `fence` still holds it; false otherwise. */
  guardWork(id: number, fence: number, leaseUntil: number): Promise<boolean>;
  /**
   * Makes the pending rows of `paymentIds` whose attempt is at `gateway` due at `now` (those due
   * later only; leases untouched): news of their outcome came in (a processor's notification,
   * docs/gateways.md). Returns how many rows it moved.
   */
  hastenWork(gateway: string, paymentIds: readonly string[], now: number): Promise<number>;
}

/** One claimed outbox row: the payment whose open attempt to run, and the lease's fence. */
export interface DueWork {
  id: number;
  payment_id: string;
  merchant_id: string;
  idempotency_key: string | null;
  tries: number;
  fence: number;
}
