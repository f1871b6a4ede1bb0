import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GatewayRecord, IdemRecord, MatchResult } from '../records.js';
import { corpus, quality } from '../../../test/support/reconciliationCorpus.js';
import { exactMatcher, SPLIT_OPERATIONS } from './exact.js';
import { firstMatchWithTolerance } from './firstMatch.js';
import { PRIOR_MODEL } from './model.js';
import { matchScored, scoredMatcher, subsetsSumming } from './scored.js';

/** A small, dense batch: many look-alikes per window, so assignment and review have work. */
const batch = fc
  .record({ seed: fc.integer({ min: 1, max: 1_000_000 }), payments: fc.integer({ min: 1, max: 60 }), strip: fc.double({ min: 0, max: 1, noNaN: true }) })
  .map(({ seed, payments, strip }) =>
    corpus({ seed, payments, paymentsPerSecond: 2, stripShare: strip, referenceLossShare: 0.3, merchants: 3, duplicateShare: 0.05, twinShare: 0.1, splitShare: 0.1 }),
  );

const ids = (r: MatchResult) => ({
  matches: r.matches.map((m) => [m.idem.id, m.gateway.map((g) => g.id), m.evidence.rule]),
  review: r.review.map((x) => [x.gateway.id, x.candidates.map((c) => c.idem.id)]),
  unmatchedGateway: r.unmatchedGateway.map((g) => g.id),
  unmatchedIdem: r.unmatchedIdem.map((i) => i.id),
});

function permute<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let k = out.length - 1; k > 0; k--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (k + 1);
    [out[k], out[j]] = [out[j]!, out[k]!];
  }
  return out;
}

/** A model learned once from a larger batch: small property batches alone learn too little to match. */
const big = corpus({ seed: 99, payments: 3000 });
const trained = matchScored(big.idem, big.gateway).model;
const withModel = { model: trained };

describe('the scored global matcher', () => {
  it('matches one to one, one to many only for a split capture or refund that adds up, and places every gateway record once', () => {
    fc.assert(
      fc.property(batch, fc.boolean(), ({ idem, gateway }, learn) => {
        const r = matchScored(idem, gateway, learn ? {} : withModel);
        const gSeen = new Map<GatewayRecord, number>();
        const iSeen = new Set<IdemRecord>();
        for (const m of r.matches) {
          expect(iSeen.has(m.idem)).toBe(false);
          iSeen.add(m.idem);
          for (const g of m.gateway) gSeen.set(g, (gSeen.get(g) ?? 0) + 1);
          if (m.gateway.length > 1) {
            expect(SPLIT_OPERATIONS.has(m.idem.operation)).toBe(true);
            expect(m.gateway.reduce((s, g) => s + g.amount, 0)).toBe(m.idem.amount);
          }
        }
        for (const x of r.review) gSeen.set(x.gateway, (gSeen.get(x.gateway) ?? 0) + 1);
        for (const g of r.unmatchedGateway) gSeen.set(g, (gSeen.get(g) ?? 0) + 1);
        expect(gSeen.size).toBe(gateway.length);
        for (const n of gSeen.values()) expect(n).toBe(1);
        for (const i of r.unmatchedIdem) expect(iSeen.has(i)).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  it('gives the same result whatever the order of its inputs', () => {
    fc.assert(
      fc.property(batch, fc.integer(), fc.integer(), ({ idem, gateway }, a, b) => {
        expect(ids(matchScored(permute(idem, a), permute(gateway, b)))).toEqual(ids(matchScored(idem, gateway)));
        expect(ids(matchScored(permute(idem, a), permute(gateway, b), withModel))).toEqual(ids(matchScored(idem, gateway, withModel)));
      }),
      { numRuns: 100 },
    );
  });

  it('always matches a gateway record to the Idem record whose gateway key it carries, when it is the only one carrying it', () => {
    fc.assert(
      fc.property(batch, ({ idem, gateway }) => {
        const r = matchScored(idem, gateway, withModel);
        const carriers = new Map<string, number>();
        for (const g of gateway) if (g.gatewayKey) carriers.set(g.gatewayKey, (carriers.get(g.gatewayKey) ?? 0) + 1);
        for (const g of gateway) {
          const i = idem.find((x) => x.gateway === g.gateway && x.gatewayKey === g.gatewayKey);
          if (!i || carriers.get(g.gatewayKey!) !== 1) continue;
          const m = r.matches.find((x) => x.gateway.includes(g));
          expect(m?.idem).toBe(i);
          expect(m?.evidence.rule).toBe('gateway_key');
          expect(m?.evidence.probability).toBe(1);
        }
      }),
      { numRuns: 100 },
    );
  });

  /** Gateway records (and their Idem partners) that scoring matched one to one. */
  const scoredPairs = (idem: IdemRecord[], gateway: GatewayRecord[]) =>
    matchScored(idem, gateway, withModel).matches.filter((m) => m.evidence.rule === 'scored' && m.gateway.length === 1);
  let tiesTried = 0;

  it('never auto-matches a tie: when a score-matched gateway record is logged twice, neither copy is matched', () => {
    fc.assert(
      fc.property(batch, fc.nat(), ({ idem, gateway }, pick) => {
        const matched = scoredPairs(idem, gateway);
        fc.pre(matched.length > 0);
        tiesTried++;
        const g = matched[pick % matched.length]!.gateway[0]!;
        const copy: GatewayRecord = { ...g, id: `${g.id}_copy` };
        const r = matchScored(idem, [...gateway, copy], withModel);
        for (const m of r.matches) {
          expect(m.gateway).not.toContain(g);
          expect(m.gateway).not.toContain(copy);
        }
        expect(r.review.map((x) => x.gateway)).toEqual(expect.arrayContaining([g, copy]));
      }),
      { numRuns: 100 },
    );
    expect(tiesTried).toBeGreaterThan(50);
  });

  it('never auto-matches a tie: when a score-matched Idem operation has a twin, neither is matched by score', () => {
    fc.assert(
      fc.property(batch, fc.nat(), ({ idem, gateway }, pick) => {
        const matched = scoredPairs(idem, gateway);
        fc.pre(matched.length > 0);
        const i = matched[pick % matched.length]!.idem;
        const twin: IdemRecord = { ...i, id: `${i.id}_twin`, gatewayKey: `${i.gatewayKey}.twin`, transactionId: `${i.transactionId}_twin` };
        delete twin.authorizationId;
        const r = matchScored([...idem, twin], gateway, withModel);
        for (const m of r.matches) if (m.evidence.rule === 'scored') expect([i, twin]).not.toContain(m.idem);
      }),
      { numRuns: 100 },
    );
  });

  it('sends every keyless record to review or leaves it unmatched when it has learned nothing (the priors alone)', () => {
    const { idem, gateway } = corpus({ seed: 3, payments: 300, stripShare: 1 });
    const r = matchScored(idem, gateway, { model: PRIOR_MODEL });
    expect(r.matches.filter((m) => m.evidence.rule === 'scored')).toEqual([]);
    expect(r.review.length).toBeGreaterThan(0);
  });

  it('stores its evidence: each feature with its value and learned weight, and the lead over the runner-up', () => {
    const { idem, gateway } = corpus({ seed: 4, payments: 400 });
    const scored = matchScored(idem, gateway, withModel).matches.filter((m) => m.evidence.rule === 'scored' && m.gateway.length === 1);
    expect(scored.length).toBeGreaterThan(20);
    for (const m of scored) {
      const f = m.evidence.features!;
      expect(Object.keys(f).sort()).toEqual(['amount', 'merchant', 'prior', 'reference', 'time']);
      expect(f.amount!.value).toBe(m.gateway[0]!.amount - m.idem.amount);
      expect(m.evidence.probability).toBeGreaterThanOrEqual(0.999);
      expect(m.evidence.margin).toBeGreaterThanOrEqual(Math.log(999) - 1e-9);
    }
  });
});

describe('matching quality on a seeded corpus', () => {
  const c = corpus({ seed: 11, payments: 4000 });
  const idem = quality(scoredMatcher().match(c.idem, c.gateway), c.truth);
  const exact = quality(exactMatcher.match(c.idem, c.gateway), c.truth);
  const first = quality(firstMatchWithTolerance().match(c.idem, c.gateway), c.truth);

  it('auto-matches with precision ≥ 99.9 % and recall ≥ 98 % of what is matchable, and no tie', () => {
    expect(idem.precision).toBeGreaterThanOrEqual(0.999);
    expect(idem.recall).toBeGreaterThanOrEqual(0.98);
    expect(idem.strippedRecall).toBeGreaterThanOrEqual(0.9);
    expect(idem.tiesAutoMatched).toBe(0);
  });

  it('beats both static baselines on the same seed', () => {
    expect(idem.recall).toBeGreaterThan(exact.recall + 0.2);
    expect(idem.recall).toBeGreaterThan(first.recall);
    expect(idem.precision).toBeGreaterThan(first.precision);
    expect(first.tiesAutoMatched).toBeGreaterThan(0);
  });
});

describe('subsetsSumming', () => {
  it('finds exactly the index sets of 2 to maxParts members that add up', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 7 }), fc.integer({ min: 1, max: 50 }), (amounts, total) => {
        const found = subsetsSumming(amounts, total, 3).map((s) => s.join(','));
        const expected: string[] = [];
        for (let mask = 1; mask < 1 << amounts.length; mask++) {
          const set = amounts.map((_, j) => j).filter((j) => mask & (1 << j));
          if (set.length >= 2 && set.length <= 3 && set.reduce((s, j) => s + amounts[j]!, 0) === total) expected.push(set.join(','));
        }
        expect(found.sort()).toEqual(expected.sort());
      }),
    );
  });
});
