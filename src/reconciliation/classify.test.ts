import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GatewayOperation } from '../gateways/port.js';
import { REMEDIATION_KEY_PREFIX, remediationKey } from './cases.js';
import { classify, idemRecords, type AttemptFacts, type PaymentFacts } from './classify.js';
import { exactMatcher } from './match/exact.js';
import type { GatewayRecord } from './records.js';

/**
 * A world: payments Idem authorized (some captured), the gateway's records of Idem's own
 * attempts, and records planted beside them — duplicate and orphaned authorizations, outside
 * captures, declines, and the voids of reconciliation's own remediations.
 */
interface World {
  payments: PaymentFacts[];
  attempts: AttemptFacts[];
  records: GatewayRecord[];
  /** Record ids by what they are. */
  kinds: Map<string, 'own' | 'own_rekeyed' | 'duplicate' | 'orphan' | 'outside_capture' | 'declined' | 'remediation'>;
}

const at = new Date(1_000);

const world = fc
  .record({
    payments: fc.array(fc.record({ amount: fc.integer({ min: 1, max: 10_000 }), captured: fc.boolean(), failed: fc.boolean() }), { minLength: 1, maxLength: 6 }),
    planted: fc.array(
      fc.record({ kind: fc.constantFrom('duplicate', 'orphan', 'outside_capture', 'declined', 'remediation', 'own_rekeyed'), of: fc.nat(), amount: fc.integer({ min: 1, max: 10_000 }) }),
      { maxLength: 8 },
    ),
  })
  .map(({ payments, planted }): World => {
    const w: World = { payments: [], attempts: [], records: [], kinds: new Map() };
    const record = (r: Omit<GatewayRecord, 'gateway' | 'currency' | 'at'>, kind: World['kinds'] extends Map<string, infer K> ? K : never) => {
      w.records.push({ gateway: 'g', currency: 'EUR', at: 1_000, ...r });
      w.kinds.set(r.id, kind);
    };
    payments.forEach((p, i) => {
      const id = `pay_${i}`;
      const auth = `auth_${i}`;
      const attempt = (operation: GatewayOperation, status: AttemptFacts['status'], amount: number, n: number): AttemptFacts => ({
        id: `att_${i}_${operation}_${n}`,
        payment_id: id,
        operation,
        gateway: 'g',
        gateway_key: `${id}.${operation}.${n}`,
        amount,
        status,
        gateway_reference: status === 'succeeded' ? `txn_${i}_${operation}_${n}` : null,
        created_at: at,
      });
      if (p.failed) {
        w.payments.push({ id, merchant_id: 'm', status: 'failed', currency: 'EUR', amount: p.amount, authorization_id: null, amount_authorized: 0, amount_captured: 0, gateway: 'g' });
        w.attempts.push(attempt('authorize', 'not_processed', p.amount, 1));
        return;
      }
      w.payments.push({
        id,
        merchant_id: 'm',
        status: p.captured ? 'captured' : 'authorized',
        currency: 'EUR',
        amount: p.amount,
        authorization_id: auth,
        amount_authorized: p.amount,
        amount_captured: p.captured ? p.amount : 0,
        gateway: 'g',
      });
      const a = attempt('authorize', 'succeeded', p.amount, 1);
      w.attempts.push(a);
      record({ id: a.gateway_reference!, operation: 'authorize', status: 'succeeded', amount: p.amount, gatewayKey: a.gateway_key, transactionId: a.gateway_reference!, authorizationId: auth, reference: id }, 'own');
      if (p.captured) {
        const c = attempt('capture', 'succeeded', p.amount, 1);
        w.attempts.push(c);
        record({ id: c.gateway_reference!, operation: 'capture', status: 'succeeded', amount: p.amount, gatewayKey: c.gateway_key, transactionId: c.gateway_reference!, authorizationId: auth, reference: id }, 'own');
      }
    });
    planted.forEach((x, j) => {
      const p = w.payments[x.of % w.payments.length]!;
      const id = `txn_planted_${j}`;
      switch (x.kind) {
        case 'duplicate':
          return record({ id, operation: 'authorize', status: 'succeeded', amount: p.amount, gatewayKey: `proxy-${j}`, authorizationId: `auth_dup_${j}`, reference: p.id }, 'duplicate');
        case 'orphan':
          return record({ id, operation: 'authorize', status: 'succeeded', amount: x.amount, gatewayKey: `orphan-${j}`, authorizationId: `auth_orphan_${j}`, reference: `order-${j}` }, 'orphan');
        case 'outside_capture':
          if (p.authorization_id === null) return;
          return record({ id, operation: 'capture', status: 'succeeded', amount: Math.min(x.amount, p.amount), gatewayKey: `dash-${j}`, authorizationId: p.authorization_id, reference: p.id }, 'outside_capture');
        case 'declined':
          return record({ id, operation: 'authorize', status: 'declined', amount: x.amount, gatewayKey: `declined-${j}`, reference: p.id }, 'declined');
        case 'own_rekeyed':
          // The payment's own authorization, logged again under a key that is not Idem's (a
          // settlement file, a reformatted export): evidence that must never lead to a void.
          if (p.authorization_id === null) return;
          return record({ id, operation: 'authorize', status: 'succeeded', amount: p.amount, gatewayKey: `export-${j}`, authorizationId: p.authorization_id, reference: p.id }, 'own_rekeyed');
        case 'remediation':
          return record({ id, operation: 'void', status: 'succeeded', amount: x.amount, gatewayKey: remediationKey('g', `auth_dup_${j}`), authorizationId: `auth_dup_${j}`, reference: p.id }, 'remediation');
      }
    });
    return w;
  });

const shuffled = <T>(items: readonly T[]) => fc.shuffledSubarray([...items], { minLength: items.length, maxLength: items.length });

describe('classify', () => {
  it('never voids an authorization a payment owns, whatever is planted beside it', () => {
    fc.assert(
      fc.property(world, (w) => {
        const owned = new Set(w.payments.map((p) => p.authorization_id).filter((a) => a !== null));
        for (const { verdict } of classify(w.records, w.payments, w.attempts, exactMatcher)) {
          if (verdict.kind === 'void') expect(owned.has(verdict.authorizationId)).toBe(false);
        }
      }),
    );
  });

  it('voids every duplicate and orphaned authorization, adopts outside captures of authorized payments, settles the rest', () => {
    fc.assert(
      fc.property(world, (w) => {
        for (const { record, verdict } of classify(w.records, w.payments, w.attempts, exactMatcher)) {
          const kind = w.kinds.get(record.id);
          const p = w.payments.find((x) => x.id === record.reference);
          switch (kind) {
            case 'own':
              expect(verdict).toMatchObject({ kind: 'consistent', evidence: { rule: 'gateway_key' } });
              break;
            case 'duplicate':
              expect(verdict).toMatchObject({ kind: 'void', reason: 'duplicate_authorization', paymentId: record.reference, authorizationId: record.authorizationId });
              break;
            case 'orphan':
              expect(verdict).toMatchObject({ kind: 'void', reason: 'orphaned_authorization', paymentId: null, merchantId: null });
              break;
            case 'outside_capture':
              // Capturable only while authorized; several outside captures of one payment: the
              // first that fits is adopted by the state, the others become cases.
              if (p?.status === 'captured') expect(verdict).toMatchObject({ kind: 'case', class: 'unrequested_operation' });
              else expect(['adopt', 'case']).toContain(verdict.kind);
              if (verdict.kind === 'adopt') expect(verdict).toMatchObject({ operation: 'capture', unrequested: true, attemptId: null });
              break;
            case 'declined':
              expect(verdict.kind).toBe('no_effect');
              break;
            case 'remediation':
              expect(verdict.kind).toBe('own_remediation');
              break;
            case 'own_rekeyed':
              expect(verdict.kind).toBe('known');
              break;
          }
        }
      }),
    );
  });

  it('gives each record the same verdict whatever order the records come in', () => {
    fc.assert(
      fc.property(
        world.chain((w) => shuffled(w.records).map((order) => ({ w, order }))),
        ({ w, order }) => {
          const byId = (list: ReturnType<typeof classify>) => new Map(list.map((c) => [c.record.id, c.verdict]));
          expect(byId(classify(order, w.payments, w.attempts, exactMatcher))).toEqual(byId(classify(w.records, w.payments, w.attempts, exactMatcher)));
        },
      ),
    );
  });

  it('waits while the payment is in flight or the attempt unknown, and adopts an authorization a failed payment got', () => {
    const p: PaymentFacts = { id: 'pay_1', merchant_id: 'm', status: 'processing', currency: 'EUR', amount: 500, authorization_id: null, amount_authorized: 0, amount_captured: 0, gateway: 'g' };
    const a: AttemptFacts = { id: 'att_1', payment_id: 'pay_1', operation: 'authorize', gateway: 'g', gateway_key: 'pay_1.authorize.1', amount: 500, status: 'not_processed', gateway_reference: null, created_at: at };
    const r: GatewayRecord = { id: 'txn_1', gateway: 'g', operation: 'authorize', status: 'succeeded', amount: 500, currency: 'EUR', at: 1, gatewayKey: 'pay_1.authorize.1', authorizationId: 'auth_1', reference: 'pay_1' };
    expect(classify([r], [p], [a], exactMatcher)[0]!.verdict.kind).toBe('wait');
    expect(classify([r], [p], [{ ...a, status: 'unknown' }], exactMatcher)[0]!.verdict.kind).toBe('wait');
    expect(classify([r], [{ ...p, status: 'failed' }], [a], exactMatcher)[0]!.verdict).toMatchObject({ kind: 'adopt', operation: 'authorize', attemptId: 'att_1', unrequested: false });
    // Declined at another gateway, the merchant answered so: the stray authorization is released.
    expect(classify([r], [{ ...p, status: 'declined' }], [a], exactMatcher)[0]!.verdict).toMatchObject({ kind: 'void', reason: 'duplicate_authorization', paymentId: 'pay_1', authorizationId: 'auth_1' });
    // The pipeline moved on to another attempt that got the payment its authorization: the
    // gateway's execution of the first is a duplicate.
    expect(classify([r], [{ ...p, status: 'authorized', authorization_id: 'auth_2', amount_authorized: 500 }], [a], exactMatcher)[0]!.verdict).toMatchObject({
      kind: 'void',
      reason: 'duplicate_authorization',
      authorizationId: 'auth_1',
    });
  });

  it('settles a keyless void of an authorization reconciliation voided as its own remediation, never a case', () => {
    // A settlement line of the remediation's void: its own id, no key, the authorization kept.
    const line: GatewayRecord = { id: 'stl_9', gateway: 'g', operation: 'void', status: 'succeeded', amount: 700, currency: 'EUR', at: 1, authorizationId: 'auth_orphan' };
    expect(classify([line], [], [], exactMatcher)[0]!.verdict).toMatchObject({ kind: 'case', class: 'unrequested_operation' });
    expect(classify([line], [], [], exactMatcher, new Set(['g\u0000auth_orphan']))[0]!.verdict).toEqual({ kind: 'own_remediation' });
    // Only without a key: a void under someone else's key was made elsewhere, remediation or not.
    expect(classify([{ ...line, gatewayKey: 'dashboard-void-1' }], [], [], exactMatcher, new Set(['g\u0000auth_orphan']))[0]!.verdict).toMatchObject({ kind: 'case' });
  });

  it('opens a settlement case when the gateway executed Idem\u2019s operation for another amount or currency', () => {
    const p: PaymentFacts = { id: 'pay_1', merchant_id: 'm', status: 'authorized', currency: 'EUR', amount: 500, authorization_id: 'auth_1', amount_authorized: 500, amount_captured: 0, gateway: 'g' };
    const a: AttemptFacts = { id: 'att_1', payment_id: 'pay_1', operation: 'authorize', gateway: 'g', gateway_key: 'pay_1.authorize.1', amount: 500, status: 'succeeded', gateway_reference: 'txn_1', created_at: at };
    const r: GatewayRecord = { id: 'txn_1', gateway: 'g', operation: 'authorize', status: 'succeeded', amount: 500, currency: 'EUR', at: 1, gatewayKey: 'pay_1.authorize.1', authorizationId: 'auth_1', reference: 'pay_1' };
    expect(classify([{ ...r, amount: 499 }], [p], [a], exactMatcher)[0]!.verdict).toMatchObject({ kind: 'case', class: 'amount_mismatch' });
    expect(classify([{ ...r, currency: 'USD' }], [p], [a], exactMatcher)[0]!.verdict).toMatchObject({ kind: 'case', class: 'currency_mismatch' });
    expect(REMEDIATION_KEY_PREFIX).toBe('recon.void.');
  });
});

describe('exactMatcher', () => {
  it('matches one to one, each pair by the rule it names', () => {
    fc.assert(
      fc.property(world, (w) => {
        const idem = idemRecords(w.payments, w.attempts);
        const result = exactMatcher.match(idem, w.records);
        const used = result.matches.map((m) => m.idem.id);
        expect(new Set(used).size).toBe(used.length);
        expect(result.matches.length + result.unmatchedGateway.length).toBe(w.records.length);
        expect(result.matches.length + result.unmatchedIdem.length).toBe(idem.length);
        for (const m of result.matches) {
          const g = m.gateway[0]!;
          if (m.evidence.rule === 'gateway_key') expect(g.gatewayKey).toBe(m.idem.gatewayKey);
          if (m.evidence.rule === 'transaction_id') expect(g.transactionId).toBe(m.idem.transactionId);
        }
      }),
    );
  });
});

describe('a record that names nothing', () => {
  // An instance crashed between the gateway's answer and recording it: the attempt is pending,
  // the payment owns no authorization yet, and the gateway lists the authorization on a line
  // with neither key nor reference (a settlement file).
  const payment: PaymentFacts = { id: 'pay_1', merchant_id: 'm', status: 'processing', currency: 'EUR', amount: 2_500, authorization_id: null, amount_authorized: 0, amount_captured: 0, gateway: 'g' };
  const pending: AttemptFacts = { id: 'att_1', payment_id: 'pay_1', operation: 'authorize', gateway: 'g', gateway_key: 'pay_1.authorize.1', amount: 2_500, status: 'pending', gateway_reference: null, created_at: at };
  const line: GatewayRecord = { id: 'stl_9', gateway: 'g', operation: 'authorize', status: 'succeeded', amount: 2_500, currency: 'EUR', at: 1_500, transactionId: 'stl_9', authorizationId: 'auth_9' };

  it('is raised for a person when nothing matched it, never voided: its attempt may still be pending', () => {
    const [c] = classify([line], [payment], [pending], exactMatcher);
    expect(c!.verdict).toMatchObject({ kind: 'case', class: 'match_review', candidates: [] });
  });

  it('is voided as orphaned when it names a reference Idem never made', () => {
    const [c] = classify([{ ...line, reference: 'order-elsewhere-1' }], [payment], [pending], exactMatcher);
    expect(c!.verdict).toMatchObject({ kind: 'void', reason: 'orphaned_authorization', authorizationId: 'auth_9' });
  });
});
