import type { GatewayOperation } from '../gateways/port.js';
import type { ClaimResult, KeyRequest, KeyRow, StoredResponse } from '../idempotency/store.js';
import type { BooksSummary, JournalEntry, LedgerEvent } from '../ledger/ledger.js';
import type { AttemptResult, AttemptRow, NewAttempt, NewPayment, PaymentChanges, PaymentRow } from '../payments/rows.js';
import type { BatchWrite } from './portBatch.js';

export type { AttemptResult, NewAttempt, NewPayment, PaymentChanges };
import type { NewPaymentEvent, NewSystemEvent, StoredEvent } from '../events/model.js';
import type { DeliveryUpdate, DeliveryWork, EndpointRow } from '../events/webhooks.js';
import type { PaymentView } from '../payments/view.js';
import type { CaseRow, CaseStatus, NewCase, NewRemediation, RemediationRow } from '../reconciliation/cases.js';
import type { ModelCounts } from '../reconciliation/match/model.js';
import type { GatewayRecord, MatchEvidence } from '../reconciliation/records.js';

/** Idempotency keys: claims, fenced writes, expiry (semantics in src/idempotency/store.ts and docs/architecture.md). */
export interface KeyStore {
  /** Atomic claim: insert, take over an in-progress key whose lease ended (same fingerprint), or reset an expired completed key. */
  claimKey(req: KeyRequest, now: number, leaseMs: number): Promise<ClaimResult>;
  readKey(merchantId: string, key: string): Promise<KeyRow | null>;
  /** Extends the lease if `fence` still holds the key in progress; false otherwise. */
  renewKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean>;
  /** As `renewKey`, inside a transaction, locking the key until it ends. */
  guardKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean>;
  bindKeyResource(merchantId: string, key: string, fence: number, resourceId: string): Promise<boolean>;
  completeKey(merchantId: string, key: string, fence: number, response: StoredResponse, now: number, ttlMs: number): Promise<boolean>;
  /** Deletes the in-progress key held by `fence` if it has no resource yet; false if it did not. */
  forgetKey(merchantId: string, key: string, fence: number): Promise<boolean>;
  /** Sets the lease of the in-progress key held by `fence` to end at `now`. */
  endKeyLease(merchantId: string, key: string, fence: number, now: number): Promise<void>;
  /** Deletes up to `limit` completed keys expired at `now`; returns how many. */
  sweepKeys(now: number, limit: number): Promise<number>;
}

/** An API key as operators see it: its prefix and its life, never the key or its hash. */
export interface ApiKeyRow {
  merchantId: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** Merchants and their hashed API keys. */
export interface MerchantStore {
  insertMerchant(m: { id: string; name: string; keyHash: string; keyPrefix: string }): Promise<void>;
  merchantForKeyHash(keyHash: string): Promise<string | null>;
  countMerchants(): Promise<number>;
  merchantExists(merchantId: string): Promise<boolean>;
  /** Every merchant, by id (the operator's view, docs/dashboard.md). */
  listMerchants(): Promise<Array<{ id: string; name: string }>>;
  /** Every key of a merchant (prefixes, never the keys), oldest first, revoked ones included. */
  listApiKeys(merchantId: string): Promise<ApiKeyRow[]>;
  /** Adds a key to an existing merchant; false if there is no such merchant. */
  insertApiKey(merchantId: string, keyHash: string, prefix: string, at: Date): Promise<boolean>;
  /** Revokes the merchant's live keys with this prefix at `at`; returns how many. */
  revokeApiKeys(merchantId: string, prefix: string, at: Date): Promise<number>;
}

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
 * Events (docs/events.md): written in the caller's transaction, positioned in the feed after
 * commit by the event relay, read by the feed, the stream and the publishers.
 */
export interface EventStore {
  /** A payment event; its `seq` is the payment's next (the caller holds the payment's row). */
  insertEvent(e: NewPaymentEvent): Promise<void>;
  /**
   * An event about no payment: a merchant's (webhook endpoint disabled, a reconciliation case)
   * or the system's (`merchantId` null: a gateway's health changed). Written in the caller's
   * transaction, like a payment event.
   */
  insertSystemEvent(e: NewSystemEvent): Promise<void>;
  /**
   * A gateway's learned health changed (docs/resilience.md): moves the reported state of
   * (gateway, operation) to `state` and writes `event` — unless that state is already what was
   * last reported, by this instance or another that learned the same change from the shared
   * log. Compare-and-set, so N instances write one event. True when it wrote.
   */
  reportGatewayHealth(gateway: string, operation: string, state: string, event: NewSystemEvent): Promise<boolean>;
  /** A payment's events in sequence order. */
  listEvents(paymentId: string): Promise<StoredEvent[]>;
  /**
   * Gives the next feed positions to up to `limit` committed events that have none, oldest
   * write first, and fans each out to the enabled webhook endpoints of its merchant that
   * subscribe to its type (one pending delivery each, due at `now`). Must run inside a
   * transaction: it holds the feed head's row lock until commit, so passes never overlap.
   */
  positionEvents(now: Date, limit: number): Promise<{ positioned: number; deliveries: number }>;
  /**
   * Positioned events after `afterPosition`, in feed order: one merchant's (`merchantId`), or
   * every event, system ones included (`null`, for the publishers); optionally of some types.
   */
  listFeed(merchantId: string | null, afterPosition: number, limit: number, types?: readonly string[]): Promise<StoredEvent[]>;
  /** How many events of each type each minute since `since` (ms), for one merchant or (null) all. */
  eventActivity(merchantId: string | null, since: number): Promise<EventActivity>;
  /** One of the merchant's events by id (positioned or not yet). */
  findEvent(merchantId: string, id: string): Promise<StoredEvent | null>;
  /** Takes the publisher's lease if it is free at `now` (a new fence); null if another holds it. */
  claimPublisher(name: string, now: number, leaseMs: number): Promise<{ position: number; fence: number } | null>;
  /** Moves the publisher's cursor to `position` and extends its lease, if `fence` still holds it. */
  advancePublisher(name: string, fence: number, position: number, leaseUntil: number): Promise<boolean>;
}

/** Webhook endpoints and their deliveries (src/events/webhooks.ts holds the rules). */
export interface WebhookStore {
  insertEndpoint(e: Omit<EndpointRow, 'failingSince' | 'disabledReason' | 'previousSecret' | 'previousSecretUntil' | 'updatedAt'>): Promise<EndpointRow>;
  /** The merchant's endpoints, oldest first. */
  listEndpoints(merchantId: string): Promise<EndpointRow[]>;
  findEndpoint(merchantId: string, id: string): Promise<EndpointRow | null>;
  /** Enables or disables; returns the endpoint as it now is, null if there is none. `changed` is false if it already was. */
  setEndpointStatus(merchantId: string, id: string, status: EndpointRow['status'], reason: string | null, now: Date): Promise<{ endpoint: EndpointRow; changed: boolean } | null>;
  /** A new secret; the old one is still signed with until `previousUntil`. */
  rotateEndpointSecret(merchantId: string, id: string, secret: string, previousUntil: Date, now: Date): Promise<EndpointRow | null>;
  /** Deletes the endpoint and its deliveries; false if there was none. */
  deleteEndpoint(merchantId: string, id: string): Promise<boolean>;
  /**
   * Leases up to `limit` due pending deliveries of enabled endpoints, oldest due first,
   * skipping rows another claimer holds, never one whose payment has an earlier pending
   * delivery to the same endpoint (per-payment order), and no more per endpoint than
   * `perEndpoint` less what the caller already has in flight there (`busy`).
   *
   * With `laneSize` > 1 each leased delivery heads a lane: it and up to `laneSize - 1` of its
   * payment's next pending deliveries to the same endpoint, consecutive, each due and free,
   * all leased together, to be sent one after another (`limit`, `perEndpoint` and `busy` count
   * lanes). Returned lane by lane, each in position order; `lane` is the first one's id.
   */
  claimDeliveries(now: number, limit: number, leaseMs: number, perEndpoint: number, busy: ReadonlyMap<string, number>, laneSize?: number): Promise<DeliveryWork[]>;
  /** Ends the leases `fence` still holds on these pending deliveries (a lane cut short), so they may be claimed at once. */
  releaseDeliveries(leases: ReadonlyArray<{ id: number; fence: number }>): Promise<void>;
  /**
   * Writes the result of one send and ends the lease, if `fence` still holds it; false otherwise.
   * A retry moves the payment's later deliveries to the same endpoint to its retry time; a
   * success clears the endpoint's `failingSince` (in the same write: one round trip).
   */
  finishDelivery(id: number, fence: number, update: DeliveryUpdate, now: Date): Promise<boolean>;
  /**
   * Writes a lane's successes in one statement after the lane (docs/events.md, "Crashes"): each
   * delivery `fence` still holds becomes `succeeded` with the receiver's status, its lease ends,
   * and its endpoint stops failing. Returns the ids written (a stale fence is left out).
   */
  succeedDeliveries(leases: ReadonlyArray<{ id: number; fence: number; status: number }>, at: Date): Promise<number[]>;
  /** Notes a success (clears `failingSince`) or a failure (sets it if unset); returns `failingSince`. */
  noteEndpointResult(endpointId: string, ok: boolean, now: Date): Promise<Date | null>;
  /** Queues the endpoint's events created in [from, to) again (new deliveries, same event ids); returns how many. */
  replayDeliveries(merchantId: string, endpointId: string, from: Date, to: Date, now: Date, limit: number): Promise<number>;
  /** The merchant's deliveries to one endpoint or of one payment's events, newest first. */
  listDeliveries(merchantId: string, filter: { endpointId?: string; paymentId?: string }, limit: number): Promise<DeliveryRow[]>;
}

/** One webhook delivery as it stands: how often it was sent, the receiver's last answer, when it settled. */
export interface DeliveryRow {
  id: number;
  endpointId: string;
  eventId: string;
  eventType: string;
  paymentId: string | null;
  state: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: Date;
  createdAt: Date;
  completedAt: Date | null;
}

/** Events per minute and type since a time (the dashboard's overview), and the newest positioned event. */
export interface EventActivity {
  buckets: Array<{ minute: number; type: string; count: number }>;
  lastEventId: string | null;
}

/** The double-entry journal (src/ledger/ledger.ts holds the pure postings). */
export interface LedgerStore {
  /** One balanced journal entry, unique per (payment, event name): a second one throws. */
  postEntry(paymentId: string, currency: string, event: LedgerEvent, now: Date): Promise<void>;
  /** The payment's committed journal, oldest first; postings ordered by account. */
  listEntries(paymentId: string): Promise<JournalEntry[]>;
  /** Every payment's amounts and balances, the entries that do not balance and each currency's total (`verifyLedger`). */
  summarizeBooks(): Promise<BooksSummary>;
}

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
}

/** A window of one gateway's log, leased to one reconciliation pass (`claimReconcileWindow`). */
export interface ReconcileWindow {
  gateway: string;
  /** The gateway's cursor after the last window read; null before the first. */
  cursor: string | null;
  /** Where the first window starts (ms), when there is no cursor yet. */
  sinceAt: number;
  /** Grows with every claim; a pass whose fence is gone cannot move the cursor. */
  fence: number;
}

/** A staged gateway record with what reconciliation settled about it (null: not yet). */
export interface StagedRecord extends GatewayRecord {
  verdict: string | null;
  verdictDetail: string | null;
  /** Idem's attempt the record was matched to when it was settled, and why; null when it was not matched. */
  matchedAttemptId: string | null;
  matchEvidence: MatchEvidence | null;
}

/** The match a record is settled on: Idem's attempt and the evidence. */
export interface SettledMatch {
  attemptId: string;
  evidence: MatchEvidence;
}

/** Which of Idem's payments reconciliation reads for a set of gateway records. */
export interface FactsQuery {
  references: readonly string[];
  authorizationIds: readonly string[];
  gatewayKeys: readonly string[];
  /**
   * Also the payments with an attempt at `gateway` created within [from, to] (ms): the
   * candidates of records that lost their keys and references, for the scored matcher.
   */
  attemptsAt?: { gateway: string; from: number; to: number } | undefined;
}

/** A learned match model as stored (`saveMatchModel`): its evidence and when it was written. */
export interface StoredMatchModel {
  counts: ModelCounts;
  /** ms on Idem's clock. */
  updatedAt: number;
}

/** What reconciliation reads of Idem's side for a set of gateway records. */
export interface ReconciliationFacts {
  payments: PaymentRow[];
  /** Every attempt of those payments. */
  attempts: AttemptRow[];
}

/**
 * Continuous reconciliation's storage (docs/reconciliation.md): per-gateway cursors leased per
 * window, staged gateway records, remediation work rows (leased, fenced, unique per gateway
 * key) and cases. Times are ms on Idem's clock.
 */
export interface ReconciliationStore {
  /**
   * Leases the gateway's next window to `owner` until `now + leaseMs` with a new fence, if no
   * other pass holds it; creates the gateway's cursor row starting at `sinceAt` the first time.
   */
  claimReconcileWindow(gateway: string, owner: string, now: number, leaseMs: number, sinceAt: number): Promise<ReconcileWindow | null>;
  /** Extends the window's lease if `fence` still holds it. */
  renewReconcileWindow(gateway: string, fence: number, leaseUntil: number): Promise<boolean>;
  /**
   * Ends the window held by `fence`: moves the cursor to `cursor` (unless undefined), records
   * `error` (null clears it) and frees the lease. False if the fence no longer holds it.
   */
  closeReconcileWindow(gateway: string, fence: number, cursor: string | null | undefined, error: string | null, now: number): Promise<boolean>;
  /** Every gateway's cursor row (for `idem reconcile` and the report). */
  listReconcileCursors(): Promise<Array<{ gateway: string; cursor: string | null; passes: number; lastError: string | null; updatedAt: number }>>;
  /** Stages records under their own ids (a record already staged is kept as it was); returns how many were new. */
  stageRecords(records: readonly GatewayRecord[], raws: readonly unknown[], fence: number, now: number): Promise<number>;
  /** The gateway's staged records not yet settled, oldest executed first. */
  unsettledRecords(gateway: string, limit: number): Promise<StagedRecord[]>;
  /** Staged records of a gateway (all, or those executed in [from, to)), oldest first. */
  listStagedRecords(gateway: string | null, from?: number, to?: number): Promise<StagedRecord[]>;
  /** Settles a record once, with its match if it was matched: false if it was already settled. */
  settleRecord(gateway: string, recordId: string, verdict: string, detail: string | null, now: number, match?: SettledMatch | null): Promise<boolean>;
  /**
   * Idem's side of a set of records: payments by id (`references`), by authorization id,
   * owning an attempt with one of `gatewayKeys` or (`attemptsAt`) an attempt at a gateway in a
   * time range, and all their attempts. Any merchant.
   */
  reconciliationFacts(q: FactsQuery): Promise<ReconciliationFacts>;
  /**
   * Succeeded attempts at `gateway` completed before `before` (ms) that no staged record of the
   * gateway shows (by gateway key or transaction id, or matched to it by score) and no
   * `missing_at_gateway` case names yet.
   */
  unseenSucceededAttempts(gateway: string, before: number, limit: number): Promise<AttemptRow[]>;
  /** Writes a remediation unless one with its gateway key exists; true if written. */
  insertRemediation(r: NewRemediation): Promise<boolean>;
  /** Remediations by gateway key. */
  findRemediations(gatewayKeys: readonly string[]): Promise<RemediationRow[]>;
  /** Every remediation (of one gateway), oldest first. */
  listRemediations(gateway: string | null): Promise<RemediationRow[]>;
  /** As `claimDueWork`, for remediation rows: pending, due, lease free; leased with a new fence. */
  claimDueRemediations(now: number, limit: number, leaseMs: number): Promise<RemediationRow[]>;
  /**
   * Ends or reschedules the remediation held by `fence`: `done`/`failed` with `result`, or
   * back to `pending` due at `runAfter`. False if the fence no longer holds it.
   */
  finishRemediation(id: number, fence: number, state: 'done' | 'failed' | 'pending', result: string | null, runAfter: number, now: number): Promise<boolean>;
  /** Extends the remediation's lease if `fence` still holds it (inside the transaction that records its result). */
  guardRemediation(id: number, fence: number, leaseUntil: number): Promise<boolean>;
  /** Opens a case unless one with its dedupe key exists; the new case, or null. */
  openCase(c: NewCase): Promise<CaseRow | null>;
  /** Cases, oldest first; `merchantId` undefined: every merchant's and the unowned ones. */
  listCases(filter: { merchantId?: string; status?: CaseStatus; gateway?: string }): Promise<CaseRow[]>;
  findCase(id: string): Promise<CaseRow | null>;
  /** Resolves an open case; the resolved case, or null if there is no open case with that id. */
  resolveCase(id: string, resolution: string, now: number): Promise<CaseRow | null>;
  /** The match model stored under `name` (the scored matcher's learned evidence), or null. */
  loadMatchModel(name: string): Promise<StoredMatchModel | null>;
  /** Writes the model under `name`, replacing what was there. */
  saveMatchModel(name: string, counts: ModelCounts, now: number): Promise<void>;
}

/**
 * The storage port: every read and write Idem's core makes, as operations rather than SQL, so
 * the same core runs on PostgreSQL, on embedded PGlite (`SqlStore`, one SQL dialect) and on
 * the deterministic simulator's in-memory store (`MemoryStore`). One contract suite
 * (`test/contract/`) holds all three to the same semantics: atomic transactions that roll back
 * on a throw, unique constraints, compare-and-set updates, fencing, and work claims that never
 * hand one row to two claimers at once.
 *
 * It is the intersection of one small interface per aggregate; adding an operation touches
 * that interface, its name list below and its adapters (src/store/sql/, src/store/memory/).
 *
 * Times are milliseconds on Idem's clock (or `Date`s from it); nothing reads a database clock.
 */
export type StoreOps = KeyStore & MerchantStore & PaymentStore & LedgerStore & OutboxStore & EventStore & WebhookStore & ReconciliationStore;

export interface Store extends KeyStore, MerchantStore, PaymentStore, LedgerStore, OutboxStore, EventStore, WebhookStore, ReconciliationStore {
  readonly kind: 'postgres' | 'pglite' | 'memory';
  /** Runs `fn` atomically: all its writes commit together, or none if it throws. */
  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T>;
  /**
   * A new payment's first write, atomic on its own (docs/architecture.md, "Ports"):
   * the key's fence checked and its lease renewed, the payment, its first attempt with its
   * outbox row, its first events, and the key bound to the payment. Returns the rows as
   * written; null when the fence was lost (nothing written). PostgreSQL and PGlite do it in
   * one statement; {@link openPaymentInSteps} is the same write as a transaction of the
   * single operations.
   */
  openPayment(o: OpenPayment): Promise<Opened | null>;
  /**
   * A round's writes together (src/store/portBatch.ts, docs/architecture.md "Ports"): all of
   * them, or none when one's check fails (the key's fence, the payment's version, the attempt
   * still open, a unique key). True when written. PostgreSQL and PGlite send one statement;
   * {@link writeBatchInSteps} is the same as a transaction of the single operations.
   */
  writeBatch(writes: readonly BatchWrite[]): Promise<boolean>;
}

/** What {@link Store.openPayment} writes. */
export interface OpenPayment {
  /** The key that owns the payment: its fence, and its lease renewed to `now + leaseMs`. */
  key: { merchantId: string; key: string; fence: number; now: number; leaseMs: number };
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
   * created): the next round can then be written as one batch (src/store/portBatch.ts).
   */
  attempts?: AttemptRow[];
}

/** {@link Store.openPayment} as one transaction of the single operations, in the order the one statement writes. */
export async function openPaymentInSteps(store: Pick<Store, 'transaction'>, o: OpenPayment): Promise<Opened | null> {
  return store.transaction(async (tx) => {
    const { merchantId, key, fence, now, leaseMs } = o.key;
    if (!(await tx.guardKey(merchantId, key, fence, now, leaseMs))) return null;
    const payment = await tx.insertPayment(o.payment);
    const attempt = await tx.insertAttempt(o.attempt, o.runAfter);
    for (const e of o.events) await tx.insertEvent(e);
    // The guard above holds the key's row until commit: the bind cannot miss it.
    if (!(await tx.bindKeyResource(merchantId, key, fence, payment.id))) throw new Error(`key ${key} lost its fence inside a transaction`);
    return { payment, attempt, attempts: [attempt] };
  });
}


export interface DueWork {
  id: number;
  payment_id: string;
  merchant_id: string;
  idempotency_key: string | null;
  tries: number;
  fence: number;
}

/** The operations of each aggregate, for the stores and wrappers that forward each one. */
export const keyOpNames = [
  'claimKey', 'readKey', 'renewKey', 'guardKey', 'bindKeyResource', 'completeKey', 'forgetKey', 'endKeyLease', 'sweepKeys',
] as const satisfies ReadonlyArray<keyof KeyStore>;
export const merchantOpNames = ['insertMerchant', 'merchantForKeyHash', 'countMerchants', 'merchantExists', 'listMerchants', 'listApiKeys', 'insertApiKey', 'revokeApiKeys'] as const satisfies ReadonlyArray<keyof MerchantStore>;
export const paymentOpNames = [
  'insertPayment', 'findPayment', 'updatePayment', 'insertAttempt', 'findOpenAttempt', 'lastAttemptNo', 'countAttempts', 'listAttempts',
  'recordAttempt', 'loadView', 'listViews',
] as const satisfies ReadonlyArray<keyof PaymentStore>;
export const ledgerOpNames = ['postEntry', 'listEntries', 'summarizeBooks'] as const satisfies ReadonlyArray<keyof LedgerStore>;
export const outboxOpNames = ['claimDueWork', 'rescheduleWork', 'guardWork'] as const satisfies ReadonlyArray<keyof OutboxStore>;
export const eventOpNames = [
  'insertEvent', 'insertSystemEvent', 'reportGatewayHealth', 'listEvents', 'positionEvents', 'listFeed', 'eventActivity', 'findEvent', 'claimPublisher', 'advancePublisher',
] as const satisfies ReadonlyArray<keyof EventStore>;
export const webhookOpNames = [
  'insertEndpoint', 'listEndpoints', 'findEndpoint', 'setEndpointStatus', 'rotateEndpointSecret', 'deleteEndpoint',
  'claimDeliveries', 'releaseDeliveries', 'finishDelivery', 'succeedDeliveries', 'noteEndpointResult', 'replayDeliveries', 'listDeliveries',
] as const satisfies ReadonlyArray<keyof WebhookStore>;

export const reconciliationOpNames = [
  'claimReconcileWindow', 'renewReconcileWindow', 'closeReconcileWindow', 'listReconcileCursors', 'stageRecords', 'unsettledRecords', 'listStagedRecords',
  'settleRecord', 'reconciliationFacts', 'unseenSucceededAttempts', 'insertRemediation', 'findRemediations', 'listRemediations',
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
