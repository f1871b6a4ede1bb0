import type { EventStore } from '../events/store.js';
import type { LedgerStore } from '../ledger/store.js';
import type { AttemptRow, PaymentRow } from '../payments/rows.js';
import type { PaymentStore } from '../payments/store.js';
import type { CaseRow, CaseStatus, NewCase, NewRemediation, RemediationRow } from './cases.js';
import type { ModelCounts } from './match/model.js';
import type { GatewayRecord, MatchEvidence } from './records.js';

/*
 * Reconciliation's storage port (docs/architecture.md, "Ports"), beside its rows. Composed into
 * `Store` (src/store/port.ts); adapters in src/store/sql/reconciliation.ts and
 * src/store/memory/reconciliation.ts.
 */

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
/** A verdict that settles its record and writes nothing else (see `settleRecords`). */
export interface RecordVerdict {
  recordId: string;
  verdict: string;
  detail: string | null;
  match: SettledMatch | null;
}

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
   * Settles many of a gateway's records in one write, each once: those already settled are left
   * as they were. Returns the ids it settled. For verdicts that write nothing but themselves.
   */
  settleRecords(gateway: string, verdicts: readonly RecordVerdict[], now: number): Promise<string[]>;
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
 * What reconciliation's transactions write beside its own rows: Idem's payments it adopts a
 * gateway's state into, their journal and the events that tell of it (docs/reconciliation.md).
 */
export type ReconcileOps = ReconciliationStore &
  PaymentStore &
  Pick<LedgerStore, 'postEntry'> &
  Pick<EventStore, 'insertEvent' | 'insertSystemEvent'>;
