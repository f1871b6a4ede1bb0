import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classify, idemRecords, type AttemptFacts, type PaymentFacts } from './classify.js';
import { exactMatcher } from './match/exact.js';
import { exactThenScored } from './loopMatcher.js';
import type { GatewayRecord } from './records.js';

/**
 * A world as the loop sees it: payments Idem authorized (some captured) and the gateway's log
 * of them, where some records lost their keys the way settlement files lose them (no gateway
 * key, the reference reformatted, cut short or gone, the authorization id gone), some payments
 * have a twin (same merchant, amount and time: nothing tells their bare records apart), and a
 * few operations were made elsewhere under keys that are not Idem's.
 */
interface World {
  payments: PaymentFacts[];
  attempts: AttemptFacts[];
  records: GatewayRecord[];
}

const T0 = 1_700_000_000_000;

const world = fc
  .array(
    fc.record({
      amount: fc.integer({ min: 100, max: 5_000 }),
      captured: fc.boolean(),
      twin: fc.boolean(),
      /** How the gateway logged the authorization: with Idem's key, or as a settlement file would. */
      logged: fc.constantFrom('keyed', 'keyed', 'reformatted', 'truncated', 'bare'),
      skewMs: fc.integer({ min: -600_000, max: 600_000 }),
      elsewhere: fc.boolean(),
    }),
    { minLength: 1, maxLength: 8 },
  )
  .map((specs): World => {
    const w: World = { payments: [], attempts: [], records: [] };
    let n = 0;
    const add = (spec: (typeof specs)[number], at: number, merchant: string) => {
      const i = n++;
      const id = `pay_${i.toString(36).padStart(2, '0')}k9xab7mq2zt8vw4hn6pcr5d`;
      const auth = `auth_${i}`;
      w.payments.push({
        id,
        merchant_id: merchant,
        status: spec.captured ? 'captured' : 'authorized',
        currency: 'EUR',
        amount: spec.amount,
        authorization_id: auth,
        amount_authorized: spec.amount,
        amount_captured: spec.captured ? spec.amount : 0,
        gateway: 'g',
      });
      const ops = spec.captured ? (['authorize', 'capture'] as const) : (['authorize'] as const);
      for (const operation of ops) {
        const a: AttemptFacts = {
          id: `att_${i}_${operation}`,
          payment_id: id,
          operation,
          gateway: 'g',
          gateway_key: `${id}.${operation}.1`,
          amount: spec.amount,
          status: 'succeeded',
          gateway_reference: `txn_${i}_${operation}`,
          created_at: new Date(at + (operation === 'capture' ? 60_000 : 0)),
        };
        w.attempts.push(a);
        const base = { gateway: 'g', operation, status: 'succeeded' as const, amount: spec.amount, currency: 'EUR', at: a.created_at.getTime() };
        if (spec.logged === 'keyed') {
          w.records.push({ ...base, id: a.gateway_reference!, gatewayKey: a.gateway_key, transactionId: a.gateway_reference!, authorizationId: auth, reference: id, merchantId: merchant });
          continue;
        }
        // Staged records carry their own id as transaction id; a settlement file's ids are its own.
        const fileId = `stl_${i}_${operation}`;
        const reference = spec.logged === 'reformatted' ? `ORDER ${id.toUpperCase().replace('_', '-')}` : spec.logged === 'truncated' ? id.slice(4, 18).toUpperCase() : undefined;
        w.records.push({ ...base, id: fileId, transactionId: fileId, at: base.at + spec.skewMs, ...(reference !== undefined ? { reference } : {}) });
      }
      if (spec.elsewhere) {
        w.records.push({ gateway: 'g', operation: 'capture', status: 'succeeded', amount: spec.amount, currency: 'EUR', at: at + 120_000, id: `dash_${i}`, transactionId: `dash_${i}`, gatewayKey: `dashboard-${i}`, authorizationId: auth, reference: id });
      }
    };
    specs.forEach((spec, k) => {
      const at = T0 + k * 3_600_000;
      add(spec, at, `m${k % 2}`);
      if (spec.twin) add({ ...spec, logged: spec.logged === 'keyed' ? 'keyed' : 'bare', elsewhere: false }, at + 1_000, `m${k % 2}`);
    });
    return w;
  });

describe('the loop matcher: exact, then scored for records that lost their keys', () => {
  it('places every gateway record once; never changes what an exact key decides; never moves money on a score; sends what it cannot call to a review case', () => {
    const seen = { scored: 0, review: 0 };
    fc.assert(
      fc.property(world, (w) => {
        const matcher = exactThenScored();
        const idem = idemRecords(w.payments, w.attempts);
        const result = matcher.match(idem, w.records);
        const placed = [...result.matches.flatMap((m) => m.gateway), ...result.review.map((r) => r.gateway), ...result.unmatchedGateway];
        expect(placed.map((g) => g.id).sort()).toEqual(w.records.map((g) => g.id).sort());
        const used = result.matches.map((m) => m.idem.id);
        expect(new Set(used).size).toBe(used.length);
        for (const m of result.matches) if (m.evidence.rule === 'scored') for (const g of m.gateway) expect(g.gatewayKey).toBeUndefined();

        const exact = new Map(classify(w.records, w.payments, w.attempts, exactMatcher).map((c) => [c.record.id, c.verdict]));
        const inReview = new Set(result.review.map((r) => r.gateway.id));
        for (const c of classify(w.records, w.payments, w.attempts, exactThenScored())) {
          if (c.record.gatewayKey !== undefined) expect(c.verdict).toEqual(exact.get(c.record.id));
          if (c.match?.evidence.rule === 'scored') expect(['consistent', 'case']).toContain(c.verdict.kind);
          if (inReview.has(c.record.id)) {
            expect(c.verdict).toMatchObject({ kind: 'case', class: 'match_review' });
            expect(c.verdict.kind === 'case' && c.verdict.candidates!.length).toBeGreaterThan(0);
          }
          if (c.verdict.kind === 'void') expect(w.payments.map((p) => p.authorization_id)).not.toContain(c.verdict.authorizationId);
        }
        seen.scored += result.matches.filter((m) => m.evidence.rule === 'scored').length;
        seen.review += result.review.length;
      }),
      { numRuns: 150 },
    );
    // The worlds reach both outcomes the property is about.
    expect(seen.scored).toBeGreaterThan(0);
    expect(seen.review).toBeGreaterThan(0);
  });

  it('opens a review case naming both twin payments for a bare authorization between them; the exact matcher alone raises it with no candidate, never voids it', () => {
    const payment = (id: string): PaymentFacts => ({ id, merchant_id: 'm', status: 'authorized', currency: 'EUR', amount: 2_500, authorization_id: `auth_${id}`, amount_authorized: 2_500, amount_captured: 0, gateway: 'g' });
    const attempt = (p: PaymentFacts, at: number): AttemptFacts => ({ id: `att_${p.id}`, payment_id: p.id, operation: 'authorize', gateway: 'g', gateway_key: `${p.id}.authorize.1`, amount: 2_500, status: 'succeeded', gateway_reference: null, created_at: new Date(at) });
    const [a, b] = [payment('pay_twin_a'), payment('pay_twin_b')];
    const bare: GatewayRecord = { id: 'stl_1', gateway: 'g', operation: 'authorize', status: 'succeeded', amount: 2_500, currency: 'EUR', at: T0 + 30_000, transactionId: 'stl_1', authorizationId: 'auth_from_a_file' };
    const attempts = [attempt(a, T0), attempt(b, T0 + 1_000)];

    expect(classify([bare], [a, b], attempts, exactMatcher)[0]!.verdict).toMatchObject({ kind: 'case', class: 'match_review', candidates: [] });
    const [c] = classify([bare], [a, b], attempts, exactThenScored());
    expect(c!.verdict).toMatchObject({ kind: 'case', class: 'match_review', merchantId: 'm', paymentId: null });
    expect(c!.verdict.kind === 'case' && c!.verdict.candidates!.map((x) => x.attemptId).sort()).toEqual(['att_pay_twin_a', 'att_pay_twin_b']);
    for (const x of c!.verdict.kind === 'case' ? c!.verdict.candidates! : []) expect(x.evidence).toMatchObject({ rule: 'scored', probability: expect.any(Number) });
  });

  it('opens a review case for each of two bare lines between the same twins: neither becomes an orphan because the other named the candidates first', () => {
    const payment = (id: string): PaymentFacts => ({ id, merchant_id: 'm', status: 'authorized', currency: 'EUR', amount: 2_500, authorization_id: `auth_${id}`, amount_authorized: 2_500, amount_captured: 0, gateway: 'g' });
    const attempt = (p: PaymentFacts, at: number): AttemptFacts => ({ id: `att_${p.id}`, payment_id: p.id, operation: 'authorize', gateway: 'g', gateway_key: `${p.id}.authorize.1`, amount: 2_500, status: 'succeeded', gateway_reference: null, created_at: new Date(at) });
    const [a, b] = [payment('pay_twin_a'), payment('pay_twin_b')];
    const line = (id: string, at: number): GatewayRecord => ({ id, gateway: 'g', operation: 'authorize', status: 'succeeded', amount: 2_500, currency: 'EUR', at, transactionId: id, authorizationId: `psp_${id}` });
    const verdicts = classify([line('stl_1', T0 + 20_000), line('stl_2', T0 + 21_000)], [a, b], [attempt(a, T0), attempt(b, T0 + 1_000)], exactThenScored());
    expect(verdicts.map((c) => c.verdict)).toMatchObject([
      { kind: 'case', class: 'match_review' },
      { kind: 'case', class: 'match_review' },
    ]);
    for (const c of verdicts) expect(c.verdict.kind === 'case' && c.verdict.candidates!.map((x) => x.attemptId).sort()).toEqual(['att_pay_twin_a', 'att_pay_twin_b']);
  });
});
