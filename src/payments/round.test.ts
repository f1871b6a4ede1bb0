import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GatewayOperation, GatewayOutcome } from '../gateways/port.js';
import { seededRandom } from '../ports/seeded.js';
import { staticPolicy } from '../resilience/policy.js';
import { MemoryStore } from '../store/memory/index.js';
import { applyWrites } from './batch.js';
import { isFinal } from './decide.js';
import { planRound, type RoundContext } from './round.js';
import { attemptOrder, toView, type PaymentRow } from './rows.js';

/**
 * The planner's picture of the rows is what a store holds once the plan is written: for any
 * operation in flight, answer and retry policy, the plan applied in a transaction to the
 * in-memory store (the reference the SQL stores are held to by test/contract/) leaves exactly
 * the payment and attempts the plan says, one event per planned event, and a response exactly
 * when the step is final. A snapshot whose attempt is already recorded plans nothing.
 */

const T = Date.UTC(2031, 0, 1);

const inFlight = fc.record({
  op: fc.constantFrom<GatewayOperation>('authorize', 'capture', 'void', 'refund'),
  auto: fc.boolean(),
  amount: fc.integer({ min: 2, max: 1_000_000 }),
  tries: fc.integer({ min: 1, max: 3 }),
  earlier: fc.integer({ min: 0, max: 2 }),
});

const outcome: fc.Arbitrary<GatewayOutcome> = fc.oneof(
  fc.constant<GatewayOutcome>({ class: 'success', transactionId: 'tx_1' }),
  fc.constant<GatewayOutcome>({ class: 'decline', declineCode: 'do_not_honor' }),
  fc.constant<GatewayOutcome>({ class: 'not_processed', reason: '503' }),
  fc.constant<GatewayOutcome>({ class: 'unknown', reason: 'timeout' }),
);

/** A payment with `op` in flight at sim-a (after `earlier` attempts of it that were not processed), as the pipeline leaves it. */
async function seed(store: MemoryStore, s: { op: GatewayOperation; auto: boolean; amount: number; earlier: number }) {
  const at = new Date(T);
  await store.insertMerchant({ id: 'mer_1', name: 'm', keyHash: 'h', keyPrefix: 'sk_test' });
  const status = s.op === 'authorize' || (s.op === 'capture' && s.auto) ? 'processing' : s.op === 'capture' ? 'capturing' : s.op === 'void' ? 'voiding' : 'refunding';
  const captured = s.op === 'refund' ? s.amount : 0;
  const payment = await store.insertPayment({
    id: 'pay_1', merchant_id: 'mer_1', amount: s.amount, currency: 'EUR', capture_method: s.op === 'void' || s.op === 'refund' ? 'manual' : s.auto ? 'automatic' : 'manual',
    status, token: 'tok_visa', reference: null, metadata: {}, preferred_gateway: null, gateway: 'sim-a', idempotency_key: 'k', created_at: at, updated_at: at,
  });
  const moved: PaymentRow = s.op === 'authorize' ? payment : await store.updatePayment(payment, { amount_authorized: s.amount, amount_captured: captured, amount_requested: s.amount }, at);
  for (let n = 1; n <= s.earlier + 1; n++) {
    const a = await store.insertAttempt({ id: `att_${n}`, payment_id: 'pay_1', operation: s.op, attempt_no: n, gateway: 'sim-a', gateway_key: `pay_1.${s.op}.${n}`, amount: s.amount, idempotency_key: 'k', created_at: new Date(T + n) }, at);
    if (n <= s.earlier) await store.recordAttempt(a, { status: 'not_processed', error: '503' }, at);
  }
  return { payment: moved, attempts: await store.listAttempts('pay_1') };
}

function context(tries: number, seedNo: number): RoundContext {
  return {
    request: 'create',
    requestId: 'req_1',
    meta: {},
    now: new Date(T + 1_000),
    policy: staticPolicy({ triesPerGateway: tries, baseMs: 10 }),
    candidates: () => ['sim-a', 'sim-b'],
    random: seededRandom(seedNo),
    relayDelayMs: 30_000,
    render: (r) => ({ status: 200, contentType: 'application/json', body: JSON.stringify(r.payment) }),
    complete: () => null,
  };
}

describe('planRound', () => {
  it('plans what the store then holds: the payment, the attempts, the events, and a response exactly when final', async () => {
    await fc.assert(
      fc.asyncProperty(inFlight, outcome, fc.nat(), async (s, answer, seedNo) => {
        const store = new MemoryStore();
        const snapshot = await seed(store, s);
        const open = snapshot.attempts.find((a) => a.status === 'pending')!;
        const planned = planRound(context(s.tries, seedNo), snapshot, open, answer);
        if (planned.kind !== 'plan') throw new Error(planned.reason);
        const { plan } = planned;
        await store.transaction((tx) => applyWrites(tx, plan.writes));

        expect(plan.writes[0]).toMatchObject({ op: 'recordAttempt', attempt: { id: open.id } });
        expect(plan.writes.filter((w) => w.op === 'updatePayment').length).toBeLessThanOrEqual(1);
        expect(await store.findPayment('mer_1', 'pay_1')).toEqual(plan.after.payment);
        const view = await store.loadView('mer_1', 'pay_1');
        expect(view).toEqual(toView(plan.after.payment, [...plan.after.attempts].sort(attemptOrder)));
        expect((await store.listEvents('pay_1')).map((e) => e.id)).toEqual(plan.writes.flatMap((w) => (w.op === 'insertEvent' ? [w.event.id] : [])));
        expect(plan.response !== null).toBe(isFinal(plan.step));
        if (plan.response) expect(JSON.parse(plan.response.body)).toEqual(view);
        if (plan.next) expect(await store.findOpenAttempt('pay_1')).toMatchObject({ id: plan.next.attempt.id, status: 'pending' });
      }),
      { numRuns: 150 },
    );
  });

  it('refuses a snapshot whose attempt is already recorded, and draws no id for it', async () => {
    const store = new MemoryStore();
    const snapshot = await seed(store, { op: 'authorize', auto: false, amount: 1000, earlier: 1 });
    const recorded = snapshot.attempts[0]!;
    let draws = 0;
    const c = { ...context(2, 1), random: { ...seededRandom(1), bytes: (n: number) => (draws++, seededRandom(1).bytes(n)) } };
    expect(planRound(c, snapshot, recorded, { class: 'success', transactionId: 'tx' })).toEqual({ kind: 'stale', reason: `attempt ${recorded.id} was already recorded` });
    expect(draws).toBe(0);
  });
});
