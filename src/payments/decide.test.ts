import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GatewayOperation, GatewayOperationStatus, GatewayOutcome, StatusUnknown } from '../gateways/port.js';
import { seededRandom } from '../ports/seeded.js';
import { adaptivePolicy } from '../resilience/adaptive.js';
import { HealthBook } from '../resilience/book.js';
import { staticPolicy, type RetryPolicy } from '../resilience/policy.js';
import {
  decideNext,
  firstMove,
  isFinal,
  mayHaveExecuted,
  opensNewKey,
  outcomeOfLookup,
  settleNotProcessed,
  type AttemptFacts,
  type DecisionFacts,
  type PaymentFacts,
  type Step,
} from './decide.js';
import { canTransition } from './states.js';

const amount = fc.integer({ min: 1, max: 1_000_000 });
const gatewayNames = fc.uniqueArray(fc.constantFrom('alpha', 'beta', 'gamma', 'delta'), { minLength: 1, maxLength: 4 });

/** A payment with one operation in flight, as validation and the pipeline leave it, and that operation's attempt. */
const inFlight: fc.Arbitrary<{ p: PaymentFacts; attempt: AttemptFacts; candidates: string[] }> = fc
  .record({ op: fc.constantFrom<GatewayOperation>('authorize', 'capture', 'void', 'refund'), auto: fc.boolean(), a: amount, x: fc.double({ min: 0, max: 1, noNaN: true }), y: fc.double({ min: 0, max: 1, noNaN: true }), candidates: gatewayNames, at: fc.nat(), no: fc.integer({ min: 1, max: 20 }) })
  .map(({ op, auto, a, x, y, candidates, at, no }) => {
    const part = (n: number, f: number) => Math.max(1, Math.floor(n * f));
    const base: PaymentFacts = { status: 'processing', capture_method: auto ? 'automatic' : 'manual', amount_authorized: 0, amount_captured: 0, amount_refunded: 0 };
    let p = base;
    let amt = a;
    if (op === 'capture') {
      // An automatic capture follows its authorization while the payment is still processing.
      p = { ...base, status: auto ? 'processing' : 'capturing', amount_authorized: a };
      amt = auto ? a : part(a, x);
    } else if (op === 'void') {
      p = { ...base, capture_method: 'manual', status: 'voiding', amount_authorized: a };
    } else if (op === 'refund') {
      const captured = part(a, x);
      const refunded = Math.min(captured - 1, Math.floor(captured * y));
      p = { ...base, status: 'refunding', amount_authorized: a, amount_captured: captured, amount_refunded: refunded };
      amt = part(captured - refunded, y);
    }
    const gateway = candidates[at % candidates.length]!;
    return { p, attempt: { id: 'att_1', operation: op, gateway, amount: amt, attempt_no: no }, candidates };
  });

const outcome: fc.Arbitrary<GatewayOutcome> = fc.oneof(
  fc.record({ class: fc.constant('success' as const), transactionId: fc.constant('tx_1') }),
  fc.record({ class: fc.constant('decline' as const), declineCode: fc.constantFrom('insufficient_funds', 'do_not_honor') }),
  fc.record({ class: fc.constant('not_processed' as const), reason: fc.constant('503') }, { requiredKeys: ['class', 'reason'] }),
  fc.record({ class: fc.constant('not_processed' as const), reason: fc.constant('429'), retryAfterMs: fc.integer({ min: 0, max: 120_000 }) }),
  fc.record({ class: fc.constant('unknown' as const), reason: fc.constant('timeout') }),
);

const policy = fc.record({ triesPerGateway: fc.integer({ min: 1, max: 4 }), baseMs: fc.integer({ min: 1, max: 500 }) }).map((o) => staticPolicy(o));

/**
 * The learned policy in any state its model can reach: a book fed a random history of answers
 * (some gateways down, some degraded, budgets spent, Retry-Afters pending).
 */
const learned: fc.Arbitrary<RetryPolicy> = fc
  .record({
    history: fc.array(
      fc.record({
        gateway: fc.constantFrom('alpha', 'beta', 'gamma', 'delta'),
        outcome: fc.constantFrom('success' as const, 'not_processed' as const, 'unknown' as const, 'decline' as const),
        first: fc.boolean(),
        latencyMs: fc.integer({ min: 1, max: 3000 }),
        retryAfterMs: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
      }),
      { maxLength: 60 },
    ),
    seed: fc.nat(),
  })
  .map(({ history, seed }) => {
    const book = new HealthBook();
    history.forEach((h, i) => book.observe({ ...h, at: i * 10, operation: 'authorize', reason: '503', retryDelayMs: h.first ? undefined : 50 }));
    return adaptivePolicy({ book, clock: { now: () => history.length * 10 }, random: seededRandom(seed) });
  });
const anyPolicy = fc.oneof(policy, learned);

const lookup: fc.Arbitrary<GatewayOperationStatus | StatusUnknown> = fc.oneof(
  fc.constant({ found: false as const }),
  outcome.filter((o) => o.class === 'success' || o.class === 'decline').map((o) => ({ found: true as const, outcome: o })),
  fc.constant({ found: 'unknown' as const, reason: 'timeout' }),
  fc.constant({ found: 'unknown' as const, reason: '503', refused: true as const }),
);

const decide = (p: PaymentFacts, attempt: AttemptFacts, o: GatewayOutcome, facts: DecisionFacts, pol = staticPolicy()): Step => decideNext(p, attempt, o, facts, pol);

describe('decideNext', () => {
  it('on an unknown outcome keeps the key: no new attempt, no failover, no answer', () => {
    fc.assert(
      fc.property(inFlight, fc.integer({ min: 1, max: 6 }), anyPolicy, ({ p, attempt, candidates }, triesHere, pol) => {
        const step = decideNext(p, attempt, { class: 'unknown', reason: 'timeout' }, { triesHere, candidates }, pol);
        expect(step).toEqual({ kind: 'pending' });
      }),
    );
  });

  it('opens a new gateway key only after "not processed"; a decline is final, never retried or failed over', () => {
    fc.assert(
      fc.property(inFlight, outcome, fc.integer({ min: 1, max: 6 }), anyPolicy, ({ p, attempt, candidates }, o, triesHere, pol) => {
        const step = decideNext(p, attempt, o, { triesHere, candidates }, pol);
        if (opensNewKey(step)) {
          expect(o.class).toBe('not_processed');
          expect(step.attemptNo).toBe(attempt.attempt_no + 1);
        }
        if (o.class === 'decline') {
          expect(step).toMatchObject({ kind: 'decline', declineCode: o.declineCode });
          expect(isFinal(step)).toBe(true);
        }
        if (step.kind === 'failover') {
          expect(attempt.operation).toBe('authorize');
          expect(step.gateway).not.toBe(attempt.gateway);
          expect(candidates).toContain(step.gateway);
        }
      }),
    );
  });

  it('retries inline at one gateway only while the policy allows more tries there, never shorter than Retry-After', () => {
    fc.assert(
      fc.property(inFlight, outcome.filter((o) => o.class === 'not_processed'), fc.integer({ min: 1, max: 6 }), policy, ({ p, attempt, candidates }, o, triesHere, pol) => {
        const step = decideNext(p, attempt, o, { triesHere, candidates }, pol);
        if (step.kind === 'retry') {
          expect(triesHere + 1).toBeLessThanOrEqual(pol.triesPerGateway);
          if (o.class === 'not_processed') expect(step.backoffMs).toBeGreaterThanOrEqual(o.retryAfterMs ?? 0);
        } else {
          expect(triesHere).toBeGreaterThanOrEqual(pol.triesPerGateway);
          expect(['failover', 'defer', 'fail']).toContain(step.kind);
        }
      }),
    );
  });

  it('under the learned policy: retries only within its tries and never before Retry-After; moves end', () => {
    fc.assert(
      fc.property(inFlight, outcome.filter((o) => o.class === 'not_processed'), fc.integer({ min: 1, max: 6 }), learned, ({ p, attempt, candidates }, o, triesHere, pol) => {
        const step = decideNext(p, attempt, o, { triesHere, candidates }, pol);
        if (step.kind === 'retry') {
          expect(triesHere).toBeLessThan(pol.triesPerGateway);
          if (o.class === 'not_processed') expect(step.backoffMs).toBeGreaterThanOrEqual(o.retryAfterMs ?? 0);
        }
        if (step.kind === 'defer' && o.class === 'not_processed') expect(step.afterMs).toBeGreaterThanOrEqual(o.retryAfterMs ?? 0);
        if (step.kind === 'failover') expect(attempt.attempt_no).toBeLessThan(pol.triesPerGateway * candidates.length);
      }),
    );
    // A payment failing everywhere ends (fails) within triesPerGateway attempts per candidate.
    fc.assert(
      fc.property(gatewayNames, learned, (candidates, pol) => {
        const p: PaymentFacts = { status: 'processing', capture_method: 'manual', amount_authorized: 0, amount_captured: 0, amount_refunded: 0 };
        const tries = new Map<string, number>();
        let attempt: AttemptFacts = { id: 'att_1', operation: 'authorize', gateway: candidates[0]!, amount: 100, attempt_no: 1 };
        for (;;) {
          const triesHere = (tries.get(attempt.gateway) ?? 0) + 1;
          tries.set(attempt.gateway, triesHere);
          const step = decideNext(p, attempt, { class: 'not_processed', reason: '503' }, { triesHere, candidates }, pol);
          expect(attempt.attempt_no).toBeLessThanOrEqual(pol.triesPerGateway * candidates.length);
          if (step.kind === 'retry' || step.kind === 'failover') attempt = { ...attempt, attempt_no: step.attemptNo, gateway: step.kind === 'failover' ? step.gateway : attempt.gateway };
          else return true;
        }
      }),
    );
  });

  it('walks an authorization through each gateway once, at most triesPerGateway inline tries each, then fails', () => {
    fc.assert(
      fc.property(gatewayNames, policy, fc.boolean(), (candidates, pol, auto) => {
        const p: PaymentFacts = { status: 'processing', capture_method: auto ? 'automatic' : 'manual', amount_authorized: 0, amount_captured: 0, amount_refunded: 0 };
        const tries = new Map<string, number>();
        let attempt: AttemptFacts = { id: 'att_1', operation: 'authorize', gateway: candidates[0]!, amount: 100, attempt_no: 1 };
        for (;;) {
          const triesHere = (tries.get(attempt.gateway) ?? 0) + 1;
          tries.set(attempt.gateway, triesHere);
          expect(triesHere).toBeLessThanOrEqual(pol.triesPerGateway);
          const step = decideNext(p, attempt, { class: 'not_processed', reason: '503' }, { triesHere, candidates }, pol);
          if (step.kind === 'retry') attempt = { ...attempt, attempt_no: step.attemptNo };
          else if (step.kind === 'failover') {
            expect(tries.has(step.gateway)).toBe(false);
            attempt = { ...attempt, gateway: step.gateway, attempt_no: step.attemptNo };
          } else {
            expect(step.kind).toBe('fail');
            expect(canTransition(p.status, 'failed')).toBe(true);
            break;
          }
        }
        expect([...tries.keys()]).toEqual(candidates);
        expect(attempt.attempt_no).toBe(candidates.length * pol.triesPerGateway);
      }),
    );
  });

  it('moves the state only as the state machine allows, keeping captured ≤ authorized and refunded ≤ captured', () => {
    fc.assert(
      fc.property(inFlight, outcome, fc.integer({ min: 1, max: 6 }), ({ p, attempt, candidates }, o, triesHere) => {
        const step = decide(p, attempt, o, { triesHere, candidates });
        const to = step.kind === 'success' || step.kind === 'decline' ? step.status : step.kind === 'fail' ? 'failed' : null;
        if (to !== null) expect(canTransition(p.status, to), `${p.status} → ${to}`).toBe(true);
        if (step.kind === 'success') {
          if (step.status === null) expect([attempt.operation, p.capture_method, step.then]).toEqual(['authorize', 'automatic', 'capture']);
          const after = { ...p, ...step.changes };
          expect(after.amount_captured).toBeLessThanOrEqual(after.amount_authorized);
          expect(after.amount_refunded).toBeLessThanOrEqual(after.amount_captured);
        }
      }),
    );
  });
});

describe('a "not processed" answer when a send may already have executed', () => {
  /** One gateway round as the service runs it, with the answers given. */
  const round = (
    attempt: { status: 'pending' | 'unknown'; operation: GatewayOperation },
    openedByThisRun: boolean,
    before: GatewayOperationStatus | StatusUnknown,
    sent: GatewayOutcome,
    after: GatewayOperationStatus | StatusUnknown,
  ): GatewayOutcome => {
    if (firstMove(attempt) === 'lookup') {
      const found = outcomeOfLookup(before);
      if (found !== null) return found;
    }
    if (sent.class !== 'not_processed') return sent;
    return settleNotProcessed(sent, after, { mayHaveExecuted: mayHaveExecuted(attempt, openedByThisRun), operation: attempt.operation, gatewayKey: 'pay_1.authorize.1' });
  };

  it('never lets a second key open while an earlier send of the same attempt may have executed', () => {
    fc.assert(
      fc.property(
        fc.record({
          status: fc.constantFrom<'pending' | 'unknown'>('pending', 'unknown'),
          openedByThisRun: fc.boolean(),
          before: lookup,
          sent: outcome,
          after: lookup,
          flight: inFlight,
        }),
        ({ status, openedByThisRun, before, sent, after, flight: { p, attempt, candidates } }) => {
          const { operation } = attempt;
          const resolved = round({ status, operation }, openedByThisRun, before, sent, after);
          const step = decide(p, attempt, resolved, { triesHere: 1, candidates });
          if (!opensNewKey(step)) return;
          // A new key only when nothing under this one can have executed, as far as anyone can tell.
          expect(mayHaveExecuted({ status }, openedByThisRun)).toBe(false);
          expect(after.found === false || (after.found === 'unknown' && after.refused === true && operation === 'authorize')).toBe(true);
        },
      ),
    );
  });

  it('re-sends an unknown attempt only after its lookup found nothing', () => {
    expect(firstMove({ status: 'unknown' })).toBe('lookup');
    expect(firstMove({ status: 'pending' })).toBe('send');
    expect(outcomeOfLookup({ found: false })).toBeNull();
    expect(outcomeOfLookup({ found: 'unknown', reason: 'timeout' })).toMatchObject({ class: 'unknown' });
  });
});
