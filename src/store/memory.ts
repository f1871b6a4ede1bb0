import { AsyncLocalStorage } from 'node:async_hooks';
import type { GatewayOperation } from '../gateways/port.js';
import { toKeyRow, type ClaimResult, type KeyRequest, type KeyRow, type RawRow, type StoredResponse } from '../idempotency/store.js';
import { eventName, postingsFor, type Account, type JournalEntry, type LedgerEvent } from '../ledger/ledger.js';
import { StaleWriteError, toView, type AttemptRow, type PaymentRow } from '../payments/repo.js';
import type { PaymentEventView, PaymentView } from '../payments/view.js';
import { storeOpNames as opNames, type AttemptResult, type DueWork, type NewAttempt, type NewPayment, type PaymentChanges, type Store, type StoreOps } from './port.js';

/**
 * A constraint PostgreSQL would have enforced, refused the same way: `code` is PostgreSQL's
 * SQLSTATE (23505 unique, 23514 check, 23503 foreign key, 23502 not null, 22P02 bad integer,
 * 25P02 statement in an aborted transaction) and `constraint` names what was broken.
 */
export class MemoryConstraintError extends Error {
  override readonly name = 'MemoryConstraintError';
  constructor(
    readonly code: string,
    readonly constraint: string,
    message: string,
  ) {
    super(message);
  }
}

/** A stored key: the row every store maps with `toKeyRow`, its times as epoch milliseconds. */
interface KeyRecord extends Omit<RawRow, 'lease_until' | 'expires_at'> {
  lease_until: number | null;
  expires_at: number | null;
  created_at: number;
  completed_at: number | null;
}

interface MerchantRecord {
  id: string;
  name: string;
}

interface ApiKeyRecord {
  key_hash: string;
  merchant_id: string;
  prefix: string;
  revoked_at: Date | null;
}

/** `SELECT * FROM payment_attempts` also returns `error`. */
type AttemptRecord = AttemptRow & { error: string | null };

interface OutboxRecord {
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

interface EventRecord {
  id: number;
  payment_id: string;
  type: string;
  data: Record<string, unknown>;
  created_at: number;
}

interface EntryRecord {
  id: number;
  payment_id: string;
  event: string;
  currency: string;
  created_at: number;
  postings: Array<{ account: Account; amount: number }>;
}

const GONE = Symbol('gone');

/**
 * One table: committed rows plus, while a transaction runs, its staged writes over them.
 * Rows are never mutated in place (every write stores a new object), so a rollback is
 * dropping the staged map.
 */
class Table<K, V> {
  private readonly rows = new Map<K, V>();
  private staged: Map<K, V | typeof GONE> | null = null;

  begin(): void {
    this.staged = new Map();
  }
  commit(): void {
    if (this.staged) {
      for (const [k, v] of this.staged) {
        if (v === GONE) this.rows.delete(k);
        else this.rows.set(k, v);
      }
    }
    this.staged = null;
  }
  rollback(): void {
    this.staged = null;
  }
  get(k: K): V | undefined {
    if (this.staged?.has(k)) {
      const v = this.staged.get(k)!;
      return v === GONE ? undefined : v;
    }
    return this.rows.get(k);
  }
  has(k: K): boolean {
    return this.get(k) !== undefined;
  }
  set(k: K, v: V): void {
    (this.staged ?? this.rows).set(k, v);
  }
  delete(k: K): void {
    if (this.staged) this.staged.set(k, GONE);
    else this.rows.delete(k);
  }
  values(): V[] {
    const out: V[] = [];
    for (const [k, v] of this.rows) if (!this.staged?.has(k)) out.push(v);
    if (this.staged) for (const v of this.staged.values()) if (v !== GONE) out.push(v);
    return out;
  }
  get size(): number {
    return this.values().length;
  }
}

/** A FIFO async mutex: waiters run in arrival order, no timers. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  /** Holders and waiters. */
  users = 0;

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.users++;
    await before;
    try {
      return await fn();
    } finally {
      this.users--;
      release();
    }
  }
}

const keyId = (merchantId: string, key: string) => `${merchantId}\u0000${key}`;
const ms = (d: Date) => d.getTime();
const date = (n: number) => new Date(n);
const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

/** What `jsonb` gives back: JSON round trip, keys deduplicated and ordered by length, then bytes. */
function jsonb<T>(value: T): T {
  const order = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(order);
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v).sort((a, b) => a.length - b.length || Buffer.compare(Buffer.from(a), Buffer.from(b)));
      return Object.fromEntries(keys.map((k) => [k, order((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return order(JSON.parse(JSON.stringify(value))) as T;
}

function int8(column: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new MemoryConstraintError('22P02', column, `invalid input syntax for type bigint: "${String(v)}" (${column})`);
  }
}

function notNull(column: string, v: unknown): void {
  if (v === null || v === undefined) throw new MemoryConstraintError('23502', column, `null value in column "${column}" violates not-null constraint`);
}

function check(ok: boolean, constraint: string): void {
  if (!ok) throw new MemoryConstraintError('23514', constraint, `new row violates check constraint "${constraint}"`);
}

function unique(taken: boolean, constraint: string, detail: string): void {
  if (taken) throw new MemoryConstraintError('23505', constraint, `duplicate key value violates unique constraint "${constraint}" (${detail})`);
}

function foreign(found: boolean, constraint: string, detail: string): void {
  if (!found) throw new MemoryConstraintError('23503', constraint, `insert violates foreign key constraint "${constraint}" (${detail})`);
}

const attemptStatuses = ['pending', 'succeeded', 'declined', 'not_processed', 'unknown'];
const operations = ['authorize', 'capture', 'void', 'refund'];

/** The tables and sequences; every operation works on them synchronously, under the store's mutex. */
class MemoryState {
  readonly merchants = new Table<string, MerchantRecord>();
  readonly apiKeys = new Table<string, ApiKeyRecord>();
  readonly keys = new Table<string, KeyRecord>();
  readonly payments = new Table<string, PaymentRow>();
  readonly attempts = new Table<string, AttemptRecord>();
  readonly outbox = new Table<number, OutboxRecord>();
  readonly events = new Table<number, EventRecord>();
  readonly entries = new Table<number, EntryRecord>();
  private readonly tables = [this.merchants, this.apiKeys, this.keys, this.payments, this.attempts, this.outbox, this.events, this.entries];

  // Sequences, like PostgreSQL's: never rolled back.
  private fenceSeq = 0;
  private outboxSeq = 0;
  private eventSeq = 0;
  private entrySeq = 0;
  nextFence = () => ++this.fenceSeq;
  nextOutboxId = () => ++this.outboxSeq;
  nextEventId = () => ++this.eventSeq;
  nextEntryId = () => ++this.entrySeq;

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

function checkKey(r: KeyRecord): void {
  check((r.state === 'completed') === (r.response_status !== null && r.response_body !== null && r.expires_at !== null), 'idempotency_keys_check');
  int8('fence', r.fence);
}

function checkPayment(p: PaymentRow): void {
  for (const c of ['id', 'merchant_id', 'currency', 'capture_method', 'status', 'token', 'idempotency_key', 'created_at', 'updated_at', 'metadata'] as const) {
    notNull(c, p[c]);
  }
  for (const c of ['amount', 'amount_authorized', 'amount_captured', 'amount_refunded', 'amount_voided'] as const) int8(c, p[c]);
  if (p.amount_requested !== null) int8('amount_requested', p.amount_requested);
  check(p.amount > 0, 'payments_amount_check');
  check(p.capture_method === 'automatic' || p.capture_method === 'manual', 'payments_capture_method_check');
  check(p.amount_captured <= p.amount_authorized, 'payments_check');
  check(p.amount_refunded <= p.amount_captured, 'payments_check1');
}

/**
 * The operations on the state. Methods are `async` only to fit the port: each runs to the end
 * without yielding, so under the mutex nothing interleaves with it.
 */
class MemoryOps implements StoreOps {
  constructor(private readonly s: MemoryState) {}

  // ——— idempotency keys ———

  async claimKey(req: KeyRequest, now: number, leaseMs: number): Promise<ClaimResult> {
    foreign(this.s.merchants.has(req.merchantId), 'idempotency_keys_merchant_id_fkey', `merchant ${req.merchantId}`);
    // nextval() is evaluated for the proposed row even when the conflict then takes nothing.
    const fence = this.s.nextFence();
    const id = keyId(req.merchantId, req.key);
    const k = this.s.keys.get(id);
    if (!k) {
      const row: KeyRecord = {
        merchant_id: req.merchantId,
        key: req.key,
        fingerprint: req.fingerprint,
        method: req.method,
        path: req.path,
        operation: req.operation ?? null,
        state: 'in_progress',
        fence,
        lease_until: now + leaseMs,
        resource_id: null,
        response_status: null,
        response_type: null,
        response_body: null,
        created_at: now,
        completed_at: null,
        expires_at: null,
      };
      for (const c of ['fingerprint', 'method', 'path', 'key'] as const) notNull(c, row[c]);
      this.s.keys.set(id, row);
      return { kind: 'owned', fence, resourceId: null, takenOver: false };
    }
    const takeOver =
      (k.state === 'in_progress' && k.lease_until !== null && k.lease_until <= now && k.fingerprint === req.fingerprint) ||
      (k.state === 'completed' && k.expires_at !== null && k.expires_at <= now);
    if (!takeOver) return { kind: 'existing', row: toKeyRow(k) };
    const completed = k.state === 'completed';
    const row: KeyRecord = {
      ...k,
      fence,
      lease_until: now + leaseMs,
      resource_id: completed ? null : k.resource_id,
      created_at: completed ? now : k.created_at,
      state: 'in_progress',
      fingerprint: req.fingerprint,
      method: req.method,
      path: req.path,
      operation: req.operation ?? null,
      response_status: null,
      response_type: null,
      response_body: null,
      completed_at: null,
      expires_at: null,
    };
    this.s.keys.set(id, row);
    return { kind: 'owned', fence, resourceId: row.resource_id, takenOver: row.resource_id !== null };
  }

  async readKey(merchantId: string, key: string): Promise<KeyRow | null> {
    const k = this.s.keys.get(keyId(merchantId, key));
    return k ? toKeyRow(k) : null;
  }

  /** The in-progress key held by `fence`, or undefined. */
  private held(merchantId: string, key: string, fence: number): KeyRecord | undefined {
    const k = this.s.keys.get(keyId(merchantId, key));
    return k && k.fence === fence && k.state === 'in_progress' ? k : undefined;
  }

  private updateHeld(merchantId: string, key: string, fence: number, changes: Partial<KeyRecord>): boolean {
    const k = this.held(merchantId, key, fence);
    if (!k) return false;
    const row = { ...k, ...changes };
    checkKey(row);
    this.s.keys.set(keyId(merchantId, key), row);
    return true;
  }

  async renewKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean> {
    return this.updateHeld(merchantId, key, fence, { lease_until: now + leaseMs });
  }

  async guardKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean> {
    return this.updateHeld(merchantId, key, fence, { lease_until: now + leaseMs });
  }

  async bindKeyResource(merchantId: string, key: string, fence: number, resourceId: string): Promise<boolean> {
    return this.updateHeld(merchantId, key, fence, { resource_id: resourceId });
  }

  async completeKey(merchantId: string, key: string, fence: number, response: StoredResponse, now: number, ttlMs: number): Promise<boolean> {
    return this.updateHeld(merchantId, key, fence, {
      state: 'completed',
      response_status: response.status,
      response_type: response.contentType,
      response_body: response.body,
      completed_at: now,
      expires_at: now + ttlMs,
      lease_until: null,
    });
  }

  async forgetKey(merchantId: string, key: string, fence: number): Promise<boolean> {
    const k = this.held(merchantId, key, fence);
    if (!k || k.resource_id !== null) return false;
    this.s.keys.delete(keyId(merchantId, key));
    return true;
  }

  async endKeyLease(merchantId: string, key: string, fence: number, now: number): Promise<void> {
    this.updateHeld(merchantId, key, fence, { lease_until: now });
  }

  async sweepKeys(now: number, limit: number): Promise<number> {
    const expired = this.s.keys
      .values()
      .filter((k) => k.state === 'completed' && k.expires_at !== null && k.expires_at <= now)
      .sort((a, b) => a.expires_at! - b.expires_at! || cmp(a.merchant_id, b.merchant_id) || cmp(a.key, b.key))
      .slice(0, Math.max(0, limit));
    for (const k of expired) this.s.keys.delete(keyId(k.merchant_id, k.key));
    return expired.length;
  }

  // ——— merchants ———

  async insertMerchant(m: { id: string; name: string; keyHash: string; keyPrefix: string }): Promise<void> {
    notNull('name', m.name);
    notNull('prefix', m.keyPrefix);
    unique(this.s.merchants.has(m.id), 'merchants_pkey', `id ${m.id}`);
    unique(this.s.apiKeys.has(m.keyHash), 'api_keys_pkey', 'key_hash');
    this.s.merchants.set(m.id, { id: m.id, name: m.name });
    this.s.apiKeys.set(m.keyHash, { key_hash: m.keyHash, merchant_id: m.id, prefix: m.keyPrefix, revoked_at: null });
  }

  async merchantForKeyHash(keyHash: string): Promise<string | null> {
    const k = this.s.apiKeys.get(keyHash);
    return k && k.revoked_at === null ? k.merchant_id : null;
  }

  async countMerchants(): Promise<number> {
    return this.s.merchants.size;
  }

  // ——— payments, attempts, outbox, events ———

  async insertPayment(p: NewPayment): Promise<PaymentRow> {
    const row: PaymentRow = {
      id: p.id,
      merchant_id: p.merchant_id,
      amount: p.amount,
      currency: p.currency,
      capture_method: p.capture_method,
      status: p.status,
      token: p.token,
      reference: p.reference ?? null,
      metadata: jsonb(p.metadata),
      preferred_gateway: p.preferred_gateway ?? null,
      gateway: p.gateway ?? null,
      authorization_id: null,
      amount_authorized: 0,
      amount_captured: 0,
      amount_refunded: 0,
      amount_voided: 0,
      decline_code: null,
      idempotency_key: p.idempotency_key,
      version: 0,
      created_at: new Date(p.created_at),
      updated_at: new Date(p.updated_at),
      amount_requested: null,
    };
    checkPayment(row);
    unique(this.s.payments.has(row.id), 'payments_pkey', `id ${row.id}`);
    foreign(this.s.merchants.has(row.merchant_id), 'payments_merchant_id_fkey', `merchant ${row.merchant_id}`);
    this.s.payments.set(row.id, row);
    return structuredClone(row);
  }

  async findPayment(merchantId: string, id: string): Promise<PaymentRow | null> {
    const p = this.s.payments.get(id);
    return p && p.merchant_id === merchantId ? structuredClone(p) : null;
  }

  async updatePayment(current: PaymentRow, changes: PaymentChanges, now: Date): Promise<PaymentRow> {
    const p = this.s.payments.get(current.id);
    if (!p || p.version !== current.version) {
      throw new StaleWriteError(`payment ${current.id} changed under us (expected version ${current.version})`);
    }
    const row: PaymentRow = { ...p };
    // As in SQL, a change listed with `undefined` writes NULL.
    for (const c of Object.keys(changes) as Array<keyof PaymentChanges>) (row as unknown as Record<string, unknown>)[c] = changes[c] ?? null;
    row.version = p.version + 1;
    row.updated_at = new Date(now);
    checkPayment(row);
    this.s.payments.set(row.id, row);
    return structuredClone(row);
  }

  async insertAttempt(a: NewAttempt, runAfter: Date): Promise<AttemptRow> {
    const row: AttemptRecord = {
      id: a.id,
      payment_id: a.payment_id,
      operation: a.operation,
      attempt_no: a.attempt_no,
      gateway: a.gateway,
      gateway_key: a.gateway_key,
      amount: a.amount,
      status: 'pending',
      gateway_reference: null,
      decline_code: null,
      error: null,
      created_at: new Date(a.created_at),
      completed_at: null,
      idempotency_key: a.idempotency_key ?? null,
    };
    for (const c of ['id', 'payment_id', 'gateway', 'gateway_key', 'created_at'] as const) notNull(c, row[c]);
    int8('amount', row.amount);
    int8('attempt_no', row.attempt_no);
    notNull('run_after', runAfter);
    check(operations.includes(row.operation), 'payment_attempts_operation_check');
    const all = this.s.attempts.values();
    unique(this.s.attempts.has(row.id), 'payment_attempts_pkey', `id ${row.id}`);
    unique(
      all.some((x) => x.gateway_key === row.gateway_key),
      'payment_attempts_gateway_key_key',
      `gateway_key ${row.gateway_key}`,
    );
    unique(
      all.some((x) => x.payment_id === row.payment_id && x.operation === row.operation && x.attempt_no === row.attempt_no),
      'payment_attempts_payment_id_operation_attempt_no_key',
      `${row.payment_id}, ${row.operation}, ${row.attempt_no}`,
    );
    foreign(this.s.payments.has(row.payment_id), 'payment_attempts_payment_id_fkey', `payment ${row.payment_id}`);
    this.s.attempts.set(row.id, row);
    const id = this.s.nextOutboxId();
    this.s.outbox.set(id, {
      id,
      payment_id: row.payment_id,
      attempt_id: row.id,
      kind: 'gateway_call',
      state: 'pending',
      run_after: ms(runAfter),
      lease_until: null,
      fence: 0,
      tries: 0,
      created_at: ms(row.created_at),
      done_at: null,
    });
    return structuredClone(row);
  }

  private attemptsOf(paymentId: string): AttemptRecord[] {
    return this.s.attempts.values().filter((a) => a.payment_id === paymentId);
  }

  async findOpenAttempt(paymentId: string): Promise<AttemptRow | null> {
    const open = this.attemptsOf(paymentId)
      .filter((a) => a.status === 'pending' || a.status === 'unknown')
      .sort((a, b) => ms(b.created_at) - ms(a.created_at) || b.attempt_no - a.attempt_no || cmp(b.id, a.id));
    return open[0] ? structuredClone(open[0]) : null;
  }

  async lastAttemptNo(paymentId: string, operation: GatewayOperation): Promise<number> {
    return this.attemptsOf(paymentId)
      .filter((a) => a.operation === operation)
      .reduce((n, a) => Math.max(n, a.attempt_no), 0);
  }

  async countAttempts(paymentId: string, operation: GatewayOperation, gateway: string): Promise<number> {
    return this.attemptsOf(paymentId).filter((a) => a.operation === operation && a.gateway === gateway).length;
  }

  async recordAttempt(attempt: AttemptRow, result: AttemptResult, now: Date): Promise<void> {
    const a = this.s.attempts.get(attempt.id);
    if (!a || (a.status !== 'pending' && a.status !== 'unknown')) throw new StaleWriteError(`attempt ${attempt.id} was already recorded`);
    check(attemptStatuses.includes(result.status), 'payment_attempts_status_check');
    const final = result.status !== 'unknown';
    this.s.attempts.set(a.id, {
      ...a,
      status: result.status,
      gateway_reference: result.gatewayReference ?? null,
      decline_code: result.declineCode ?? null,
      error: result.error ?? null,
      completed_at: final ? new Date(now) : null,
    });
    for (const o of this.s.outbox.values()) {
      if (o.attempt_id !== a.id || o.state !== 'pending') continue;
      this.s.outbox.set(o.id, final ? { ...o, state: 'done', done_at: ms(now) } : { ...o, tries: o.tries + 1, run_after: ms(now) });
    }
  }

  async insertEvent(paymentId: string, type: string, data: Record<string, unknown>, now: Date): Promise<void> {
    notNull('type', type);
    foreign(this.s.payments.has(paymentId), 'payment_events_payment_id_fkey', `payment ${paymentId}`);
    const id = this.s.nextEventId();
    this.s.events.set(id, { id, payment_id: paymentId, type, data: jsonb(data), created_at: ms(now) });
  }

  private byCreation(attempts: AttemptRecord[]): AttemptRecord[] {
    return attempts.sort((a, b) => ms(a.created_at) - ms(b.created_at) || cmp(a.operation, b.operation) || a.attempt_no - b.attempt_no);
  }

  async loadView(merchantId: string, id: string): Promise<PaymentView | null> {
    const p = this.s.payments.get(id);
    if (!p || p.merchant_id !== merchantId) return null;
    return structuredClone(toView(p, this.byCreation(this.attemptsOf(id))));
  }

  async listViews(merchantId: string, limit: number, after: { createdAt: string; id: string } | null): Promise<PaymentView[]> {
    const cursor = after ? { at: new Date(after.createdAt).getTime(), id: after.id } : null;
    if (cursor && Number.isNaN(cursor.at)) throw new MemoryConstraintError('22007', 'created_at', `invalid input syntax for type timestamp with time zone: "${after!.createdAt}"`);
    const page = this.s.payments
      .values()
      .filter((p) => p.merchant_id === merchantId)
      .filter((p) => !cursor || ms(p.created_at) < cursor.at || (ms(p.created_at) === cursor.at && p.id < cursor.id))
      .sort((a, b) => ms(b.created_at) - ms(a.created_at) || cmp(b.id, a.id))
      .slice(0, Math.max(0, limit));
    return page.map((p) => structuredClone(toView(p, this.byCreation(this.attemptsOf(p.id)))));
  }

  async listEvents(paymentId: string): Promise<PaymentEventView[]> {
    return this.s.events
      .values()
      .filter((e) => e.payment_id === paymentId)
      .sort((a, b) => a.id - b.id)
      .map((e) => ({ id: e.id, type: e.type, data: structuredClone(e.data), created_at: date(e.created_at).toISOString() }));
  }

  // ——— ledger ———

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

  // ——— outbox relay ———

  async claimDueWork(now: number, limit: number, leaseMs: number): Promise<DueWork[]> {
    const due = this.s.outbox
      .values()
      .filter((o) => o.state === 'pending' && o.run_after <= now && (o.lease_until === null || o.lease_until <= now))
      .sort((a, b) => a.run_after - b.run_after || a.id - b.id)
      .slice(0, Math.max(0, limit));
    return due.map((o) => {
      const leased: OutboxRecord = { ...o, lease_until: now + leaseMs, fence: this.s.nextFence(), tries: o.tries + 1 };
      this.s.outbox.set(o.id, leased);
      const attempt = this.s.attempts.get(o.attempt_id)!;
      const payment = this.s.payments.get(o.payment_id)!;
      // `tries` as it was before this claim, as the relay's SELECT-then-UPDATE reads it.
      return { id: o.id, payment_id: o.payment_id, merchant_id: payment.merchant_id, idempotency_key: attempt.idempotency_key, tries: o.tries, fence: leased.fence };
    });
  }

  async rescheduleWork(id: number, fence: number, runAfter: number): Promise<void> {
    const o = this.s.outbox.get(id);
    if (!o || o.fence !== fence || o.state !== 'pending') return;
    this.s.outbox.set(id, { ...o, run_after: runAfter, lease_until: null });
  }

  async guardWork(id: number, fence: number, leaseUntil: number): Promise<boolean> {
    const o = this.s.outbox.get(id);
    if (!o || o.fence !== fence) return false;
    this.s.outbox.set(id, { ...o, lease_until: leaseUntil });
    return true;
  }
}

/** One open transaction: its handle stops working when it ends; a failed statement aborts it. */
interface TxState {
  open: boolean;
  aborted: unknown;
}

/**
 * The storage port in memory, for the deterministic simulator and fast tests. No clock, no
 * randomness, no timers: ids and fences come from counters. One transaction at a time: a FIFO
 * mutex is taken by `transaction()` and by every operation outside one, so nothing observes
 * uncommitted writes, `FOR UPDATE` and `SKIP LOCKED` hold trivially, and a transaction's writes
 * are staged and applied only when `fn` resolves.
 *
 * Rows are copied in and out: callers never share an object with the store. Constraints the
 * schema declares (unique keys, checks, foreign keys, integer columns) throw a
 * `MemoryConstraintError` carrying PostgreSQL's SQLSTATE. As in PostgreSQL, a statement that
 * fails inside a transaction aborts it: later statements throw (25P02) and nothing commits.
 *
 * Calling the store itself (not the `tx` handle) from inside its own transaction would wait
 * for the transaction forever; it throws instead. That check follows the async context
 * (`AsyncLocalStorage`), whose promise hooks took four fifths of the simulator's time on
 * Node 20; the simulator turns it off (`{ detectReentry: false }`), where a self-wait shows as a
 * payment that never ends (I3).
 *
 * @example
 *   const store = new MemoryStore();
 *   await store.transaction(async (tx) => {
 *     const p = await tx.insertPayment(payment);
 *     await tx.insertAttempt(attempt, p.created_at);
 *   });
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly state = new MemoryState();
  private readonly ops = new MemoryOps(this.state);
  private readonly mutex = new Mutex();
  private readonly inside: AsyncLocalStorage<TxState> | null;

  constructor(options: { detectReentry?: boolean } = {}) {
    this.inside = options.detectReentry === false ? null : new AsyncLocalStorage<TxState>();
  }

  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    this.refuseReentry('transaction');
    return this.mutex.run(async () => {
      const txState: TxState = { open: true, aborted: undefined };
      this.state.begin();
      try {
        const tx = this.handle(txState);
        const result = await (this.inside ? this.inside.run(txState, () => fn(tx)) : fn(tx));
        if (txState.aborted !== undefined) throw txState.aborted;
        this.state.commit();
        return result;
      } catch (err) {
        this.state.rollback();
        throw err;
      } finally {
        txState.open = false;
      }
    });
  }

  /** True while a transaction or an operation holds the store or waits for it. */
  get busy(): boolean {
    return this.mutex.users > 0;
  }

  /**
   * Test only (the simulator's planted bug `early-response`): commits the open transaction's
   * writes to idempotency keys now, ahead of the rest of the transaction.
   */
  commitKeysNow(): void {
    this.state.keys.commit();
    this.state.keys.begin();
  }

  private refuseReentry(op: string): void {
    if (this.inside?.getStore()?.open) {
      throw new Error(`MemoryStore.${op} called inside a transaction of the same store: use the transaction's handle (it would wait for itself)`);
    }
  }

  private handle(tx: TxState): StoreOps {
    const handle = {} as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const name of opNames) {
      const op = (this.ops[name] as (...args: unknown[]) => Promise<unknown>).bind(this.ops);
      handle[name] = async (...args: unknown[]) => {
        if (!tx.open) throw new Error(`MemoryStore: ${name} on a transaction that has ended`);
        if (tx.aborted !== undefined) {
          throw new MemoryConstraintError('25P02', 'transaction', 'current transaction is aborted, commands ignored until end of transaction block');
        }
        try {
          return await op(...args);
        } catch (err) {
          tx.aborted = err;
          throw err;
        }
      };
    }
    return handle as unknown as StoreOps;
  }

  /** One operation outside a transaction: atomic on its own. */
  private atomic<K extends (typeof opNames)[number]>(name: K, args: Parameters<StoreOps[K]>): ReturnType<StoreOps[K]> {
    this.refuseReentry(name);
    const op = (this.ops[name] as (...a: unknown[]) => Promise<unknown>).bind(this.ops);
    return this.mutex.run(async () => {
      this.state.begin();
      try {
        const result = await op(...args);
        this.state.commit();
        return result;
      } catch (err) {
        this.state.rollback();
        throw err;
      }
    }) as ReturnType<StoreOps[K]>;
  }

  claimKey(...a: Parameters<StoreOps['claimKey']>) { return this.atomic('claimKey', a); }
  readKey(...a: Parameters<StoreOps['readKey']>) { return this.atomic('readKey', a); }
  renewKey(...a: Parameters<StoreOps['renewKey']>) { return this.atomic('renewKey', a); }
  guardKey(...a: Parameters<StoreOps['guardKey']>) { return this.atomic('guardKey', a); }
  bindKeyResource(...a: Parameters<StoreOps['bindKeyResource']>) { return this.atomic('bindKeyResource', a); }
  completeKey(...a: Parameters<StoreOps['completeKey']>) { return this.atomic('completeKey', a); }
  forgetKey(...a: Parameters<StoreOps['forgetKey']>) { return this.atomic('forgetKey', a); }
  endKeyLease(...a: Parameters<StoreOps['endKeyLease']>) { return this.atomic('endKeyLease', a); }
  sweepKeys(...a: Parameters<StoreOps['sweepKeys']>) { return this.atomic('sweepKeys', a); }
  insertMerchant(...a: Parameters<StoreOps['insertMerchant']>) { return this.atomic('insertMerchant', a); }
  merchantForKeyHash(...a: Parameters<StoreOps['merchantForKeyHash']>) { return this.atomic('merchantForKeyHash', a); }
  countMerchants(...a: Parameters<StoreOps['countMerchants']>) { return this.atomic('countMerchants', a); }
  insertPayment(...a: Parameters<StoreOps['insertPayment']>) { return this.atomic('insertPayment', a); }
  findPayment(...a: Parameters<StoreOps['findPayment']>) { return this.atomic('findPayment', a); }
  updatePayment(...a: Parameters<StoreOps['updatePayment']>) { return this.atomic('updatePayment', a); }
  insertAttempt(...a: Parameters<StoreOps['insertAttempt']>) { return this.atomic('insertAttempt', a); }
  findOpenAttempt(...a: Parameters<StoreOps['findOpenAttempt']>) { return this.atomic('findOpenAttempt', a); }
  lastAttemptNo(...a: Parameters<StoreOps['lastAttemptNo']>) { return this.atomic('lastAttemptNo', a); }
  countAttempts(...a: Parameters<StoreOps['countAttempts']>) { return this.atomic('countAttempts', a); }
  recordAttempt(...a: Parameters<StoreOps['recordAttempt']>) { return this.atomic('recordAttempt', a); }
  insertEvent(...a: Parameters<StoreOps['insertEvent']>) { return this.atomic('insertEvent', a); }
  loadView(...a: Parameters<StoreOps['loadView']>) { return this.atomic('loadView', a); }
  listViews(...a: Parameters<StoreOps['listViews']>) { return this.atomic('listViews', a); }
  listEvents(...a: Parameters<StoreOps['listEvents']>) { return this.atomic('listEvents', a); }
  postEntry(...a: Parameters<StoreOps['postEntry']>) { return this.atomic('postEntry', a); }
  listEntries(...a: Parameters<StoreOps['listEntries']>) { return this.atomic('listEntries', a); }
  claimDueWork(...a: Parameters<StoreOps['claimDueWork']>) { return this.atomic('claimDueWork', a); }
  rescheduleWork(...a: Parameters<StoreOps['rescheduleWork']>) { return this.atomic('rescheduleWork', a); }
  guardWork(...a: Parameters<StoreOps['guardWork']>) { return this.atomic('guardWork', a); }
}
