import type { RawRow } from '../../idempotency/store.js';
import type { Account } from '../../ledger/ledger.js';
import type { TransactionMetadata } from '../../events/metadata.js';
import type { EndpointRow } from '../../events/webhooks.js';
import type { AttemptRow, PaymentRow } from '../../payments/rows.js';
import type { CaseRow, RemediationRow } from '../../reconciliation/cases.js';
import type { StagedRecord, StoredMatchModel } from '../../reconciliation/store.js';
import { Table } from './engine.js';

/** A stored key: the row every store maps with `toKeyRow`, its times as epoch milliseconds. */
export interface KeyRecord extends Omit<RawRow, 'lease_until' | 'expires_at'> {
  lease_until: number | null;
  expires_at: number | null;
  created_at: number;
  completed_at: number | null;
}

export interface MerchantRecord {
  id: string;
  name: string;
}

export interface ApiKeyRecord {
  key_hash: string;
  merchant_id: string;
  prefix: string;
  /** Keys made with their merchant carry the epoch: the memory store has no clock of its own. */
  created_at: Date;
  revoked_at: Date | null;
}

/** `SELECT * FROM payment_attempts` also returns `error`. */
export type AttemptRecord = AttemptRow & { error: string | null };

export interface OutboxRecord {
  id: number;
  payment_id: string;
  attempt_id: string;
  kind: string;
  state: 'pending' | 'done';
  run_after: number;
  lease_until: number | null;
  fence: number;
  tries: number;
  created_at: number;
  done_at: number | null;
}

export interface EventRecord {
  id: number;
  event_id: string;
  merchant_id: string | null;
  payment_id: string | null;
  seq: number | null;
  position: number | null;
  type: string;
  data: Record<string, unknown>;
  metadata: TransactionMetadata;
  created_at: number;
}

export interface DeliveryRecord {
  id: number;
  endpoint_id: string;
  event_id: string;
  position: number;
  payment_id: string | null;
  state: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  next_attempt_at: number;
  lease_until: number | null;
  fence: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  completed_at: number | null;
}

export interface PublisherRecord {
  name: string;
  position: number;
  lease_until: number | null;
  fence: number;
}

export interface EntryRecord {
  id: number;
  payment_id: string;
  event: string;
  currency: string;
  created_at: number;
  postings: Array<{ account: Account; amount: number }>;
}

export interface ReconCursorRecord {
  gateway: string;
  cursor: string | null;
  since_at: number;
  lease_until: number | null;
  fence: number;
  owner: string | null;
  passes: number;
  last_error: string | null;
  updated_at: number;
}

export interface ReconRecord extends StagedRecord {
  raw: unknown;
  fetched_at: number;
  fetched_fence: number;
  settled_at: number | null;
}

export interface RemediationRecord extends RemediationRow {
  run_after: number;
  lease_until: number | null;
}

/** The tables and sequences; every operation works on them synchronously, under the store's mutex. */
export class MemoryState {
  readonly merchants = new Table<string, MerchantRecord>();
  readonly apiKeys = new Table<string, ApiKeyRecord>();
  readonly keys = new Table<string, KeyRecord>();
  readonly payments = new Table<string, PaymentRow>();
  readonly attempts = new Table<string, AttemptRecord>();
  readonly outbox = new Table<number, OutboxRecord>();
  readonly events = new Table<number, EventRecord>();
  readonly entries = new Table<number, EntryRecord>();
  /** event_feed_head: one row, key 1, the last position given. */
  readonly feedHead = new Table<number, number>();
  /** Indexes over `events`: event id → row id (the unique key), payment → its last seq. */
  readonly eventIds = new Table<string, number>();
  readonly lastSeq = new Table<string, number>();
  readonly endpoints = new Table<string, EndpointRow>();
  readonly deliveries = new Table<number, DeliveryRecord>();
  readonly publishers = new Table<string, PublisherRecord>();
  /** gateway_health_reports: "gateway operation" → the state last reported. */
  readonly healthReports = new Table<string, string>();
  readonly reconCursors = new Table<string, ReconCursorRecord>();
  /** By `gateway NUL record id`. */
  readonly reconRecords = new Table<string, ReconRecord>();
  readonly remediations = new Table<number, RemediationRecord>();
  readonly cases = new Table<string, CaseRow>();
  /** reconciliation_models: name → the stored evidence. */
  readonly matchModels = new Table<string, StoredMatchModel>();
  private readonly tables = [
    this.merchants, this.apiKeys, this.keys, this.payments, this.attempts, this.outbox, this.events, this.entries,
    this.feedHead, this.eventIds, this.lastSeq, this.endpoints, this.deliveries, this.publishers, this.healthReports,
    this.reconCursors, this.reconRecords, this.remediations, this.cases, this.matchModels,
  ];

  // Sequences, like PostgreSQL's: never rolled back.
  private fenceSeq = 0;
  private outboxSeq = 0;
  private eventSeq = 0;
  private entrySeq = 0;
  private deliverySeq = 0;
  private remediationSeq = 0;
  nextFence = () => ++this.fenceSeq;
  nextOutboxId = () => ++this.outboxSeq;
  nextEventId = () => ++this.eventSeq;
  nextEntryId = () => ++this.entrySeq;
  nextDeliveryId = () => ++this.deliverySeq;

  /** A pending delivery of one positioned event to one endpoint, due at `now` (ms). */
  addDelivery(endpointId: string, e: { event_id: string; position: number; payment_id: string | null }, now: number): void {
    const id = this.nextDeliveryId();
    this.deliveries.set(id, {
      id,
      endpoint_id: endpointId,
      event_id: e.event_id,
      position: e.position,
      payment_id: e.payment_id,
      state: 'pending',
      attempts: 0,
      next_attempt_at: now,
      lease_until: null,
      fence: 0,
      last_status: null,
      last_error: null,
      created_at: now,
      completed_at: null,
    });
  }
  nextRemediationId = () => ++this.remediationSeq;

  begin(): void {
    for (const t of this.tables) t.begin();
  }
  commit(): void {
    for (const t of this.tables) t.commit();
  }
  rollback(): void {
    for (const t of this.tables) t.rollback();
  }
}
