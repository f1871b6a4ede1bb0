import type { NewPaymentEvent } from '../events/model.js';
import type { EventStore } from '../events/store.js';
import type { GatewayOperation } from '../gateways/port.js';
import type { OpeningKey } from '../idempotency/claim.js';
import type { ClaimTx, FenceWrite, KeyStore } from '../idempotency/store.js';
import type { LedgerEvent } from '../ledger/ledger.js';
import type { LedgerStore } from '../ledger/store.js';
import type { AttemptResult, AttemptRow, NewAttempt, NewPayment, PaymentChanges, PaymentRow } from './rows.js';
import type { PaymentView } from './view.js';

/*
 * The payments' storage port (docs/architecture.md, "Ports"). Composed into `Store`
 * (src/store/port.ts); adapters in src/store/sql/payments.ts, src/store/sql/batch.ts and
 * src/store/memory/payments.ts.
 */

/** Payments (compare-and-set), their attempts with the attempts' outbox rows, their events and views. */
export interface PaymentStore {
  insertPayment(p: NewPayment): Promise<PaymentRow>;
  findPayment(merchantId: string, id: string, forUpdate?: boolean): Promise<PaymentRow | null>;
  /** Compare-and-set on `current.version`; throws `StaleWriteError` if the payment changed. */
  updatePayment(current: PaymentRow, changes: PaymentChanges, now: Date): Promise<PaymentRow>;
  /** The attempt and its outbox row (due at `runAfter`), together. Gateway keys are unique. */
  insertAttempt(a: NewAttempt, runAfter: Date): Promise<AttemptRow>;
  /** The newest attempt still `pending` or `unknown`. */
  findOpenAttempt(paymentId: string): Promise<AttemptRow | null>;
  lastAttemptNo(paymentId: string, operation: GatewayOperation): Promise<number>;
  countAttempts(paymentId: string, operation: GatewayOperation, gateway: string): Promise<number>;
  /** Every attempt of the payment, in the order the view shows them (`attemptOrder`). */
  listAttempts(paymentId: string): Promise<AttemptRow[]>;
  /** Compare-and-set from pending/unknown; closes the outbox row unless the result is `unknown`. Throws `StaleWriteError`. */
  recordAttempt(attempt: AttemptRow, result: AttemptResult, now: Date): Promise<void>;
  loadView(merchantId: string, id: string): Promise<PaymentView | null>;
  /** Newest first by (created_at, id), strictly after the cursor. */
  listViews(merchantId: string, limit: number, after: { createdAt: string; id: string } | null): Promise<PaymentView[]>;
}

/**
 * What a payment round's transaction reads and writes: the claim's fence checks (`ClaimTx`) and
 * a first write's claim (`insertKey`), the
 * payment and its attempts, the journal and the payment's events. The service's transactions, a batch
 * (src/payments/batch.ts) and the stepwise writes all run on these.
 */
export type RoundOps = ClaimTx & Pick<KeyStore, 'insertKey'> & PaymentStore & Pick<LedgerStore, 'postEntry'> & Pick<EventStore, 'insertEvent' | 'insertEvents'>;

/** A payment's writes that span its aggregates and go out together (docs/architecture.md, "Ports"). */
export interface PaymentRounds {
  /**
   * A new payment's first write, atomic on its own (docs/architecture.md, "Ports"):
   * the key's fence checked and its lease renewed — or the key claimed, when the gate left the
   * claim to this write (docs/idempotency.md, claim step 5) — the payment, its first attempt with its outbox row, its
   * first events, and the key bound to the payment. Returns the rows as written; null when the
   * fence was lost or the key to claim has a row already (nothing written). PostgreSQL and PGlite do it in
   * one statement; `openPaymentInSteps` (src/payments/batch.ts) is the same write as a
   * transaction of the single operations.
   */
  openPayment(o: OpenPayment): Promise<OpenedPayment | null>;
  /**
   * A round's writes together (src/payments/batch.ts, docs/architecture.md "Ports"): all of
   * them, or none when one's check fails (the key's fence, the payment's version, the attempt
   * still open, a unique key). True when written. PostgreSQL and PGlite send one statement;
   * `writeBatchInSteps` (src/payments/batch.ts) is the same as a transaction of the single operations.
   */
  writeBatch(writes: readonly BatchWrite[]): Promise<boolean>;
}

/**
 * One write of a round's plan (src/payments/round.ts), each as the single operation of the same
 * name does it: the claim's fence writes, then the payment's.
 */
export type BatchWrite =
  | FenceWrite
  | { op: 'recordAttempt'; attempt: AttemptRow; result: AttemptResult; now: Date }
  | { op: 'updatePayment'; current: PaymentRow; changes: PaymentChanges; now: Date }
  | { op: 'postEntry'; paymentId: string; currency: string; event: LedgerEvent; now: Date }
  | { op: 'insertAttempt'; attempt: NewAttempt; runAfter: Date }
  | { op: 'insertEvent'; event: NewPaymentEvent };

/** What {@link PaymentRounds.openPayment} writes. */
export interface OpenPayment {
  /**
   * The key that owns the payment: its fence, and its lease renewed to `now + leaseMs`; or the
   * request to claim a new key for in the same write (docs/idempotency.md, claim step 5).
   */
  key: OpeningKey;
  payment: NewPayment;
  attempt: NewAttempt;
  /** When the relay may run the attempt's outbox row (the inline call goes first). */
  runAfter: Date;
  /** The payment's first events, in order: their `seq` are 1, 2, … */
  events: NewPaymentEvent[];
}

/** A payment and its open attempt, as the transaction that wrote them committed them. */
export interface Opened {
  payment: PaymentRow;
  attempt: AttemptRow;
  /**
   * Every attempt of the payment, when the writer knows them all (a payment it has just
   * created): the next round can then be written as one batch (src/payments/batch.ts).
   */
  attempts?: AttemptRow[];
}

/** What {@link PaymentRounds.openPayment} wrote, and the key's fence it wrote under (new when it claimed the key). */
export interface OpenedPayment extends Opened {
  fence: number;
}
