/**
 * The simulator's I7 check (docs/testing.md, "Deterministic simulation"): an authorization no
 * payment owns must end voided, its void refused and a case, or — only when the processor
 * listed it without its key — raised as a `match_review` case; exactly once.
 */
import { describe, expect, it } from 'vitest';
import type { SimulatorLogEntry } from '../gateways/simulator/processor.js';
import { remediationKey, type CaseRow, type RemediationRow } from '../reconciliation/cases.js';
import type { PaymentView } from '../payments/view.js';
import { checkInvariants, reconciliationDifferences } from './invariants.js';
import { settlementLineId } from './settlement.js';

const GW = 'sim-a';

function entry(id: string, key: string, operation: SimulatorLogEntry['operation'], authorizationId: string, reference = 'pay_x'): SimulatorLogEntry {
  return { id, idempotency_key: key, operation, amount: 1000, currency: 'EUR', reference, status: 'succeeded', authorization_id: authorizationId, created_at: '2026-01-01T00:00:00.000Z' };
}

function caseOf(recordId: string, cls: CaseRow['class']): CaseRow {
  return {
    id: `case_${recordId}_${cls}`,
    dedupe_key: `${GW}:${recordId}:${cls}`,
    merchant_id: null,
    payment_id: null,
    gateway: GW,
    class: cls,
    team: 'support',
    status: 'open',
    evidence: {},
    action: 'none',
    action_result: null,
    resolution: null,
    opened_at: 0,
    resolved_at: null,
  };
}

function remediation(authorizationId: string, state: RemediationRow['state']): RemediationRow {
  return {
    id: 1,
    gateway: GW,
    action: 'void',
    reason: 'duplicate_authorization',
    gateway_key: remediationKey(GW, authorizationId),
    authorization_id: authorizationId,
    record_id: 'txn_dup',
    amount: 1000,
    currency: 'EUR',
    reference: 'pay_x',
    payment_id: 'pay_x',
    merchant_id: 'mer_a',
    state,
    tries: 1,
    fence: 1,
    result: null,
    created_at: 0,
    done_at: null,
  };
}

const own = entry('txn_own', 'pay_x.authorize.1', 'authorize', 'auth_own');
const dup = entry('txn_dup', 'dashboard-dup-1', 'authorize', 'auth_dup');
const voidOfDup = entry('txn_void', remediationKey(GW, 'auth_dup'), 'void', 'auth_dup');

function check(log: SimulatorLogEntry[], o: { cases?: CaseRow[]; remediations?: RemediationRow[]; keyless?: string[] } = {}): string[] {
  return reconciliationDifferences(
    new Map([[GW, log]]),
    { owned: new Set([`${GW} auth_own`]), remediations: o.remediations ?? [], cases: o.cases ?? [] },
    new Set((o.keyless ?? []).map((id) => `${GW} ${id}`)),
  );
}

describe('the simulator I7 check', () => {
  it('fails on an authorization no payment owns that was neither voided, adopted nor raised as a case', () => {
    for (const keyless of [[], ['txn_dup']]) {
      const found = check([own, dup], { keyless });
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/auth_dup .* neither voided, adopted nor raised as a case/);
    }
  });

  it('accepts it voided under its derived key, or its void refused and a remediation_failed case', () => {
    expect(check([own, dup, voidOfDup], { remediations: [remediation('auth_dup', 'done')] })).toEqual([]);
    expect(check([own, dup], { cases: [caseOf(remediationKey(GW, 'auth_dup'), 'remediation_failed')], remediations: [remediation('auth_dup', 'failed')] })).toEqual([]);
  });

  it('accepts a match_review case for a record listed without its key, as its settlement line', () => {
    expect(check([own, dup], { keyless: ['txn_dup'], cases: [caseOf(settlementLineId('txn_dup'), 'match_review')] })).toEqual([]);
  });

  it('does not take a case of another class, or of another record, for raising it', () => {
    expect(check([own, dup], { keyless: ['txn_dup'], cases: [caseOf(settlementLineId('txn_dup'), 'contradiction')] })).toHaveLength(1);
    expect(check([own, dup], { keyless: ['txn_dup'], cases: [caseOf(settlementLineId('txn_own'), 'match_review')] })).toHaveLength(1);
  });

  it('fails when a record with its key went to review: exact keys are never scored', () => {
    const found = check([own, dup], { cases: [caseOf('txn_dup', 'match_review')] });
    expect(found).toEqual([expect.stringMatching(/auth_dup .*listed with its key.* went to match_review/)]);
  });

  it('fails when one authorization was both voided and raised for review: exactly once', () => {
    const found = check([own, dup, voidOfDup], { keyless: ['txn_dup'], cases: [caseOf(settlementLineId('txn_dup'), 'match_review')], remediations: [remediation('auth_dup', 'done')] });
    expect(found).toEqual([expect.stringMatching(/auth_dup .* handled twice/)]);
  });

  it("fails when reconciliation's own void is itself raised as a case, keyed or keyless", () => {
    const remediations = [remediation('auth_dup', 'done')];
    expect(check([own, dup, voidOfDup], { remediations, cases: [caseOf('txn_void', 'unrequested_operation')] })).toEqual([expect.stringMatching(/own void txn_void was raised as a unrequested_operation case/)]);
    const bare = check([own, dup, voidOfDup], { remediations, keyless: ['txn_void'], cases: [caseOf(settlementLineId('txn_void'), 'unrequested_operation')] });
    expect(bare).toEqual([expect.stringMatching(/own void stl_txn_void was raised/)]);
  });

  it("fails on a remediation void of a payment's own authorization, one executed twice, one left pending", () => {
    const wrong = entry('txn_w', remediationKey(GW, 'auth_own'), 'void', 'auth_own');
    expect(check([own, wrong])).toEqual([expect.stringMatching(/voided auth_own, the authorization of payment/)]);
    expect(check([own, dup, voidOfDup, { ...voidOfDup, id: 'txn_void2' }])).toEqual([expect.stringMatching(/executed 2 times/)]);
    expect(check([own, dup, voidOfDup], { remediations: [remediation('auth_dup', 'pending')] })).toEqual([expect.stringMatching(/still pending/)]);
  });
});

describe('the simulator gateway-log checks (I1, I4) beside I7', () => {
  // A payment that failed in Idem, and an authorization for it made outside Idem.
  const failed = { id: 'pay_x', amount: 1000, currency: 'EUR', status: 'failed', amount_authorized: 0, amount_captured: 0, amount_refunded: 0, amount_voided: 0, idempotency_key: 'k1' } as PaymentView;
  const run = (o: { cases?: CaseRow[]; keyless?: string[] }) =>
    checkInvariants({
      payments: new Map([['mer_a', [failed]]]),
      gatewayLogs: new Map([[GW, [dup]]]),
      answers: new Map(),
      journals: new Map(),
      reconciliation: { owned: new Set(), remediations: [], cases: o.cases ?? [] },
      keylessEntries: new Set((o.keyless ?? []).map((id) => `${GW} ${id}`)),
    }).map((x) => x.invariant);

  it('leave out a keyless authorization handed to a person as a match_review case, as they leave out a voided one', () => {
    expect(run({ keyless: ['txn_dup'], cases: [caseOf(settlementLineId('txn_dup'), 'match_review')] })).toEqual([]);
  });

  it('count it when nothing handled it, or when its record carried its key', () => {
    expect(run({ keyless: ['txn_dup'] }).sort()).toEqual(['I4', 'I7']);
    expect(run({ cases: [caseOf('txn_dup', 'match_review')] }).sort()).toEqual(['I4', 'I7']);
  });
});
