import type { GatewayOperation } from '../../gateways/port.js';
import { attemptOrder, changedPayment, newPaymentRow, recordedAttempt, StaleWriteError, toView, type AttemptRow, type PaymentRow } from '../../payments/rows.js';
import type { PaymentView } from '../../payments/view.js';
import type { AttemptResult, NewAttempt, NewPayment, PaymentChanges } from '../../payments/rows.js';
import type { PaymentStore } from '../../payments/store.js';
import { MemoryConstraintError, check, cmp, foreign, int8, jsonb, ms, notNull, unique } from './engine.js';
import type { AttemptRecord, MemoryState } from './state.js';

const attemptStatuses = ['pending', 'succeeded', 'declined', 'not_processed', 'unknown'];
const operations = ['authorize', 'capture', 'void', 'refund'];

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
 * Payments, attempts with their outbox rows, events and views on the in-memory tables. Methods are
 * `async` only to fit the port: each runs to the end without yielding, so under the store's mutex
 * nothing interleaves with it.
 */
export class MemoryPayments implements PaymentStore {
  constructor(private readonly s: MemoryState) {}

  async insertPayment(p: NewPayment): Promise<PaymentRow> {
    const row: PaymentRow = { ...newPaymentRow(p), metadata: jsonb(p.metadata) };
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
    const row = changedPayment(p, changes, now);
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

  async listAttempts(paymentId: string): Promise<AttemptRow[]> {
    return structuredClone(this.byCreation(this.attemptsOf(paymentId)));
  }

  async countAttempts(paymentId: string, operation: GatewayOperation, gateway: string): Promise<number> {
    return this.attemptsOf(paymentId).filter((a) => a.operation === operation && a.gateway === gateway).length;
  }

  async recordAttempt(attempt: AttemptRow, result: AttemptResult, now: Date): Promise<void> {
    const a = this.s.attempts.get(attempt.id);
    if (!a || (a.status !== 'pending' && a.status !== 'unknown')) throw new StaleWriteError(`attempt ${attempt.id} was already recorded`);
    check(attemptStatuses.includes(result.status), 'payment_attempts_status_check');
    const final = result.status !== 'unknown';
    this.s.attempts.set(a.id, recordedAttempt(a, result, now));
    for (const o of this.s.outbox.values()) {
      if (o.attempt_id !== a.id || o.state !== 'pending') continue;
      this.s.outbox.set(o.id, final ? { ...o, state: 'done', done_at: ms(now) } : { ...o, tries: o.tries + 1, run_after: ms(now) });
    }
  }

  private byCreation(attempts: AttemptRecord[]): AttemptRecord[] {
    return attempts.sort(attemptOrder);
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
}
