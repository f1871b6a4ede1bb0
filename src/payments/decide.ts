import type { GatewayOperationStatus, GatewayOutcome, StatusUnknown } from '../gateways/port.js';
import type { LedgerEvent } from '../ledger/ledger.js';
import type { RetryPolicy } from '../resilience/policy.js';
import type { AttemptRow, PaymentChanges, PaymentRow } from './rows.js';
import type { PaymentStatus } from './states.js';

/**
 * The pure decision core of the pipeline (docs/payments.md, "The pipeline"): from a payment,
 * its attempt and the gateway's answer, which step comes next. No I/O: the round's planner
 * (./round.ts) gathers the facts from its snapshot, asks, and turns the step into writes.
 */

/** What a decision reads of the payment. */
export type PaymentFacts = Pick<PaymentRow, 'status' | 'capture_method' | 'amount_authorized' | 'amount_captured' | 'amount_refunded'>;

/** What a decision reads of the attempt the gateway answered. */
export type AttemptFacts = Pick<AttemptRow, 'id' | 'operation' | 'gateway' | 'amount' | 'attempt_no'>;

/** What a decision needs from the store and the router, gathered before it is asked. */
export interface DecisionFacts {
  /**
   * Attempts of this operation at this gateway, the answered one included. Only a "not
   * processed" answer reads it (the service counts them only then).
   */
  triesHere: number;
  /** The payment's gateways in the order to try them: preferred first, then by priority. */
  candidates: readonly string[];
}

/**
 * The next step, as a small closed set:
 * - `success`: record it: the new status (`null`: an authorization of an automatic-capture
 *   payment, which stays `processing` and goes on to `capture`), the amounts, the ledger event;
 * - `decline`: final; the payment rests in `status`;
 * - `retry`: a new attempt at the same gateway after `backoffMs`;
 * - `failover`: a new attempt at `gateway` (authorizations only);
 * - `defer`: a new attempt at the same gateway, left to the relay for `afterMs`;
 * - `fail`: an authorization with nowhere left to go: the payment is `failed`;
 * - `pending`: the outcome is unknown: the attempt stays open under its gateway key.
 */
export type Step =
  | { kind: 'success'; status: PaymentStatus | null; changes: PaymentChanges; entry: LedgerEvent; then: 'answer' | 'capture' }
  | { kind: 'decline'; status: PaymentStatus; declineCode: string }
  | { kind: 'retry'; attemptNo: number; backoffMs: number }
  | { kind: 'failover'; attemptNo: number; gateway: string }
  | { kind: 'defer'; attemptNo: number; afterMs: number }
  | { kind: 'fail' }
  | { kind: 'pending' };

/** Steps that open a new attempt, under a new gateway key. */
export function opensNewKey(step: Step): step is Extract<Step, { attemptNo: number }> {
  return step.kind === 'retry' || step.kind === 'failover' || step.kind === 'defer';
}

/** Steps that answer the request for good. */
export function isFinal(step: Step): boolean {
  return step.kind === 'decline' || step.kind === 'fail' || (step.kind === 'success' && step.then === 'answer');
}

/**
 * Decides what one gateway answer leads to. Only "not processed" ever opens another attempt:
 * an unknown outcome keeps its key (another key, or another gateway, could execute the
 * operation twice), and a decline is final. Only an authorization fails over: a capture, void
 * or refund belongs to the gateway that holds the authorization.
 *
 * @example
 * decideNext(payment, attempt, { class: 'unknown', reason: 'timeout' }, facts, staticPolicy())
 * // → { kind: 'pending' }
 */
export function decideNext(p: PaymentFacts, attempt: AttemptFacts, outcome: GatewayOutcome, facts: DecisionFacts, policy: RetryPolicy): Step {
  const op = attempt.operation;
  switch (outcome.class) {
    case 'success':
      return succeeded(p, attempt, outcome);
    case 'decline':
      // A declined capture / void / refund leaves the payment as it was before the request.
      return {
        kind: 'decline',
        status: op === 'authorize' ? (p.amount_authorized > 0 ? 'authorized' : 'declined') : restingState(p),
        declineCode: outcome.declineCode,
      };
    case 'unknown':
      return { kind: 'pending' };
    case 'not_processed': {
      const attemptNo = attempt.attempt_no + 1;
      const answer = { gateway: attempt.gateway, operation: op, reason: outcome.reason, retryAfterMs: outcome.retryAfterMs };
      const gateway = op === 'authorize' ? policy.nextGateway(answer, facts.candidates) : null;
      // A learned policy may move on before the tries run out, never retry past them, and
      // never wait less than the gateway's Retry-After.
      const advice = policy.advise?.(answer, facts.triesHere, gateway === attempt.gateway ? null : gateway) ?? null;
      const backoffMs = advice?.kind === 'retry' ? Math.max(advice.backoffMs, outcome.retryAfterMs ?? 0) : policy.backoff(facts.triesHere, answer);
      if (facts.triesHere < policy.triesPerGateway && (advice === null || advice.kind === 'retry')) return { kind: 'retry', attemptNo, backoffMs };
      // However a policy orders the gateways, one operation makes at most `triesPerGateway`
      // attempts per candidate in all, so moves between gateways always end.
      const movesLeft = attempt.attempt_no < policy.triesPerGateway * Math.max(1, facts.candidates.length);
      if (gateway !== null && gateway !== attempt.gateway && movesLeft) return { kind: 'failover', attemptNo, gateway };
      if (op === 'authorize' && p.amount_authorized === 0) return { kind: 'fail' };
      // Nowhere else to go: keep trying here later, through the outbox, with backoff.
      // A deferral, like a retry, never comes back before the gateway's Retry-After.
      const afterMs = advice?.kind === 'defer' ? advice.afterMs : policy.deferMs(backoffMs);
      return { kind: 'defer', attemptNo, afterMs: Math.max(afterMs, outcome.retryAfterMs ?? 0) };
    }
  }
}

function succeeded(p: PaymentFacts, attempt: AttemptFacts, outcome: Extract<GatewayOutcome, { class: 'success' }>): Step {
  const settled = { amount_requested: null, decline_code: null };
  switch (attempt.operation) {
    case 'authorize': {
      const changes = { amount_authorized: attempt.amount, authorization_id: outcome.authorizationId ?? outcome.transactionId, gateway: attempt.gateway };
      const entry: LedgerEvent = { kind: 'authorize', amount: attempt.amount };
      if (p.capture_method === 'automatic') return { kind: 'success', status: null, changes, entry, then: 'capture' };
      return { kind: 'success', status: 'authorized', changes, entry, then: 'answer' };
    }
    case 'capture': {
      const captured = p.amount_captured + attempt.amount;
      return {
        kind: 'success',
        status: captured >= p.amount_authorized ? 'captured' : 'partially_captured',
        changes: { amount_captured: captured, ...settled },
        entry: { kind: 'capture', authorized: p.amount_authorized, captured: attempt.amount, attemptId: attempt.id },
        then: 'answer',
      };
    }
    case 'void':
      return {
        kind: 'success',
        status: 'voided',
        changes: { amount_voided: p.amount_authorized, ...settled },
        entry: { kind: 'void', authorized: p.amount_authorized },
        then: 'answer',
      };
    case 'refund': {
      const refunded = p.amount_refunded + attempt.amount;
      return {
        kind: 'success',
        status: refunded >= p.amount_captured ? 'refunded' : 'partially_refunded',
        changes: { amount_refunded: refunded, ...settled },
        entry: { kind: 'refund', amount: attempt.amount, attemptId: attempt.id },
        then: 'answer',
      };
    }
  }
}

/** Where a payment rests when an in-flight capture, void or refund is declined. */
export function restingState(p: PaymentFacts): PaymentStatus {
  if (p.status === 'capturing' || p.status === 'voiding') return 'authorized';
  if (p.status === 'refunding') {
    if (p.amount_refunded > 0) return 'partially_refunded';
    return p.amount_captured >= p.amount_authorized ? 'captured' : 'partially_captured';
  }
  if (p.status === 'processing') return p.amount_authorized > 0 ? 'authorized' : 'declined';
  return p.status;
}

// ——— the gateway's answer, when a send may already have executed ———
//
// An attempt whose outcome was unknown, or a pending one the current execution did not open
// itself (its owner may have died mid-call), may have executed already, or may still arrive at
// the gateway late. Until the gateway gives a definitive answer for its key, that key is the
// only one this operation may use: "not processed" for a re-send speaks only for the re-send,
// and a new attempt under a new key could execute the operation a second time.
//
//   owner A   open attempt n ── send (gateway executes) ──╳ SIGKILL
//   takeover             re-send n → 503 not processed → status(n) → found: record that
//                                                                 → not found: keep key n, retry later
//
// A first send answered "not processed" is looked up once too before the next key is used:
// a duplicate copy of it may have executed (found by the simulator's duplicate delivery).

/** Whether an open attempt may already have executed at the gateway. */
export function mayHaveExecuted(attempt: Pick<AttemptRow, 'status'>, openedByThisRun: boolean): boolean {
  return attempt.status === 'unknown' || (attempt.status === 'pending' && !openedByThisRun);
}

/** The first move on an open attempt: an attempt whose answer was unknown is looked up, not re-sent. */
export function firstMove(attempt: Pick<AttemptRow, 'status'>): 'lookup' | 'send' {
  return attempt.status === 'unknown' ? 'lookup' : 'send';
}

/** After looking an unknown attempt up: the outcome it settles, or null to re-send under the same key. */
export function outcomeOfLookup(found: GatewayOperationStatus | StatusUnknown): GatewayOutcome | null {
  if (found.found === true) return found.outcome;
  if (found.found === 'unknown') return { class: 'unknown', reason: `status lookup failed: ${found.reason}` };
  return null;
}

/**
 * What a "not processed" answer to a send means, given the lookup of the same gateway key
 * that followed it. "Not processed" speaks for the copy that answered:
 * - found: that is the outcome;
 * - not found: a first send's "not processed" stands; a send that may have executed before
 *   (`mayHaveExecuted`) keeps its key;
 * - lookup refused (the gateway is down for everything): an authorization's first send is
 *   trusted, so an outage still fails over; a capture, void or refund has nowhere else to go,
 *   so it keeps its key until the gateway can tell;
 * - lookup unanswered: nobody can tell, so the key stays open for recovery.
 * Anything but "not processed" comes back as it is.
 */
export function settleNotProcessed(
  answer: Extract<GatewayOutcome, { class: 'not_processed' }>,
  lookup: GatewayOperationStatus | StatusUnknown,
  o: { mayHaveExecuted: boolean; operation: AttemptRow['operation']; gatewayKey: string },
): GatewayOutcome {
  if (lookup.found === true) return lookup.outcome;
  if (o.mayHaveExecuted) return { class: 'unknown', reason: `re-send not processed (${answer.reason}); keeping gateway key ${o.gatewayKey}` };
  if (lookup.found === 'unknown' && !(lookup.refused && o.operation === 'authorize')) {
    return { class: 'unknown', reason: `not processed (${answer.reason}), but the lookup of ${o.gatewayKey} went unanswered (${lookup.reason})` };
  }
  return answer;
}
