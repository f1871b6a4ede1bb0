import type { EventStore } from '../events/store.js';
import type { WebhookStore } from '../events/webhookStore.js';
import type { KeyStore } from '../idempotency/store.js';
import type { LedgerStore } from '../ledger/store.js';
import type { MerchantStore } from '../merchants/store.js';
import type { OutboxStore } from '../outbox/store.js';
import type { PaymentRounds, PaymentStore } from '../payments/store.js';
import type { Transactional } from '../ports/transaction.js';
import type { ReconciliationStore } from '../reconciliation/store.js';

/**
 * The storage port: every read and write Idem's core makes, as operations rather than SQL, so
 * the same core runs on PostgreSQL, on embedded PGlite (`SqlStore`, one SQL dialect) and on
 * the deterministic simulator's in-memory store (`MemoryStore`). One contract suite
 * (`test/contract/`) holds all three to the same semantics: atomic transactions that roll back
 * on a throw, unique constraints, compare-and-set updates, fencing, and work claims that never
 * hand one row to two claimers at once.
 *
 * It is the composition of one small interface per aggregate, each owned by its domain beside
 * its rows (`KeyStore` in src/idempotency/store.ts, `PaymentStore` and `PaymentRounds` in
 * src/payments/store.ts, `LedgerStore` in src/ledger/store.ts, `EventStore` and `WebhookStore`
 * in src/events/, `ReconciliationStore` in src/reconciliation/store.ts, `MerchantStore` and
 * `OutboxStore` in their folders); adding an operation touches that interface, its name list
 * below and its adapters (src/store/sql/, src/store/memory/). Consumers take the narrowest
 * slice they use (`Pick<LedgerStore, 'summarizeBooks'>`), never this whole.
 *
 * Times are milliseconds on Idem's clock (or `Date`s from it); nothing reads a database clock.
 */
export type StoreOps = KeyStore & MerchantStore & PaymentStore & LedgerStore & OutboxStore & EventStore & WebhookStore & ReconciliationStore;

export interface Store extends KeyStore, MerchantStore, PaymentStore, LedgerStore, OutboxStore, EventStore, WebhookStore, ReconciliationStore, PaymentRounds, Transactional<StoreOps> {
  readonly kind: 'postgres' | 'pglite' | 'memory';
}

/** The operations of each aggregate, for the stores and wrappers that forward each one. */
export const keyOpNames = [
  'claimKey', 'insertKey', 'readKey', 'renewKey', 'guardKey', 'bindKeyResource', 'completeKey', 'forgetKey', 'endKeyLease', 'sweepKeys',
] as const satisfies ReadonlyArray<keyof KeyStore>;
export const merchantOpNames = ['insertMerchant', 'merchantForKeyHash', 'countMerchants', 'merchantExists', 'listMerchants', 'listApiKeys', 'insertApiKey', 'revokeApiKeys'] as const satisfies ReadonlyArray<keyof MerchantStore>;
export const paymentOpNames = [
  'insertPayment', 'findPayment', 'updatePayment', 'insertAttempt', 'findOpenAttempt', 'lastAttemptNo', 'countAttempts', 'listAttempts',
  'recordAttempt', 'loadView', 'listViews',
] as const satisfies ReadonlyArray<keyof PaymentStore>;
export const ledgerOpNames = ['postEntry', 'listEntries', 'summarizeBooks'] as const satisfies ReadonlyArray<keyof LedgerStore>;
export const outboxOpNames = ['claimDueWork', 'rescheduleWork', 'guardWork', 'hastenWork'] as const satisfies ReadonlyArray<keyof OutboxStore>;
export const eventOpNames = [
  'insertEvent', 'insertEvents', 'insertSystemEvent', 'reportGatewayHealth', 'listEvents', 'positionEvents', 'listFeed', 'eventActivity', 'findEvent', 'claimPublisher', 'advancePublisher',
] as const satisfies ReadonlyArray<keyof EventStore>;
export const webhookOpNames = [
  'insertEndpoint', 'listEndpoints', 'findEndpoint', 'setEndpointStatus', 'rotateEndpointSecret', 'deleteEndpoint',
  'claimDeliveries', 'releaseDeliveries', 'finishDelivery', 'succeedDeliveries', 'noteEndpointResult', 'replayDeliveries', 'listDeliveries',
] as const satisfies ReadonlyArray<keyof WebhookStore>;

export const reconciliationOpNames = [
  'claimReconcileWindow', 'renewReconcileWindow', 'closeReconcileWindow', 'listReconcileCursors', 'stageRecords', 'unsettledRecords', 'listStagedRecords',
  'settleRecord', 'settleRecords', 'reconciliationFacts', 'unseenSucceededAttempts', 'insertRemediation', 'findRemediations', 'listRemediations',
  'claimDueRemediations', 'finishRemediation', 'guardRemediation', 'openCase', 'listCases', 'findCase', 'resolveCase', 'loadMatchModel',
  'saveMatchModel',
] as const satisfies ReadonlyArray<keyof ReconciliationStore>;

/** Every operation of {@link StoreOps}. */
export const storeOpNames = [...keyOpNames, ...merchantOpNames, ...paymentOpNames, ...ledgerOpNames, ...outboxOpNames, ...eventOpNames, ...webhookOpNames, ...reconciliationOpNames] as const;

/** Type-checks only while `names` lists every operation of `T`. */
type NamesAll<T, N extends ReadonlyArray<keyof T>> = [Exclude<keyof T, N[number]>] extends [never] ? true : false;
true satisfies NamesAll<KeyStore, typeof keyOpNames>;
true satisfies NamesAll<MerchantStore, typeof merchantOpNames>;
true satisfies NamesAll<PaymentStore, typeof paymentOpNames>;
true satisfies NamesAll<LedgerStore, typeof ledgerOpNames>;
true satisfies NamesAll<OutboxStore, typeof outboxOpNames>;
true satisfies NamesAll<EventStore, typeof eventOpNames>;
true satisfies NamesAll<WebhookStore, typeof webhookOpNames>;
true satisfies NamesAll<ReconciliationStore, typeof reconciliationOpNames>;

/**
 * One `StoreOps` object from one implementation per aggregate, each method bound to its
 * implementation; the name lists above say which methods are taken from which.
 */
export function assembleOps(parts: {
  keys: KeyStore;
  merchants: MerchantStore;
  payments: PaymentStore;
  ledger: LedgerStore;
  outbox: OutboxStore;
  events: EventStore;
  webhooks: WebhookStore;
  reconciliation: ReconciliationStore;
}): StoreOps {
  const ops: Record<string, unknown> = {};
  const take = (impl: object, names: readonly string[]) => {
    for (const n of names) ops[n] = (impl as Record<string, (...a: unknown[]) => unknown>)[n]!.bind(impl);
  };
  take(parts.keys, keyOpNames);
  take(parts.merchants, merchantOpNames);
  take(parts.payments, paymentOpNames);
  take(parts.ledger, ledgerOpNames);
  take(parts.outbox, outboxOpNames);
  take(parts.events, eventOpNames);
  take(parts.webhooks, webhookOpNames);
  take(parts.reconciliation, reconciliationOpNames);
  return ops as unknown as StoreOps;
}
