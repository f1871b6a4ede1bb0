import { IdemError } from '../errors/registry.js';
import type { GatewayRouter } from '../gateways/router.js';
import type { Claim, OperationResult } from '../idempotency/claim.js';
import { sleep, type Runtime } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import { noopTracer, type Tracer } from '../ports/tracing.js';
import { staticPolicy, type RetryPolicy } from '../resilience/policy.js';
import { mayHaveExecuted } from './decide.js';
import { GatewayRound } from './gatewayRound.js';
import { applyWrites } from './batch.js';
import { newAttempt, planRound, planStart, type RoundContext, type Snapshot } from './round.js';
import { newAttemptRow, newPaymentRow, StaleWriteError, type NewPayment, type PaymentRow } from './rows.js';
import type { Opened, PaymentRounds, PaymentStore, RoundOps } from './store.js';
import { attemptStartedEvent, paymentEvent, paymentSnapshot } from './timeline.js';
import type { PaymentRenderer, PaymentRequestKind } from './result.js';
import { validateCapture, validateRefund, validateVoid, type ValidRequest } from './validate.js';
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
      const attempt = newAttempt(runtime.random, row, { operation: 'authorize', attemptNo: 1, gateway, amount: input.amount, idempotencyKey }, now);
      const events = [
        paymentEvent(runtime.random, row, null, meta, 'payment.created', { payment: paymentSnapshot(row) }, now),
        attemptStartedEvent(runtime.random, row, newAttemptRow(attempt), meta, now),
      ];
      // One write, one round trip on SQL stores: the key's fence (or its claim, docs/idempotency.md, claim step 5),
      // payment, attempt, outbox, events, binding.
      opened = await claim.open((key) => store.openPayment({ key, payment, attempt, runAfter: this.runAfter(now), events }));
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
        const p = await tx.findPayment(merchantId, paymentId, true);
        if (!p) throw notFound(paymentId);
        const { to, amount } = validate(p);
        // The payment is locked until commit: these are all its attempts, so the round after
        // the gateway call can be one batch.
        const context = { meta, now: this.now(), random: this.o.runtime.random, relayDelayMs: this.relayDelayMs };
        const plan = planStart(context, { payment: p, attempts: await tx.listAttempts(p.id) }, { operation: kind, to, amount, idempotencyKey });
        await applyWrites(tx, plan.writes);
        await claim.bindResource(tx, p.id);
        return { ...plan.next, attempts: plan.after.attempts };
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

      const context = (): RoundContext => ({
        request: kind,
        requestId: claim.context?.metadata.request_id,
        meta,
        now: this.now(),
        policy: this.policy,
        candidates: (preferred) => this.o.gateways.candidates(preferred),
        random: runtime.random,
        relayDelayMs: this.relayDelayMs,
        render: this.o.render,
        complete: (response) => claim.completeWrite(response),
      });
      // The round as one statement over what this request wrote; as a transaction that reads
      // the rows under their locks when the request did not write them, the claim's fence
      // can't be checked in the statement, or the statement found the rows changed (then
      // nothing of it was written).
      const guard = snapshot ? claim.guardWrite() : null;
      const planned = snapshot && guard ? planRound(context(), snapshot, attempt, outcome) : null;
      const batched = planned?.kind === 'plan' && (await store.writeBatch([guard!, ...planned.plan.writes])) ? planned.plan : null;
      this.o.observeRound?.(batched ? 'batch' : snapshot ? 'batch_refused' : 'transaction');
      const plan =
        batched ??
        (await store.transaction(async (tx) => {
          await claim.guard(tx);
          const current = await tx.findPayment(merchantId, paymentId, true);
          if (!current) throw notFound(paymentId);
          const fresh = planRound(context(), { payment: current, attempts: await tx.listAttempts(paymentId) }, attempt, outcome);
          if (fresh.kind === 'stale') throw new StaleWriteError(fresh.reason);
          await applyWrites(tx, fresh.plan.writes);
          return fresh.plan;
        }));
      if (plan.response) return { kind: 'final', response: plan.response };
      const s = plan.step;
      if (s.kind === 'pending' || s.kind === 'defer') {
        const payment = (await store.loadView(merchantId, paymentId))!;
        return { kind: 'pending', response: this.o.render({ request: kind, outcome: 'pending', payment, declineCode: null }) };
      }
      // The next round's payment and attempt are the ones this round has just committed; after
      // a transaction, without the snapshot (the next round reads the rows again).
      known = plan.next === null ? undefined : batched ? { ...plan.next, attempts: plan.after.attempts } : plan.next;
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

  /** When the relay may run a new attempt's outbox row. */
  private runAfter(now: Date, relayDelayMs = this.relayDelayMs): Date {
    return new Date(now.getTime() + relayDelayMs);
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

