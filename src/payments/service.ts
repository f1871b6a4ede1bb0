import type { StoredResponse } from '../idempotency/store.js';
import { IdemError } from '../errors/registry.js';
import { gatewayKey, type GatewayOperation, type GatewayOutcome } from '../gateways/port.js';
import type { GatewayRouter } from '../gateways/router.js';
import type { Claim, OperationResult } from '../idempotency/gate.js';
import { sleep, type Runtime } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import { noopTracer, type Tracer } from '../ports/tracing.js';
import { staticPolicy, type RetryPolicy } from '../resilience/policy.js';
import { decideNext, isFinal, mayHaveExecuted, type DecisionFacts, type Step } from './decide.js';
import { GatewayRound } from './gatewayRound.js';
import { runBatch, runInTransaction, type Snapshot } from './batch.js';
import { newAttemptRow, newPaymentRow, type AttemptRow, type NewAttempt, type NewPayment, type PaymentChanges, type PaymentRow } from './rows.js';
import type { Opened, PaymentRounds, PaymentStore, RoundOps } from './store.js';
import { attemptEvent, attemptStartedEvent, paymentEvent, paymentSnapshot } from './timeline.js';
import type { PaymentRenderer, PaymentRequestKind } from './result.js';
import { canTransition, type PaymentStatus } from './states.js';
import { invalidState, validateCapture, validateRefund, validateVoid, type ValidRequest } from './validate.js';
import type { PaymentView } from './view.js';
import { attemptMetadata, requestMetadata, type RequestMetadata } from './requestMetadata.js';
import { decodeCursor, encodeCursor } from './listCursor.js';
import { eventView, type EventView } from '../events/model.js';
import type { EventStore } from '../events/store.js';
import type { Transactional } from '../ports/transaction.js';

export interface CreatePaymentInput {
  amount: number;
  currency: string;
  captureMethod: 'automatic' | 'manual';
  token: string;
  reference?: string | undefined;
  gateway?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export interface PaymentServiceOptions {
  /** The payments' port, the payment's events, and rounds that write across them. */
  store: PaymentStore & Pick<EventStore, 'listEvents'> & PaymentRounds & Transactional<RoundOps>;
  gateways: GatewayRouter;
  runtime: Runtime;
  /** Tries, backoff and failover after "not processed" answers; `staticPolicy()` unless told. */
  policy?: RetryPolicy;
  /** How long an outbox row waits before the relay may run it (the inline call goes first). */
  relayDelayMs?: number;
  /** Renders each answer as stored for replay (`renderPaymentResult` in src/api/render.ts). */
  render: PaymentRenderer;
  /** Where each gateway answer is logged, with the request's metadata (docs/metadata.md). */
  log?: { info(obj: object, msg: string): void };
  /** Opens a span per gateway attempt; `noopTracer` unless told. */
  tracer?: Tracer;
  /** Told how each round's writes went out (`idem_payment_rounds_total`). */
  observeRound?: (write: RoundWrite) => void;
}

/**
 * How a round's writes after a gateway answer went out: as one batch over what the request
 * wrote, as a transaction after the batch was refused, or as a transaction from the start.
 */
export type RoundWrite = 'batch' | 'batch_refused' | 'transaction';

/**
 * The payment pipeline (docs/payments.md): validate → persist before the gateway call → call
 * → persist the result with its ledger entry, every transaction fenced by the idempotency
 * claim so a stale owner can't write. Each request kind drives the payment's open attempt to
 * an end; recovery resumes the same way after a crash or an unknown outcome. What each answer
 * leads to is decided by the pure `decideNext` (./decide.ts) under the injected retry policy;
 * this class gathers the facts, calls the gateway and writes.
 */
export class PaymentService {
  private readonly policy: RetryPolicy;
  private readonly relayDelayMs: number;
  private readonly round: GatewayRound;

  constructor(private readonly o: PaymentServiceOptions) {
    this.policy = o.policy ?? staticPolicy();
    this.relayDelayMs = o.relayDelayMs ?? 30_000;
    this.round = new GatewayRound({ gateways: o.gateways, runtime: o.runtime, policy: this.policy, tracer: o.tracer ?? noopTracer, ...(o.log ? { log: o.log } : {}) });
  }

  /** `POST /v1/payments`: creates the payment and authorizes it (and captures if automatic). */
  async create(merchantId: string, idempotencyKey: string, input: CreatePaymentInput, claim: Claim, given: RequestMetadata = {}): Promise<OperationResult> {
    const { store, runtime, gateways } = this.o;
    const meta = requestMetadata(claim, given);
    let paymentId = claim.resourceId;
    let opened: Opened | undefined;
    if (paymentId === null) {
      const id = newId(runtime.random, 'pay');
      const now = this.now();
      const candidates = gateways.candidates(input.gateway);
      const routed = this.policy.route?.(candidates, 'authorize') ?? candidates;
      // Awaited only when it is a promise (a probe lease asked for): no extra turn otherwise.
      const gateway = (routed instanceof Promise ? await routed : routed)[0]!;
      const payment: NewPayment = {
        id,
        merchant_id: merchantId,
        amount: input.amount,
        currency: input.currency,
        capture_method: input.captureMethod,
        status: 'processing',
        token: input.token,
        reference: input.reference ?? null,
        metadata: input.metadata ?? {},
        preferred_gateway: input.gateway ?? null,
        gateway,
        idempotency_key: idempotencyKey,
        created_at: now,
        updated_at: now,
      };
      const row = newPaymentRow(payment);
      const attempt = this.newAttempt(row, 'authorize', 1, gateway, input.amount, idempotencyKey, now);
      const events = [
        paymentEvent(runtime.random, row, null, meta, 'payment.created', { payment: paymentSnapshot(row) }, now),
        attemptStartedEvent(runtime.random, row, newAttemptRow(attempt), meta, now),
      ];
      // One write, one round trip on SQL stores: fence, payment, attempt, outbox, events, binding.
      opened = await claim.fenced((key) => store.openPayment({ key, payment, attempt, runAfter: this.runAfter(now), events }));
      paymentId = id;
    }
    return this.drive(merchantId, paymentId, 'create', claim, meta, opened);
  }

  /** `POST /v1/payments/{id}/capture`: all of the authorization, or `amount` of it. */
  capture(merchantId: string, idempotencyKey: string, paymentId: string, amount: number | undefined, claim: Claim, meta: RequestMetadata = {}): Promise<OperationResult> {
    return this.begin(merchantId, idempotencyKey, paymentId, 'capture', claim, (p) => validateCapture(p, amount), requestMetadata(claim, meta));
  }

  /** `POST /v1/payments/{id}/void`: cancels an uncaptured authorization. */
  void(merchantId: string, idempotencyKey: string, paymentId: string, claim: Claim, meta: RequestMetadata = {}): Promise<OperationResult> {
    return this.begin(merchantId, idempotencyKey, paymentId, 'void', claim, validateVoid, requestMetadata(claim, meta));
  }

  /** `POST /v1/payments/{id}/refunds`: all that is left of the capture, or `amount` of it. */
  refund(merchantId: string, idempotencyKey: string, paymentId: string, amount: number | undefined, claim: Claim, meta: RequestMetadata = {}): Promise<OperationResult> {
    return this.begin(merchantId, idempotencyKey, paymentId, 'refund', claim, (p) => validateRefund(p, amount), requestMetadata(claim, meta));
  }

  /**
   * Finishes a request whose owner is gone (recovery, or a retry that took the key over):
   * drives the payment's open attempt to an end and answers as that request would have.
   */
  resume(merchantId: string, kind: PaymentRequestKind, claim: Claim, meta: RequestMetadata = {}): Promise<OperationResult> {
    if (claim.resourceId === null) throw new Error(`nothing to resume for key ${claim.key}`);
    return this.drive(merchantId, claim.resourceId, kind, claim, requestMetadata(claim, meta));
  }

  async get(merchantId: string, id: string): Promise<PaymentView> {
    const view = await this.o.store.loadView(merchantId, id);
    if (!view) throw notFound(id);
    return view;
  }

  async list(merchantId: string, limit: number, cursor: string | undefined): Promise<{ data: PaymentView[]; has_more: boolean; next_cursor: string | null }> {
    const after = cursor === undefined ? null : decodeCursor(cursor);
    const rows = await this.o.store.listViews(merchantId, limit + 1, after);
    const data = rows.slice(0, limit);
    const last = data.at(-1);
    const hasMore = rows.length > limit;
    return { data, has_more: hasMore, next_cursor: hasMore && last ? encodeCursor(last) : null };
  }

  /** The payment's events in sequence order (docs/events.md). */
  async events(merchantId: string, id: string): Promise<EventView[]> {
    const p = await this.o.store.findPayment(merchantId, id);
    if (!p) throw notFound(id);
    return (await this.o.store.listEvents(id)).map(eventView);
  }

  /** Validates and persists the start of a capture / void / refund, then drives it. */
  private async begin(
    merchantId: string,
    idempotencyKey: string,
    paymentId: string,
    kind: Exclude<PaymentRequestKind, 'create'>,
    claim: Claim,
    validate: (p: PaymentRow) => ValidRequest,
    meta: RequestMetadata,
  ): Promise<OperationResult> {
    let opened: Opened | undefined;
    if (claim.resourceId === null) {
      opened = await this.o.store.transaction(async (tx) => {
        await claim.guard(tx);
        const now = this.now();
        const p = await tx.findPayment(merchantId, paymentId, true);
        if (!p) throw notFound(paymentId);
        const { to, amount } = validate(p);
        const moved = await this.transition(tx, p, to, { amount_requested: amount }, now, { key: idempotencyKey, attempt: null, meta });
        const attemptNo = (await tx.lastAttemptNo(p.id, kind)) + 1;
        const attempt = await this.openAttempt(tx, moved, kind, attemptNo, p.gateway!, amount, idempotencyKey, now, meta);
        await claim.bindResource(tx, p.id);
        // The payment is locked until commit: these are all its attempts, so the round after
        // the gateway call can be one batch.
        return { payment: moved, attempt, attempts: await tx.listAttempts(p.id) };
      });
    }
    return this.drive(merchantId, paymentId, kind, claim, meta, opened);
  }

  /**
   * Runs the payment's open attempts until the request is answered: final (stored with the
   * last state change), or pending while an outcome is unknown. Resumable at any point: an
   * open attempt is re-sent with its own gateway key, or looked up first if its last answer
   * was unknown, so the gateway executes it once. `opened` is what the caller has just
   * written and committed, so the first round does not read it back.
   */
  private async drive(merchantId: string, paymentId: string, kind: PaymentRequestKind, claim: Claim, meta: RequestMetadata, opened?: Opened): Promise<OperationResult> {
    const { store, runtime } = this.o;
    // The request's metadata gains its payment: its last log line and its spans carry it.
    if (claim.context) claim.context.metadata.payment_id = paymentId;
    let known = opened;
    // A resumed request's open attempt may have been sent by an earlier owner; every later
    // round runs an attempt this loop has just opened (docs/payments.md, "not processed").
    let resumed = claim.resourceId !== null;
    // What the policy learns about the round: a retry here (and its wait), or a first try.
    let after: { retryDelayMs: number } | null = null;
    for (;;) {
      const payment = known ? known.payment : await store.findPayment(merchantId, paymentId);
      if (!payment) throw notFound(paymentId);
      const attempt = known ? known.attempt : await store.findOpenAttempt(paymentId);
      // Every attempt known too (a payment this request created): the round is one batch.
      const snapshot: Snapshot | null = known?.attempts ? { payment: known.payment, attempts: known.attempts } : null;
      known = undefined;
      if (!attempt) return this.finish(merchantId, paymentId, kind, claim);

      const metadata = attemptMetadata(merchantId, claim, attempt);
      const outcome = await this.round.run(payment, attempt, { ambiguous: mayHaveExecuted(attempt, !resumed), signal: claim.signal, after, parent: claim.context?.span, metadata });
      resumed = false;

      let step: Step = { kind: 'pending' };
      let next: Opened | null = null;
      const writeRound = async (tx: RoundOps): Promise<StoredResponse | null> => {
        await claim.guard(tx);
        const now = this.now();
        const current = await tx.findPayment(merchantId, paymentId, true);
        if (!current) throw notFound(paymentId);
        await this.recordOutcome(tx, current, attempt, outcome, now, meta);
        step = decideNext(current, attempt, outcome, await this.factsFor(tx, current, attempt, outcome), this.policy);
        next = await this.apply(tx, current, attempt, step, now, meta);
        if (!isFinal(step)) return null;
        const payment = (await tx.loadView(merchantId, paymentId))!;
        const response = this.o.render({
          request: kind,
          outcome: 'final',
          payment,
          declineCode: step.kind === 'decline' ? step.declineCode : null,
          requestId: claim.context?.metadata.request_id,
        });
        await claim.complete(tx, response);
        return response;
      };
      // The round as one batch read from what this request wrote; as a transaction when the
      // batch needs more, or finds the rows changed (then nothing of it was written).
      const batched = snapshot ? await runBatch(store, snapshot, writeRound) : null;
      this.o.observeRound?.(batched ? 'batch' : snapshot ? 'batch_refused' : 'transaction');
      // Otherwise a transaction reads the round's snapshot under the locks, and writes the same way.
      const written =
        batched ??
        (await store.transaction(async (tx) => {
          await claim.guard(tx);
          const current = await tx.findPayment(merchantId, paymentId, true);
          if (!current) throw notFound(paymentId);
          return runInTransaction(tx, { payment: current, attempts: await tx.listAttempts(paymentId) }, writeRound);
        }));
      const answer = written.value;
      if (batched && next) next = { ...(next as Opened), attempts: written.snapshot.attempts };
      if (answer) return { kind: 'final', response: answer };
      const s = step as Step;
      if (s.kind === 'pending' || s.kind === 'defer') {
        const payment = (await store.loadView(merchantId, paymentId))!;
        return { kind: 'pending', response: this.o.render({ request: kind, outcome: 'pending', payment, declineCode: null }) };
      }
      // The next round's payment and attempt are the ones this round has just committed.
      known = next ?? undefined;
      after = s.kind === 'retry' ? { retryDelayMs: s.backoffMs } : null;
      if (s.kind === 'retry') await sleep(runtime.timers, s.backoffMs, claim.signal);
      if (claim.signal.aborted) throw claim.signal.reason ?? new Error('lease lost');
    }
  }

  /** Completes the request for a payment that has no open attempt (its end was reached before). */
  private async finish(merchantId: string, paymentId: string, kind: PaymentRequestKind, claim: Claim): Promise<OperationResult> {
    const response = await this.o.store.transaction(async (tx) => {
      await claim.guard(tx);
      const payment = (await tx.loadView(merchantId, paymentId))!;
      const r = this.o.render({ request: kind, outcome: 'final', payment, declineCode: lastDecline(payment, kind), requestId: claim.context?.metadata.request_id });
      await claim.complete(tx, r);
      return r;
    });
    return { kind: 'final', response };
  }

  /** Records the gateway's answer on the attempt, with its timeline event. */
  private async recordOutcome(tx: RoundOps, p: PaymentRow, attempt: AttemptRow, outcome: GatewayOutcome, now: Date, meta: RequestMetadata): Promise<void> {
    const attemptEvent = (t: RoundOps, pay: PaymentRow, a: AttemptRow, type: string, data: Record<string, unknown>, at: Date) =>
      this.attemptEvent(t, pay, a, meta, type, data, at);
    switch (outcome.class) {
      case 'success':
        await tx.recordAttempt(attempt, { status: 'succeeded', gatewayReference: outcome.transactionId }, now);
        return attemptEvent(tx, p, attempt, 'attempt.succeeded', { gateway_reference: outcome.transactionId }, now);
      case 'decline':
        await tx.recordAttempt(attempt, { status: 'declined', declineCode: outcome.declineCode }, now);
        return attemptEvent(tx, p, attempt, 'attempt.declined', { decline_code: outcome.declineCode }, now);
      case 'not_processed':
        await tx.recordAttempt(attempt, { status: 'not_processed', error: outcome.reason }, now);
        return attemptEvent(tx, p, attempt, 'attempt.not_processed', { reason: outcome.reason }, now);
      case 'unknown':
        await tx.recordAttempt(attempt, { status: 'unknown', error: outcome.reason }, now);
        return attemptEvent(tx, p, attempt, 'attempt.unknown', { reason: outcome.reason }, now);
    }
  }

  /**
   * What the decision needs from the store and the router. Only a "not processed" answer reads
   * them (`DecisionFacts`), so only then are the tries counted: one read less on every other
   * answer.
   */
  private async factsFor(tx: RoundOps, p: PaymentRow, attempt: AttemptRow, outcome: GatewayOutcome): Promise<DecisionFacts> {
    if (outcome.class !== 'not_processed') return { triesHere: 1, candidates: [] };
    return { triesHere: await tx.countAttempts(p.id, attempt.operation, attempt.gateway), candidates: this.o.gateways.candidates(p.preferred_gateway) };
  }

  /**
   * Writes the decided step: the state change and its ledger entry, or the next attempt. Returns
   * the payment and the attempt it opened, as written, for the next round.
   */
  private async apply(tx: RoundOps, p: PaymentRow, attempt: AttemptRow, step: Step, now: Date, meta: RequestMetadata): Promise<Opened | null> {
    const open = async (payment: PaymentRow, operation: GatewayOperation, gateway: string, attemptNo: number, relayDelayMs?: number): Promise<Opened> => ({
      payment,
      attempt: await this.openAttempt(tx, payment, operation, attemptNo, gateway, attempt.amount, attempt.idempotency_key, now, meta, relayDelayMs),
    });
    const by = { key: attempt.idempotency_key, attempt, meta };
    switch (step.kind) {
      case 'success': {
        await tx.postEntry(p.id, p.currency, step.entry, now);
        if (step.status !== null) {
          await this.transition(tx, p, step.status, step.changes, now, by);
          return null;
        }
        const authorized = await tx.updatePayment(p, step.changes, now);
        return open(authorized, 'capture', attempt.gateway, (await tx.lastAttemptNo(p.id, 'capture')) + 1);
      }
      case 'decline':
        await this.transition(tx, p, step.status, { decline_code: step.declineCode, amount_requested: null }, now, by);
        return null;
      case 'retry': {
        const next = await open(p, attempt.operation, attempt.gateway, step.attemptNo);
        await this.attemptEvent(tx, p, attempt, meta, 'attempt.retry_scheduled', { next_attempt_no: step.attemptNo, backoff_ms: step.backoffMs }, now);
        return next;
      }
      case 'failover': {
        const moved = await tx.updatePayment(p, { gateway: step.gateway }, now);
        const next = await open(moved, attempt.operation, step.gateway, step.attemptNo);
        await this.attemptEvent(tx, moved, attempt, meta, 'payment.failover', { from: attempt.gateway, to: step.gateway }, now);
        return next;
      }
      case 'fail':
        await this.transition(tx, p, 'failed', {}, now, by);
        return null;
      case 'defer':
        await open(p, attempt.operation, attempt.gateway, step.attemptNo, step.afterMs);
        await this.attemptEvent(tx, p, attempt, meta, 'attempt.deferred', { next_attempt_no: step.attemptNo }, now);
        return null;
      case 'pending':
        return null;
    }
  }

  /** Writes an attempt, its outbox row and its `attempt.started` event; the relay runs it if the caller does not. */
  private async openAttempt(
    tx: RoundOps,
    payment: PaymentRow,
    operation: GatewayOperation,
    attemptNo: number,
    gateway: string,
    amount: number,
    idempotencyKey: string | null,
    now: Date,
    meta: RequestMetadata,
    relayDelayMs = this.relayDelayMs,
  ): Promise<AttemptRow> {
    const attempt = await tx.insertAttempt(this.newAttempt(payment, operation, attemptNo, gateway, amount, idempotencyKey, now), this.runAfter(now, relayDelayMs));
    await tx.insertEvent(attemptStartedEvent(this.o.runtime.random, payment, attempt, meta, now));
    return attempt;
  }

  /** A new attempt's row: its own id and gateway key (docs/payments.md). */
  private newAttempt(payment: PaymentRow, operation: GatewayOperation, attemptNo: number, gateway: string, amount: number, idempotencyKey: string | null, now: Date): NewAttempt {
    const id = newId(this.o.runtime.random, 'att');
    return { id, payment_id: payment.id, operation, attempt_no: attemptNo, gateway, gateway_key: gatewayKey(payment.id, operation, attemptNo), amount, idempotency_key: idempotencyKey, created_at: now };
  }

  /** When the relay may run a new attempt's outbox row. */
  private runAfter(now: Date, relayDelayMs = this.relayDelayMs): Date {
    return new Date(now.getTime() + relayDelayMs);
  }

  /** Changes the payment's status (the state machine allowing) and writes its event; returns the new row. */
  private async transition(
    tx: RoundOps,
    payment: PaymentRow,
    to: PaymentStatus,
    changes: PaymentChanges,
    now: Date,
    by: { key: string | null; attempt: AttemptRow | null; meta: RequestMetadata },
  ): Promise<PaymentRow> {
    if (!canTransition(payment.status, to)) throw invalidState(payment, to);
    const moved = await tx.updatePayment(payment, { ...changes, status: to }, now);
    await tx.insertEvent(paymentEvent(this.o.runtime.random, moved, by.attempt, { ...by.meta, ...(by.key !== null ? { idempotency_key: by.key } : {}) }, `payment.${to}`, { payment: paymentSnapshot(moved) }, now));
    return moved;
  }

  /** Writes a timeline event about one attempt in the caller's transaction. */
  private attemptEvent(tx: RoundOps, p: PaymentRow, a: AttemptRow, meta: RequestMetadata, type: string, data: Record<string, unknown>, now: Date): Promise<void> {
    return tx.insertEvent(attemptEvent(this.o.runtime.random, p, a, meta, type, data, now));
  }

  private now(): Date {
    return new Date(this.o.runtime.clock.now());
  }
}

/** The decline code of the request's last attempt, when it ended in a decline. */
function lastDecline(view: PaymentView, kind: PaymentRequestKind): string | null {
  const ops = kind === 'create' ? ['authorize', 'capture'] : [kind];
  const last = view.attempts.filter((a) => ops.includes(a.operation)).at(-1);
  return last?.status === 'declined' ? (last.decline_code ?? 'declined') : null;
}


function notFound(id: string): IdemError {
  return new IdemError('PAYMENT_NOT_FOUND', `no payment ${id}`, { extensions: { payment_id: id } });
}

