import type { GatewayOperation, GatewayOutcome } from '../gateways/port.js';
import type { FenceWrite, StoredResponse } from '../idempotency/store.js';
import type { LedgerEvent } from '../ledger/ledger.js';
import type { Random } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import type { RetryPolicy } from '../resilience/policy.js';
import { gatewayKey } from '../gateways/port.js';
import type { NewPaymentEvent } from '../events/model.js';
import { decideNext, isFinal, type DecisionFacts, type Step } from './decide.js';
import type { RequestMetadata } from './requestMetadata.js';
import type { PaymentRenderer, PaymentRequestKind } from './result.js';
import { attemptOrder, changedPayment, newAttemptRow, recordedAttempt, toView, type AttemptResult, type AttemptRow, type NewAttempt, type PaymentChanges, type PaymentRow } from './rows.js';
import { canTransition, type PaymentStatus } from './states.js';
import type { BatchWrite, Opened } from './store.js';
import { attemptEvent, attemptStartedEvent, paymentEvent, paymentSnapshot } from './timeline.js';
import { invalidState } from './validate.js';

/*
 * A round after a gateway answer, planned (docs/architecture.md, "Ports": rounds as data): from the payment
 * and every attempt of it as last committed, the attempt the gateway answered and its
 * answer, the writes that record the answer and the step it leads to — as values. No I/O:
 * the only port is the random source its ids are drawn from, in a fixed order. The service
 * hands the plan to the store as one statement (`PaymentRounds.writeBatch`, over a snapshot
 * the request itself wrote) or writes it inside a transaction that has just read the
 * snapshot under its locks (`applyWrites`, ./batch.ts): the same plan either way.
 */

/** A payment and all of its attempts, as committed. */
export interface Snapshot {
  payment: PaymentRow;
  attempts: AttemptRow[];
}

/** What every plan depends on: the request's metadata, the time, the ids' source, the relay's delay. */
export interface PlanContext {
  meta: RequestMetadata;
  now: Date;
  random: Random;
  /** How long a new attempt's outbox row waits for the relay (the inline call goes first). */
  relayDelayMs: number;
}

/** What a round's plan depends on besides the snapshot, the attempt and the answer. */
export interface RoundContext extends PlanContext {
  /** The request being answered, and its id for the stored response. */
  request: PaymentRequestKind;
  requestId: string | undefined;
  policy: RetryPolicy;
  /** The payment's gateways in the order to try them; asked only after a "not processed" answer. */
  candidates: (preferred: string | null) => readonly string[];
  render: PaymentRenderer;
  /** The claim's completion as a write; null for a claim that stores no response (`Claim.completeWrite`). */
  complete: (response: StoredResponse) => FenceWrite | null;
}

/** A round's writes, in order, and what they lead to. */
export interface RoundPlan {
  writes: BatchWrite[];
  step: Step;
  /** The payment and the attempt the round opened; null when none. */
  next: Opened | null;
  /** The payment and every attempt of it as the writes leave them: the next round's snapshot. */
  after: Snapshot;
  /** The final response stored with the writes; null while the request is not answered. */
  response: StoredResponse | null;
}

/**
 * A plan, or why the snapshot can't have one: the answered attempt is no longer open there
 * (another execution recorded it). Over a snapshot read under the locks that is a stale write;
 * over one the request wrote, a reason to read the rows again.
 */
export type Planned = { kind: 'plan'; plan: RoundPlan } | { kind: 'stale'; reason: string };

/**
 * Plans the round that records `outcome` for `attempt`: the attempt's result and its event,
 * then the decided step (`decideNext`, ./decide.ts) — the ledger entry and state change, or
 * the next attempt with its outbox row — and, when the request is answered for good, its
 * stored response.
 *
 * @example
 *   const planned = planRound(context, { payment, attempts }, attempt, { class: 'unknown', reason: 'timeout' });
 *   // → { kind: 'plan', plan: { writes: [recordAttempt, insertEvent], step: { kind: 'pending' }, next: null, response: null } }
 */
export function planRound(c: RoundContext, snapshot: Snapshot, attempt: AttemptRow, outcome: GatewayOutcome): Planned {
  const known = snapshot.attempts.find((a) => a.id === attempt.id);
  if (!known || (known.status !== 'pending' && known.status !== 'unknown')) return { kind: 'stale', reason: `attempt ${attempt.id} was already recorded` };
  const w = new RoundWriter(snapshot);
  const p = w.payment;
  recordOutcome(c, w, p, attempt, outcome);
  const facts: DecisionFacts = outcome.class === 'not_processed' ? { triesHere: w.countAttempts(attempt.operation, attempt.gateway), candidates: c.candidates(p.preferred_gateway) } : { triesHere: 1, candidates: [] };
  const step = decideNext(p, attempt, outcome, facts, c.policy);
  const next = applyStep(c, w, p, attempt, step);
  const after = { payment: w.payment, attempts: w.attempts };
  if (!isFinal(step)) return { kind: 'plan', plan: { writes: w.writes, step, next, after, response: null } };
  const response = c.render({ request: c.request, outcome: 'final', payment: w.view(), declineCode: step.kind === 'decline' ? step.declineCode : null, requestId: c.requestId });
  const completion = c.complete(response);
  if (completion) w.writes.push(completion);
  return { kind: 'plan', plan: { writes: w.writes, step, next, after, response } };
}

/** A capture, void or refund accepted: the payment's new status and the amount asked for. */
export interface Start {
  operation: Exclude<GatewayOperation, 'authorize'>;
  to: PaymentStatus;
  amount: number;
  idempotencyKey: string;
}

/**
 * Plans the start of a capture, void or refund (validated by ./validate.ts): the payment moved
 * to `start.to` with the amount asked for, and the operation's next attempt opened at the
 * payment's gateway, with their events.
 */
export function planStart(c: PlanContext, snapshot: Snapshot, start: Start): { writes: BatchWrite[]; next: Opened; after: Snapshot } {
  const w = new RoundWriter(snapshot);
  const p = w.payment;
  const moved = transition(c, w, p, start.to, { amount_requested: start.amount }, { key: start.idempotencyKey, attempt: null });
  const spec = { operation: start.operation, attemptNo: w.lastAttemptNo(start.operation) + 1, gateway: p.gateway!, amount: start.amount, idempotencyKey: start.idempotencyKey };
  const attempt = openAttempt(c, w, moved, spec, c.relayDelayMs);
  return { writes: w.writes, next: { payment: moved, attempt }, after: { payment: w.payment, attempts: w.attempts } };
}

/** The attempt's result and its timeline event. */
function recordOutcome(c: RoundContext, w: RoundWriter, p: PaymentRow, attempt: AttemptRow, outcome: GatewayOutcome): void {
  const [result, type, data]: [AttemptResult, string, Record<string, unknown>] =
    outcome.class === 'success'
      ? [{ status: 'succeeded', gatewayReference: outcome.transactionId }, 'attempt.succeeded', { gateway_reference: outcome.transactionId }]
      : outcome.class === 'decline'
        ? [{ status: 'declined', declineCode: outcome.declineCode }, 'attempt.declined', { decline_code: outcome.declineCode }]
        : outcome.class === 'not_processed'
          ? [{ status: 'not_processed', error: outcome.reason }, 'attempt.not_processed', { reason: outcome.reason }]
          : [{ status: 'unknown', error: outcome.reason }, 'attempt.unknown', { reason: outcome.reason }];
  w.recordAttempt(attempt, result, c.now);
  w.insertEvent(attemptEvent(c.random, p, attempt, c.meta, type, data, c.now));
}

/** The decided step's writes: the state change and its ledger entry, or the next attempt. Returns what it opened. */
function applyStep(c: RoundContext, w: RoundWriter, p: PaymentRow, attempt: AttemptRow, step: Step): Opened | null {
  const open = (payment: PaymentRow, operation: GatewayOperation, gateway: string, attemptNo: number, relayDelayMs = c.relayDelayMs): Opened => ({
    payment,
    attempt: openAttempt(c, w, payment, { operation, attemptNo, gateway, amount: attempt.amount, idempotencyKey: attempt.idempotency_key }, relayDelayMs),
  });
  const event = (payment: PaymentRow, type: string, data: Record<string, unknown>) => w.insertEvent(attemptEvent(c.random, payment, attempt, c.meta, type, data, c.now));
  const by = { key: attempt.idempotency_key, attempt };
  switch (step.kind) {
    case 'success': {
      w.postEntry(p, step.entry, c.now);
      if (step.status !== null) {
        transition(c, w, p, step.status, step.changes, by);
        return null;
      }
      const authorized = w.updatePayment(step.changes, c.now);
      return open(authorized, 'capture', attempt.gateway, w.lastAttemptNo('capture') + 1);
    }
    case 'decline':
      transition(c, w, p, step.status, { decline_code: step.declineCode, amount_requested: null }, by);
      return null;
    case 'retry': {
      const next = open(p, attempt.operation, attempt.gateway, step.attemptNo);
      event(p, 'attempt.retry_scheduled', { next_attempt_no: step.attemptNo, backoff_ms: step.backoffMs });
      return next;
    }
    case 'failover': {
      const moved = w.updatePayment({ gateway: step.gateway }, c.now);
      const next = open(moved, attempt.operation, step.gateway, step.attemptNo);
      event(moved, 'payment.failover', { from: attempt.gateway, to: step.gateway });
      return next;
    }
    case 'fail':
      transition(c, w, p, 'failed', {}, by);
      return null;
    case 'defer':
      open(p, attempt.operation, attempt.gateway, step.attemptNo, step.afterMs);
      event(p, 'attempt.deferred', { next_attempt_no: step.attemptNo });
      return null;
    case 'pending':
      return null;
  }
}

/** What a new attempt is: its operation, number, gateway, amount and the request's key. */
export interface AttemptSpec {
  operation: GatewayOperation;
  attemptNo: number;
  gateway: string;
  amount: number;
  idempotencyKey: string | null;
}

/** A new attempt's row: its own id and gateway key (docs/payments.md). */
export function newAttempt(random: Random, payment: Pick<PaymentRow, 'id'>, s: AttemptSpec, now: Date): NewAttempt {
  const id = newId(random, 'att');
  return { id, payment_id: payment.id, operation: s.operation, attempt_no: s.attemptNo, gateway: s.gateway, gateway_key: gatewayKey(payment.id, s.operation, s.attemptNo), amount: s.amount, idempotency_key: s.idempotencyKey, created_at: now };
}

/** An attempt with its outbox row (the relay runs it if the caller does not) and its `attempt.started` event. */
function openAttempt(c: PlanContext, w: RoundWriter, payment: PaymentRow, s: AttemptSpec, relayDelayMs: number): AttemptRow {
  const attempt = w.insertAttempt(newAttempt(c.random, payment, s, c.now), new Date(c.now.getTime() + relayDelayMs));
  w.insertEvent(attemptStartedEvent(c.random, payment, attempt, c.meta, c.now));
  return attempt;
}

/** The payment's status changed (the state machine allowing), with its event. */
function transition(c: PlanContext, w: RoundWriter, payment: PaymentRow, to: PaymentStatus, changes: PaymentChanges, by: { key: string | null; attempt: AttemptRow | null }): PaymentRow {
  if (!canTransition(payment.status, to)) throw invalidState(payment, to);
  const moved = w.updatePayment({ ...changes, status: to }, c.now);
  const meta = { ...c.meta, ...(by.key !== null ? { idempotency_key: by.key } : {}) };
  w.insertEvent(paymentEvent(c.random, moved, by.attempt, meta, `payment.${to}`, { payment: paymentSnapshot(moved) }, c.now));
  return moved;
}

/** A round's writes as they are planned, and the payment and attempts as they leave them. */
class RoundWriter {
  readonly writes: BatchWrite[] = [];
  payment: PaymentRow;
  readonly attempts: AttemptRow[];
  private paymentUpdated = false;

  constructor(s: Snapshot) {
    this.payment = copyPayment(s.payment);
    this.attempts = s.attempts.map(copyAttempt);
  }

  recordAttempt(attempt: AttemptRow, result: AttemptResult, now: Date): void {
    const i = this.attempts.findIndex((a) => a.id === attempt.id);
    this.writes.push({ op: 'recordAttempt', attempt: copyAttempt(attempt), result: { ...result }, now: new Date(now) });
    this.attempts[i] = recordedAttempt(this.attempts[i]!, result, now);
  }

  /** The payment's one update of the round (compare-and-set on the version it was read at). */
  updatePayment(changes: PaymentChanges, now: Date): PaymentRow {
    // One statement can't update a row twice, and no step changes the payment twice.
    if (this.paymentUpdated) throw new Error(`a round changes payment ${this.payment.id} twice`);
    this.paymentUpdated = true;
    this.writes.push({ op: 'updatePayment', current: copyPayment(this.payment), changes: { ...changes }, now: new Date(now) });
    this.payment = changedPayment(this.payment, changes, now);
    return copyPayment(this.payment);
  }

  postEntry(p: PaymentRow, event: LedgerEvent, now: Date): void {
    this.writes.push({ op: 'postEntry', paymentId: p.id, currency: p.currency, event, now: new Date(now) });
  }

  insertAttempt(attempt: NewAttempt, runAfter: Date): AttemptRow {
    this.writes.push({ op: 'insertAttempt', attempt: { ...attempt }, runAfter: new Date(runAfter) });
    const row = newAttemptRow(attempt);
    this.attempts.push(row);
    return copyAttempt(row);
  }

  insertEvent(event: NewPaymentEvent): void {
    this.writes.push({ op: 'insertEvent', event });
  }

  lastAttemptNo(operation: GatewayOperation): number {
    return this.attempts.filter((a) => a.operation === operation).reduce((n, a) => Math.max(n, a.attempt_no), 0);
  }

  countAttempts(operation: GatewayOperation, gateway: string): number {
    return this.attempts.filter((a) => a.operation === operation && a.gateway === gateway).length;
  }

  /** The payment as the API shows it once the writes are in. */
  view() {
    return structuredClone(toView(this.payment, [...this.attempts].sort(attemptOrder)));
  }
}

function copyPayment(p: PaymentRow): PaymentRow {
  return { ...p, metadata: { ...p.metadata }, created_at: new Date(p.created_at), updated_at: new Date(p.updated_at) };
}

function copyAttempt(a: AttemptRow): AttemptRow {
  return { ...a, created_at: new Date(a.created_at), completed_at: a.completed_at === null ? null : new Date(a.completed_at) };
}
