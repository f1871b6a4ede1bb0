import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GatewayOperation } from '../gateways/port.js';
import { type GatewayLogEntry, gatewayLogDifferences, type PaymentFacts } from './gatewayLog.js';

/** One payment's life at the gateways, as a careful Idem would drive it. */
const life = fc.record({
  amount: fc.integer({ min: 1, max: 100_000 }),
  declined: fc.boolean(),
  next: fc.constantFrom('none', 'void', 'capture'),
  captureShare: fc.double({ min: 0.01, max: 1, noNaN: true }),
  refundShare: fc.option(fc.double({ min: 0.01, max: 1, noNaN: true }), { nil: null }),
});

type Life = typeof life extends fc.Arbitrary<infer T> ? T : never;

/** The gateways' log and Idem's record of the same payments: they agree by construction. */
function world(lives: Life[]): { log: GatewayLogEntry[]; facts: PaymentFacts[] } {
  const log: GatewayLogEntry[] = [];
  const facts: PaymentFacts[] = [];
  for (const [i, l] of lives.entries()) {
    const id = `pay_${i}`;
    const op = (operation: GatewayOperation, amount: number, status: GatewayLogEntry['status'] = 'succeeded') =>
      log.push({ id: `txn_${log.length}`, idempotency_key: `${id}.${operation}.1`, operation, amount, currency: 'EUR', reference: id, status });
    const f = { id, amount: l.amount, status: 'authorized', amount_authorized: l.amount, amount_captured: 0, amount_refunded: 0 };
    facts.push(f);
    if (l.declined) {
      op('authorize', l.amount, 'declined');
      Object.assign(f, { status: 'declined', amount_authorized: 0 });
      continue;
    }
    op('authorize', l.amount);
    if (l.next === 'void') {
      op('void', l.amount);
      f.status = 'voided';
    } else if (l.next === 'capture') {
      const captured = Math.max(1, Math.floor(l.amount * l.captureShare));
      op('capture', captured);
      Object.assign(f, { status: captured === l.amount ? 'captured' : 'partially_captured', amount_captured: captured });
      if (l.refundShare !== null) {
        const refunded = Math.max(1, Math.floor(captured * l.refundShare));
        op('refund', refunded);
        Object.assign(f, { status: refunded === captured ? 'refunded' : 'partially_refunded', amount_refunded: refunded });
      }
    }
  }
  return { log, facts };
}

const lives = fc.array(life, { minLength: 1, maxLength: 12 });

describe('gatewayLogDifferences', () => {
  it('finds nothing when every operation ran once and Idem recorded what the gateways did', () => {
    fc.assert(
      fc.property(lives, (ls) => {
        const { log, facts } = world(ls);
        expect(gatewayLogDifferences(log, facts)).toEqual([]);
        expect(gatewayLogDifferences(log, null)).toEqual([]);
      }),
    );
  });

  it('any log entry executed a second time is an I1 difference naming its gateway key', () => {
    fc.assert(
      fc.property(lives, fc.nat(), (ls, pick) => {
        const { log, facts } = world(ls);
        const again = log[pick % log.length]!;
        const found = gatewayLogDifferences([...log, { ...again, id: 'txn_again' }], facts);
        expect(found).toContainEqual({ invariant: 'I1', paymentId: null, detail: `gateway key ${again.idempotency_key} executed 2 times` });
      }),
    );
  });

  it('a final payment whose recorded amount differs from the gateways is an I4 difference for that payment', () => {
    fc.assert(
      fc.property(lives, fc.nat(), fc.constantFrom('amount_authorized', 'amount_captured', 'amount_refunded'), (ls, pick, field) => {
        const { log, facts } = world(ls);
        const p = facts[pick % facts.length]!;
        p[field] = p[field]! + 1;
        const found = gatewayLogDifferences(log, facts);
        expect(found.length).toBeGreaterThan(0);
        expect(found.every((d) => d.invariant === 'I4' && d.paymentId === p.id)).toBe(true);
      }),
    );
  });

  it('a payment in flight is not held to its recorded amounts: the gateway may be ahead', () => {
    const { log, facts } = world([{ amount: 1000, declined: false, next: 'capture', captureShare: 1, refundShare: null }]);
    Object.assign(facts[0]!, { status: 'capturing', amount_captured: 0 });
    expect(gatewayLogDifferences(log, facts)).toEqual([]);
  });

  it('two successful authorizations, a capture beyond the amount, a void with captures and an unknown payment are I1', () => {
    const e = (operation: GatewayOperation, key: string, amount: number, reference = 'pay_1'): GatewayLogEntry => ({
      id: `txn_${key}`,
      idempotency_key: key,
      operation,
      amount,
      currency: 'EUR',
      reference,
      status: 'succeeded',
    });
    const log = [
      e('authorize', 'a1', 1000),
      e('authorize', 'a2', 1000),
      e('capture', 'c1', 1500),
      e('void', 'v1', 1000),
      e('authorize', 'x1', 10, 'pay_ghost'),
    ];
    const details = gatewayLogDifferences(new Map([['sim-a', log]]), [{ id: 'pay_1', amount: 1000 }])
      .filter((d) => d.invariant === 'I1')
      .map((d) => d.detail);
    expect(details).toEqual([
      'sim-a executed authorize for pay_ghost, which Idem does not know',
      'pay_1: 2 successful authorizations across the gateways',
      'pay_1: gateways captured 1500 > amount 1000',
      'pay_1: both voided and captured at the gateways',
    ]);
  });
});
