import type { Database } from '../db/database.js';
import { IdemError } from '../errors/registry.js';
import { gatewayKey, type GatewayOperation, type GatewayOutcome } from '../gateways/port.js';
import type { GatewayRouter } from '../gateways/router.js';
import type { Claim, OperationResult } from '../idempotency/gate.js';
import type { StoredResponse } from '../idempotency/store.js';
import { sleep, type Runtime } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import {
  findOpenAttempt,
  findPayment,
  insertAttempt,
  insertEvent,
  insertPayment,
  lastAttemptNo,
  listEvents,
  listViews,
  loadView,
  recordAttempt,
  updatePayment,
  type AttemptRow,
  type PaymentRow,
} from './repo.js';
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

/** Turns the payment, as it stands in the committing transaction, into the HTTP answer. */
export interface PaymentResponder {
  /** The final answer: success (201) or a definitive decline (402). */
  final(payment: PaymentView): StoredResponse;
  /** The outcome is unknown for now (202, `processing`). */
  pending(payment: PaymentView): StoredResponse;
}

export interface PaymentServiceOptions {
  db: Database;
  gateways: GatewayRouter;
  runtime: Runtime;
  /** Tries per gateway for `not_processed` answers before failing over. */
  attemptsPerGateway?: number;
  /** First backoff between tries; doubles each time. */
  retryBaseMs?: number;
  /** How long an outbox row waits before the relay may pick it up (the inline call goes first). */
  relayDelayMs?: number;
}

/**
 * The payment pipeline: validate → persist before the gateway call → call → persist the
 * result, each persist fenced by the idempotency claim so a stale owner can't write.
 */
export class PaymentService {
  private readonly attemptsPerGateway: number;
  private readonly retryBaseMs: number;
  private readonly relayDelayMs: number;

  constructor(private readonly o: PaymentServiceOptions) {
    this.attemptsPerGateway = o.attemptsPerGateway ?? 2;
    this.retryBaseMs = o.retryBaseMs ?? 50;
    this.relayDelayMs = o.relayDelayMs ?? 30_000;
  }

  /** `POST /v1/payments`: creates the payment and authorizes it (and captures if automatic). */
  async create(merchantId: string, idempotencyKey: string, input: CreatePaymentInput, claim: Claim, respond: PaymentResponder): Promise<OperationResult> {
    const { db, runtime, gateways } = this.o;
    let paymentId = claim.resourceId;
    if (paymentId === null) {
      const id = newId(runtime.random, 'pay');
      const now = new Date(runtime.clock.now());
      const gateway = gateways.candidates(input.gateway)[0]!;
      await db.transaction(async (tx) => {
        await claim.guard(tx);
        await insertPayment(tx, {
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
        await insertEvent(tx, id, 'payment.created', { idempotency_key: idempotencyKey, amount: input.amount, currency: input.currency }, now);
        await this.openAttempt(tx, id, 'authorize', 1, gateway, input.amount, now);
        await claim.bindResource(tx, id);
      });
      paymentId = id;
    }
    return this.drive(merchantId, paymentId, claim, respond);
  }

  async get(merchantId: string, id: string): Promise<PaymentView> {
    const view = await loadView(this.o.db, merchantId, id);
    if (!view) throw new IdemError('PAYMENT_NOT_FOUND', `no payment ${id}`, { extensions: { payment_id: id } });
    return view;
  }

  async list(merchantId: string, limit: number, cursor: string | undefined): Promise<{ data: PaymentView[]; has_more: boolean; next_cursor: string | null }> {
    const after = cursor === undefined ? null : decodeCursor(cursor);
    const rows = await listViews(this.o.db, merchantId, limit + 1, after);
    const data = rows.slice(0, limit);
    const last = data.at(-1);
    const hasMore = rows.length > limit;
    return { data, has_more: hasMore, next_cursor: hasMore && last ? encodeCursor(last) : null };
  }

  async events(merchantId: string, id: string): Promise<PaymentEventView[]> {
    const p = await findPayment(this.o.db, merchantId, id);
    if (!p) throw new IdemError('PAYMENT_NOT_FOUND', `no payment ${id}`, { extensions: { payment_id: id } });
    return listEvents(this.o.db, id);
  }

  /**
   * Runs the payment's open attempts until it is final or its outcome is unknown. Resumable:
   * after a takeover it finds the open attempt and re-sends it with the same gateway key.
   */
  private async drive(merchantId: string, paymentId: string, claim: Claim, respond: PaymentResponder): Promise<OperationResult> {
    const { db, runtime, gateways } = this.o;
    for (;;) {
      const payment = await findPayment(db, merchantId, paymentId);
      if (!payment) throw new Error(`payment ${paymentId} vanished`);
      const attempt = await findOpenAttempt(db, paymentId);
      if (!attempt) return this.finish(merchantId, paymentId, claim, respond);

      const outcome = await gateways.connector(attempt.gateway).execute(
        {
          operation: attempt.operation,
          gatewayKey: attempt.gateway_key,
          amount: attempt.amount,
          currency: payment.currency,
          reference: payment.id,
          token: payment.token,
          ...(payment.authorization_id ? { authorizationId: payment.authorization_id } : {}),
        },
        claim.signal,
      );

      let backoffMs = 0;
      const result = await db.transaction(async (tx): Promise<'again' | 'final' | 'pending'> => {
        await claim.guard(tx);
        const now = new Date(runtime.clock.now());
        const current = await findPayment(tx, merchantId, paymentId, true);
        if (!current) throw new Error(`payment ${paymentId} vanished`);
        const next = await this.apply(tx, current, attempt, outcome, now);
        if (next.kind === 'retry') backoffMs = next.backoffMs;
        if (next.kind === 'final') {
          const view = (await loadView(tx, merchantId, paymentId))!;
          await claim.complete(tx, respond.final(view));
          return 'final';
        }
        return next.kind === 'unknown' ? 'pending' : 'again';
      });
      if (result === 'final') {
        const view = (await loadView(db, merchantId, paymentId))!;
        return { kind: 'final', response: respond.final(view) };
      }
      if (result === 'pending') {
        const view = (await loadView(db, merchantId, paymentId))!;
        return { kind: 'pending', response: respond.pending(view) };
      }
      if (backoffMs > 0) await sleep(runtime.timers, backoffMs, claim.signal);
      if (claim.signal.aborted) throw claim.signal.reason ?? new Error('lease lost');
    }
  }

  /** Completes the key for a payment that has no open attempt (it reached its end earlier). */
  private async finish(merchantId: string, paymentId: string, claim: Claim, respond: PaymentResponder): Promise<OperationResult> {
    let response: StoredResponse | null = null;
    await this.o.db.transaction(async (tx) => {
      await claim.guard(tx);
      const view = (await loadView(tx, merchantId, paymentId))!;
      response = respond.final(view);
      await claim.complete(tx, response);
    });
    return { kind: 'final', response: response! };
  }

  /** Records one gateway answer and decides the next step, in the caller's transaction. */
  private async apply(
    tx: Parameters<Parameters<Database['transaction']>[0]>[0],
    payment: PaymentRow,
    attempt: AttemptRow,
    outcome: GatewayOutcome,
    now: Date,
  ): Promise<{ kind: 'final' } | { kind: 'next' } | { kind: 'retry'; backoffMs: number } | { kind: 'unknown' }> {
    const { gateways } = this.o;
    const event = (type: string, data: Record<string, unknown> = {}) =>
      insertEvent(tx, payment.id, type, { attempt_id: attempt.id, gateway: attempt.gateway, operation: attempt.operation, ...data }, now);

    switch (outcome.class) {
      case 'success': {
        await recordAttempt(tx, attempt, { status: 'succeeded', gatewayReference: outcome.transactionId }, now);
        await event('attempt.succeeded', { gateway_reference: outcome.transactionId });
        if (attempt.operation === 'authorize') {
          const authorized = { amount_authorized: attempt.amount, authorization_id: outcome.authorizationId ?? outcome.transactionId, gateway: attempt.gateway };
          if (payment.capture_method === 'automatic') {
            await updatePayment(tx, payment, authorized, now);
            await this.openAttempt(tx, payment.id, 'capture', (await lastAttemptNo(tx, payment.id, 'capture')) + 1, attempt.gateway, attempt.amount, now);
            return { kind: 'next' };
          }
          await this.transition(tx, payment, 'authorized', authorized, now);
          return { kind: 'final' };
        }
        if (attempt.operation === 'capture') {
          await this.transition(tx, payment, 'captured', { amount_captured: payment.amount_captured + attempt.amount }, now);
          return { kind: 'final' };
        }
        throw new Error(`${attempt.operation} is not driven by create`);
      }
      case 'decline': {
        await recordAttempt(tx, attempt, { status: 'declined', declineCode: outcome.declineCode }, now);
        await event('attempt.declined', { decline_code: outcome.declineCode });
        await this.transition(tx, payment, 'declined', { decline_code: outcome.declineCode }, now);
        return { kind: 'final' };
      }
      case 'not_processed': {
        await recordAttempt(tx, attempt, { status: 'not_processed', error: outcome.reason }, now);
        await event('attempt.not_processed', { reason: outcome.reason });
        const triesHere = await this.triesOn(tx, payment.id, attempt.operation, attempt.gateway);
        // A capture stays on the gateway that holds the authorization; only authorize fails over.
        const failover = attempt.operation === 'authorize' ? gateways.next(attempt.gateway, payment.preferred_gateway) : null;
        const nextNo = attempt.attempt_no + 1;
        if (triesHere < this.attemptsPerGateway) {
          await this.openAttempt(tx, payment.id, attempt.operation, nextNo, attempt.gateway, attempt.amount, now);
          await event('attempt.retry_scheduled', { next_attempt_no: nextNo });
          return { kind: 'retry', backoffMs: Math.max(outcome.retryAfterMs ?? 0, this.retryBaseMs * 2 ** (triesHere - 1)) };
        }
        if (failover) {
          await this.openAttempt(tx, payment.id, attempt.operation, nextNo, failover, attempt.amount, now);
          await updatePayment(tx, payment, { gateway: failover }, now);
          await event('payment.failover', { from: attempt.gateway, to: failover });
          return { kind: 'next' };
        }
        if (attempt.operation === 'authorize') {
          await this.transition(tx, payment, 'failed', {}, now);
          return { kind: 'final' };
        }
        // A capture that no gateway would process: the authorization stands; recovery retries later.
        return { kind: 'unknown' };
      }
      case 'unknown': {
        await recordAttempt(tx, attempt, { status: 'unknown', error: outcome.reason }, now);
        await event('attempt.unknown', { reason: outcome.reason });
        return { kind: 'unknown' };
      }
    }
  }

  private async triesOn(tx: Parameters<Parameters<Database['transaction']>[0]>[0], paymentId: string, operation: GatewayOperation, gateway: string): Promise<number> {
    const { rows } = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM payment_attempts WHERE payment_id = $1 AND operation = $2 AND gateway = $3`,
      [paymentId, operation, gateway],
    );
    return rows[0]?.n ?? 0;
  }

  private async openAttempt(
    tx: Parameters<Parameters<Database['transaction']>[0]>[0],
    paymentId: string,
    operation: GatewayOperation,
    attemptNo: number,
    gateway: string,
    amount: number,
    now: Date,
  ): Promise<void> {
    const id = newId(this.o.runtime.random, 'att');
    const key = gatewayKey(paymentId, operation, attemptNo);
    await insertAttempt(tx, { id, payment_id: paymentId, operation, attempt_no: attemptNo, gateway, gateway_key: key, amount, created_at: now }, new Date(now.getTime() + this.relayDelayMs));
    await insertEvent(tx, paymentId, 'attempt.started', { attempt_id: id, operation, attempt_no: attemptNo, gateway, gateway_key: key }, now);
  }

  private async transition(
    tx: Parameters<Parameters<Database['transaction']>[0]>[0],
    payment: PaymentRow,
    to: PaymentStatus,
    changes: Parameters<typeof updatePayment>[2],
    now: Date,
  ): Promise<void> {
    if (!canTransition(payment.status, to)) {
      throw new IdemError('PAYMENT_INVALID_STATE', `payment ${payment.id} is ${payment.status}; it cannot become ${to}`, { extensions: { payment_id: payment.id } });
    }
    await updatePayment(tx, payment, { ...changes, status: to }, now);
    await insertEvent(tx, payment.id, `payment.${to}`, {}, now);
  }
}

function encodeCursor(p: PaymentView): string {
  return Buffer.from(JSON.stringify([p.created_at, p.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof createdAt === 'string' && typeof id === 'string' && !Number.isNaN(Date.parse(createdAt))) return { createdAt, id };
  } catch {
    // fall through
  }
  throw new IdemError('VALIDATION_FAILED', 'cursor is not one this API returned');
}
