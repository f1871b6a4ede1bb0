import type { PaymentChanges, Store, StoreOps } from '../store/port.js';
import { IdemError } from '../errors/registry.js';
import { gatewayKey, type GatewayOperation, type GatewayOutcome, type GatewayRequest } from '../gateways/port.js';
import type { GatewayRouter } from '../gateways/router.js';
import type { Claim, OperationResult } from '../idempotency/gate.js';
import { sleep, type Runtime } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import { exponentialBackoff, type Backoff } from '../resilience/backoff.js';
import type { AttemptRow, PaymentRow } from './repo.js';
import { finalResponse, pendingResponse, type PaymentRequestKind } from './responses.js';
import { canTransition, type PaymentStatus } from './states.js';
import type { PaymentEventView, PaymentView } from './view.js';

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
  store: Store;
  gateways: GatewayRouter;
  runtime: Runtime;
  /** Tries per gateway for `not_processed` answers before failing over. */
  attemptsPerGateway?: number;
  /** First backoff between tries; doubles each time. */
  retryBaseMs?: number;
  /** How long an outbox row waits before the relay may run it (the inline call goes first). */
  relayDelayMs?: number;
  /** Where each gateway answer is logged, with the client's key, the payment and the attempt. */
  log?: { info(obj: object, msg: string): void };
}

/** A payment and its open attempt, as the transaction that wrote them committed them. */
type Opened = { payment: PaymentRow; attempt: AttemptRow };

/** What one gateway answer leads to. */
type Step =
  | { kind: 'final'; declineCode: string | null }
  | { kind: 'next' }
  | { kind: 'retry'; backoffMs: number }
  | { kind: 'pending' };

/**
 * The payment pipeline (SPEC sections 5–7): validate → persist before the gateway call → call
 * → persist the result with its ledger entry, every transaction fenced by the idempotency
 * claim so a stale owner can't write. Each request kind drives the payment's open attempt to
 * an end; recovery resumes the same way after a crash or an unknown outcome.
 */
export class PaymentService {
  private readonly attemptsPerGateway: number;
  private readonly retryBackoff: Backoff;
  private readonly relayDelayMs: number;

  constructor(private readonly o: PaymentServiceOptions) {
    this.attemptsPerGateway = o.attemptsPerGateway ?? 2;
    this.retryBackoff = exponentialBackoff({ baseMs: o.retryBaseMs ?? 50, capMs: 60_000 });
    this.relayDelayMs = o.relayDelayMs ?? 30_000;
  }

  /** `POST /v1/payments`: creates the payment and authorizes it (and captures if automatic). */
  async create(merchantId: string, idempotencyKey: string, input: CreatePaymentInput, claim: Claim): Promise<OperationResult> {
    const { store, runtime, gateways } = this.o;
    let paymentId = claim.resourceId;
    let opened: Opened | undefined;
    if (paymentId === null) {
      const id = newId(runtime.random, 'pay');
      const now = this.now();
      const gateway = gateways.candidates(input.gateway)[0]!;
      opened = await store.transaction(async (tx) => {
        await claim.guard(tx);
        const payment = await tx.insertPayment({
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
        });
        await tx.insertEvent(id, 'payment.created', { idempotency_key: idempotencyKey, amount: input.amount, currency: input.currency }, now);
        const attempt = await this.openAttempt(tx, id, 'authorize', 1, gateway, input.amount, idempotencyKey, now);
        await claim.bindResource(tx, id);
        return { payment, attempt };
      });
      paymentId = id;
    }
    return this.drive(merchantId, paymentId, 'create', claim, opened);
  }

  /** `POST /v1/payments/{id}/capture`: all of the authorization, or `amount` of it. */
  capture(merchantId: string, idempotencyKey: string, paymentId: string, amount: number | undefined, claim: Claim): Promise<OperationResult> {
    return this.begin(merchantId, idempotencyKey, paymentId, 'capture', claim, (p) => {
      if (p.status !== 'authorized') throw invalidState(p, 'captured');
      const amt = amount ?? p.amount_authorized;
      if (amt > p.amount_authorized) throw exceeds(p, `capture ${amt} exceeds the authorized ${p.amount_authorized}`);
      return { to: 'capturing', amount: amt };
    });
  }

  /** `POST /v1/payments/{id}/void`: cancels an uncaptured authorization. */
  void(merchantId: string, idempotencyKey: string, paymentId: string, claim: Claim): Promise<OperationResult> {
    return this.begin(merchantId, idempotencyKey, paymentId, 'void', claim, (p) => {
      if (p.status !== 'authorized') throw invalidState(p, 'voided');
      return { to: 'voiding', amount: p.amount_authorized };
    });
  }

  /** `POST /v1/payments/{id}/refunds`: all that is left of the capture, or `amount` of it. */
  refund(merchantId: string, idempotencyKey: string, paymentId: string, amount: number | undefined, claim: Claim): Promise<OperationResult> {
    return this.begin(merchantId, idempotencyKey, paymentId, 'refund', claim, (p) => {
      if (p.status !== 'captured' && p.status !== 'partially_captured' && p.status !== 'partially_refunded') throw invalidState(p, 'refunded');
      const left = p.amount_captured - p.amount_refunded;
      const amt = amount ?? left;
      if (amt > left) throw exceeds(p, `refund ${amt} exceeds the ${left} left to refund`);
      return { to: 'refunding', amount: amt };
    });
  }

  /**
   * Finishes a request whose owner is gone (recovery, or a retry that took the key over):
   * drives the payment's open attempt to an end and answers as that request would have.
   */
  resume(merchantId: string, kind: PaymentRequestKind, claim: Claim): Promise<OperationResult> {
    if (claim.resourceId === null) throw new Error(`nothing to resume for key ${claim.key}`);
    return this.drive(merchantId, claim.resourceId, kind, claim);
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

  async events(merchantId: string, id: string): Promise<PaymentEventView[]> {
    const p = await this.o.store.findPayment(merchantId, id);
    if (!p) throw notFound(id);
    return this.o.store.listEvents(id);
  }

  /** Validates and persists the start of a capture / void / refund, then drives it. */
  private async begin(
    merchantId: string,
    idempotencyKey: string,
    paymentId: string,
    kind: Exclude<PaymentRequestKind, 'create'>,
    claim: Claim,
    decide: (p: PaymentRow) => { to: PaymentStatus; amount: number },
  ): Promise<OperationResult> {
    if (claim.resourceId === null) {
      await this.o.store.transaction(async (tx) => {
        await claim.guard(tx);
        const now = this.now();
        const p = await tx.findPayment(merchantId, paymentId, true);
        if (!p) throw notFound(paymentId);
        const { to, amount } = decide(p);
        await this.transition(tx, p, to, { amount_requested: amount }, now);
        const attemptNo = (await tx.lastAttemptNo(p.id, kind)) + 1;
        await this.openAttempt(tx, p.id, kind, attemptNo, p.gateway!, amount, idempotencyKey, now);
        await claim.bindResource(tx, p.id);
      });
    }
    return this.drive(merchantId, paymentId, kind, claim);
  }

  /**
   * Runs the payment's open attempts until the request is answered: final (stored with the
   * last state change), or pending while an outcome is unknown. Resumable at any point: an
   * open attempt is re-sent with its own gateway key, or looked up first if its last answer
   * was unknown, so the gateway executes it once. `opened` is what the caller has just
   * written and committed, so the first round does not read it back.
   */
  private async drive(merchantId: string, paymentId: string, kind: PaymentRequestKind, claim: Claim, opened?: Opened): Promise<OperationResult> {
    const { store, runtime, gateways } = this.o;
    let known = opened;
    // An attempt whose outcome was unknown, or a pending one this execution did not open itself
    // (its owner may have died mid-call), may have executed already, or may still arrive at the
    // gateway late. Until the gateway gives a definitive answer for its key, that key is the
    // only one this operation may use: "not processed" for a re-send speaks only for the
    // re-send, and a new attempt under a new key could execute the operation a second time.
    //
    //   owner A   open attempt n ── send (gateway executes) ──╳ SIGKILL
    //   takeover             re-send n → 503 not processed → status(n) → found: record that
    //                                                                 → not found: keep key n, retry later
    //
    // A first send answered "not processed" is looked up once too before the next key is used:
    // a duplicate copy of it may have executed (found by the simulator's duplicate delivery).
    let mayHaveBeenSent = claim.resourceId !== null;
    for (;;) {
      const payment = known ? known.payment : await store.findPayment(merchantId, paymentId);
      if (!payment) throw notFound(paymentId);
      const attempt = known ? known.attempt : await store.findOpenAttempt(paymentId);
      known = undefined;
      if (!attempt) return this.finish(merchantId, paymentId, kind, claim);

      const connector = gateways.connector(attempt.gateway);
      const ambiguous = attempt.status === 'unknown' || (attempt.status === 'pending' && mayHaveBeenSent);
      let outcome: GatewayOutcome | null = null;
      if (attempt.status === 'unknown') {
        const found = await connector.status(attempt.gateway_key, claim.signal);
        if (found.found === true) outcome = found.outcome;
        else if (found.found === 'unknown') outcome = { class: 'unknown', reason: `status lookup failed: ${found.reason}` };
      }
      if (outcome === null) {
        outcome = await connector.execute(gatewayRequest(payment, attempt), claim.signal);
        if (outcome.class === 'not_processed') {
          // "Not processed" speaks for the copy that answered. Before this operation moves on to
          // a new gateway key, ask about this one: an earlier send (ambiguous), or a copy of this
          // one that a proxy or the network delivered twice, may have executed.
          // - found: that is the outcome;
          // - not found: a first send's "not processed" stands (SPEC 5); a re-send keeps its key;
          // - lookup refused (the gateway is down for everything): an authorization's first send
          //   is trusted, so an outage still fails over; a capture, void or refund has nowhere
          //   else to go, so it keeps its key until the gateway can tell;
          // - lookup unanswered: nobody can tell, so the key stays open for recovery.
          const found = await connector.status(attempt.gateway_key, claim.signal);
          if (found.found === true) outcome = found.outcome;
          else if (ambiguous) outcome = { class: 'unknown', reason: `re-send not processed (${outcome.reason}); keeping gateway key ${attempt.gateway_key}` };
          else if (found.found === 'unknown' && !(found.refused && attempt.operation === 'authorize')) {
            outcome = { class: 'unknown', reason: `not processed (${outcome.reason}), but the lookup of ${attempt.gateway_key} went unanswered (${found.reason})` };
          }
        }
      }
      mayHaveBeenSent = false; // every later round runs an attempt this loop has just opened
      this.o.log?.info(
        {
          idempotency_key: claim.key,
          payment_id: paymentId,
          attempt_id: attempt.id,
          operation: attempt.operation,
          gateway: attempt.gateway,
          gateway_key: attempt.gateway_key,
          outcome: outcome.class,
          ...(outcome.class === 'decline' ? { decline_code: outcome.declineCode } : {}),
          ...(outcome.class === 'not_processed' || outcome.class === 'unknown' ? { reason: outcome.reason } : {}),
        },
        'gateway answered',
      );

      let step: Step = { kind: 'pending' };
      const answer = await store.transaction(async (tx) => {
        await claim.guard(tx);
        const now = this.now();
        const current = await tx.findPayment(merchantId, paymentId, true);
        if (!current) throw notFound(paymentId);
        step = await this.apply(tx, current, attempt, outcome!, now);
        if (step.kind !== 'final') return null;
        const response = finalResponse(kind, (await tx.loadView(merchantId, paymentId))!, step.declineCode);
        await claim.complete(tx, response);
        return response;
      });
      if (answer) return { kind: 'final', response: answer };
      const s = step as Step;
      if (s.kind === 'pending') return { kind: 'pending', response: pendingResponse((await store.loadView(merchantId, paymentId))!) };
      if (s.kind === 'retry') await sleep(runtime.timers, s.backoffMs, claim.signal);
      if (claim.signal.aborted) throw claim.signal.reason ?? new Error('lease lost');
    }
  }

  /** Completes the request for a payment that has no open attempt (its end was reached before). */
  private async finish(merchantId: string, paymentId: string, kind: PaymentRequestKind, claim: Claim): Promise<OperationResult> {
    const response = await this.o.store.transaction(async (tx) => {
      await claim.guard(tx);
      const view = (await tx.loadView(merchantId, paymentId))!;
      const r = finalResponse(kind, view, lastDecline(view, kind));
      await claim.complete(tx, r);
      return r;
    });
    return { kind: 'final', response };
  }

  /** Records one gateway answer, its ledger entry and the state change; decides the next step. */
  private async apply(tx: StoreOps, p: PaymentRow, attempt: AttemptRow, outcome: GatewayOutcome, now: Date): Promise<Step> {
    const event = (type: string, data: Record<string, unknown> = {}) =>
      tx.insertEvent(p.id, type, { attempt_id: attempt.id, gateway: attempt.gateway, operation: attempt.operation, gateway_key: attempt.gateway_key, ...data }, now);
    const op = attempt.operation;

    switch (outcome.class) {
      case 'success': {
        await tx.recordAttempt(attempt, { status: 'succeeded', gatewayReference: outcome.transactionId }, now);
        await event('attempt.succeeded', { gateway_reference: outcome.transactionId });
        if (op === 'authorize') {
          const authorized = { amount_authorized: attempt.amount, authorization_id: outcome.authorizationId ?? outcome.transactionId, gateway: attempt.gateway };
          await tx.postEntry(p.id, p.currency, { kind: 'authorize', amount: attempt.amount }, now);
          if (p.capture_method === 'automatic') {
            await tx.updatePayment(p, authorized, now);
            await this.openAttempt(tx, p.id, 'capture', (await tx.lastAttemptNo(p.id, 'capture')) + 1, attempt.gateway, attempt.amount, attempt.idempotency_key, now);
            return { kind: 'next' };
          }
          await this.transition(tx, p, 'authorized', authorized, now);
          return { kind: 'final', declineCode: null };
        }
        if (op === 'capture') {
          const captured = p.amount_captured + attempt.amount;
          await tx.postEntry(p.id, p.currency, { kind: 'capture', authorized: p.amount_authorized, captured: attempt.amount, attemptId: attempt.id }, now);
          await this.transition(tx, p, captured >= p.amount_authorized ? 'captured' : 'partially_captured', { amount_captured: captured, amount_requested: null, decline_code: null }, now);
          return { kind: 'final', declineCode: null };
        }
        if (op === 'void') {
          await tx.postEntry(p.id, p.currency, { kind: 'void', authorized: p.amount_authorized }, now);
          await this.transition(tx, p, 'voided', { amount_voided: p.amount_authorized, amount_requested: null, decline_code: null }, now);
          return { kind: 'final', declineCode: null };
        }
        const refunded = p.amount_refunded + attempt.amount;
        await tx.postEntry(p.id, p.currency, { kind: 'refund', amount: attempt.amount, attemptId: attempt.id }, now);
        await this.transition(tx, p, refunded >= p.amount_captured ? 'refunded' : 'partially_refunded', { amount_refunded: refunded, amount_requested: null, decline_code: null }, now);
        return { kind: 'final', declineCode: null };
      }
      case 'decline': {
        await tx.recordAttempt(attempt, { status: 'declined', declineCode: outcome.declineCode }, now);
        await event('attempt.declined', { decline_code: outcome.declineCode });
        // A declined capture / void / refund leaves the payment as it was before the request.
        const back: PaymentStatus =
          op === 'authorize' ? (p.amount_authorized > 0 ? 'authorized' : 'declined') : restingState(p);
        await this.transition(tx, p, back, { decline_code: outcome.declineCode, amount_requested: null }, now);
        return { kind: 'final', declineCode: outcome.declineCode };
      }
      case 'not_processed': {
        await tx.recordAttempt(attempt, { status: 'not_processed', error: outcome.reason }, now);
        await event('attempt.not_processed', { reason: outcome.reason });
        const triesHere = await tx.countAttempts(p.id, op, attempt.gateway);
        const nextNo = attempt.attempt_no + 1;
        const backoffMs = this.retryBackoff.delay(triesHere - 1, outcome.retryAfterMs ?? 0);
        if (triesHere < this.attemptsPerGateway) {
          await this.openAttempt(tx, p.id, op, nextNo, attempt.gateway, attempt.amount, attempt.idempotency_key, now);
          await event('attempt.retry_scheduled', { next_attempt_no: nextNo, backoff_ms: backoffMs });
          return { kind: 'retry', backoffMs };
        }
        // Only an authorization moves to another gateway: the others belong where it stands.
        const failover = op === 'authorize' ? this.o.gateways.next(attempt.gateway, p.preferred_gateway) : null;
        if (failover) {
          await tx.updatePayment(p, { gateway: failover }, now);
          await this.openAttempt(tx, p.id, op, nextNo, failover, attempt.amount, attempt.idempotency_key, now);
          await event('payment.failover', { from: attempt.gateway, to: failover });
          return { kind: 'next' };
        }
        if (op === 'authorize' && p.amount_authorized === 0) {
          await this.transition(tx, p, 'failed', {}, now);
          return { kind: 'final', declineCode: null };
        }
        // Nowhere else to go: keep trying here later, through the outbox, with backoff.
        await this.openAttempt(tx, p.id, op, nextNo, attempt.gateway, attempt.amount, attempt.idempotency_key, now, Math.min(60_000, backoffMs * 10));
        await event('attempt.deferred', { next_attempt_no: nextNo });
        return { kind: 'pending' };
      }
      case 'unknown': {
        await tx.recordAttempt(attempt, { status: 'unknown', error: outcome.reason }, now);
        await event('attempt.unknown', { reason: outcome.reason });
        return { kind: 'pending' };
      }
    }
  }

  /** Writes an attempt and its outbox row; the relay runs it if the caller does not. */
  private async openAttempt(
    tx: StoreOps,
    paymentId: string,
    operation: GatewayOperation,
    attemptNo: number,
    gateway: string,
    amount: number,
    idempotencyKey: string | null,
    now: Date,
    relayDelayMs = this.relayDelayMs,
  ): Promise<AttemptRow> {
    const id = newId(this.o.runtime.random, 'att');
    const key = gatewayKey(paymentId, operation, attemptNo);
    const attempt = await tx.insertAttempt(
      { id, payment_id: paymentId, operation, attempt_no: attemptNo, gateway, gateway_key: key, amount, idempotency_key: idempotencyKey, created_at: now },
      new Date(now.getTime() + relayDelayMs),
    );
    await tx.insertEvent(paymentId, 'attempt.started', { attempt_id: id, operation, attempt_no: attemptNo, gateway, gateway_key: key }, now);
    return attempt;
  }

  private async transition(tx: StoreOps, payment: PaymentRow, to: PaymentStatus, changes: PaymentChanges, now: Date): Promise<void> {
    if (!canTransition(payment.status, to)) throw invalidState(payment, to);
    await tx.updatePayment(payment, { ...changes, status: to }, now);
    await tx.insertEvent(payment.id, `payment.${to}`, {}, now);
  }

  private now(): Date {
    return new Date(this.o.runtime.clock.now());
  }
}

/** Where a payment rests when an in-flight capture, void or refund is declined. */
function restingState(p: PaymentRow): PaymentStatus {
  if (p.status === 'capturing' || p.status === 'voiding') return 'authorized';
  if (p.status === 'refunding') {
    if (p.amount_refunded > 0) return 'partially_refunded';
    return p.amount_captured >= p.amount_authorized ? 'captured' : 'partially_captured';
  }
  if (p.status === 'processing') return p.amount_authorized > 0 ? 'authorized' : 'declined';
  return p.status;
}

/** The decline code of the request's last attempt, when it ended in a decline. */
function lastDecline(view: PaymentView, kind: PaymentRequestKind): string | null {
  const ops = kind === 'create' ? ['authorize', 'capture'] : [kind];
  const last = view.attempts.filter((a) => ops.includes(a.operation)).at(-1);
  return last?.status === 'declined' ? (last.decline_code ?? 'declined') : null;
}

function gatewayRequest(payment: PaymentRow, attempt: AttemptRow): GatewayRequest {
  return {
    operation: attempt.operation,
    gatewayKey: attempt.gateway_key,
    amount: attempt.amount,
    currency: payment.currency,
    reference: payment.id,
    ...(attempt.operation === 'authorize' ? { token: payment.token } : {}),
    ...(payment.authorization_id ? { authorizationId: payment.authorization_id } : {}),
  };
}

function notFound(id: string): IdemError {
  return new IdemError('PAYMENT_NOT_FOUND', `no payment ${id}`, { extensions: { payment_id: id } });
}

function invalidState(p: PaymentRow, to: string): IdemError {
  return new IdemError('PAYMENT_INVALID_STATE', `payment ${p.id} is ${p.status}; it cannot be ${to}`, {
    extensions: { payment_id: p.id, payment_status: p.status },
  });
}

function exceeds(p: PaymentRow, detail: string): IdemError {
  return new IdemError('AMOUNT_EXCEEDS_AVAILABLE', detail, { extensions: { payment_id: p.id } });
}

function encodeCursor(p: PaymentView): string {
  return Buffer.from(JSON.stringify([p.created_at, p.id])).toString('base64url');
}

function isCursorTime(text: string): boolean {
  return /^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(text) && new Date(text).toISOString() === text;
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    // Only what encodeCursor writes: anything else (a date JavaScript parses but PostgreSQL
    // does not, a NUL in the id) would fail in the query as a 500.
    if (typeof createdAt === 'string' && typeof id === 'string' && isCursorTime(createdAt) && /^pay_[0-9a-z]{1,64}$/.test(id)) return { createdAt, id };
  } catch {
    // fall through
  }
  throw new IdemError('VALIDATION_FAILED', 'cursor is not one this API returned');
}
