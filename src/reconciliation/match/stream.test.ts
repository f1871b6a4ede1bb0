import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { corpus, quality, tally, addQuality, finish } from '../../../test/support/reconciliationCorpus.js';
import type { IdemRecord } from '../records.js';
import { exactMatcher } from './exact.js';
import { fromSorted, reconcileStream } from './stream.js';

describe('reconcileStream', () => {
  it('places every gateway record once and every Idem record once, whatever the window width', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 10_000, max: 3_600_000 }), async (seed, windowMs) => {
        const c = corpus({ seed, payments: 150, paymentsPerSecond: 0.5 });
        const gSeen = new Map<string, number>();
        const iSeen = new Map<IdemRecord, number>();
        const see = (i: IdemRecord) => iSeen.set(i, (iSeen.get(i) ?? 0) + 1);
        for await (const w of reconcileStream(fromSorted(c.gateway), fromSorted(c.idem), { windowMs })) {
          for (const m of w.matches) {
            see(m.idem);
            for (const g of m.gateway) gSeen.set(g.id, (gSeen.get(g.id) ?? 0) + 1);
          }
          for (const r of w.review) gSeen.set(r.gateway.id, (gSeen.get(r.gateway.id) ?? 0) + 1);
          for (const g of w.unmatchedGateway) gSeen.set(g.id, (gSeen.get(g.id) ?? 0) + 1);
          for (const i of w.unmatchedIdem) see(i);
          const candidates = new Set(w.review.flatMap((r) => r.candidates.map((x) => x.idem)));
          for (const i of candidates) if (!w.matches.some((m) => m.idem === i)) see(i);
        }
        expect(gSeen.size).toBe(c.gateway.length);
        for (const n of gSeen.values()) expect(n).toBe(1);
        expect(iSeen.size).toBe(c.idem.length);
        for (const n of iSeen.values()) expect(n).toBe(1);
      }),
      { numRuns: 15 },
    );
  });

  it('matches as well in windows as in one batch, learning as it goes', async () => {
    const c = corpus({ seed: 31, payments: 4000 });
    const q = tally();
    for await (const w of reconcileStream(fromSorted(c.gateway), fromSorted(c.idem))) addQuality(q, w, c.truth);
    const streamed = finish(q);
    expect(streamed.gatewayRecords).toBe(c.gateway.length);
    expect(streamed.precision).toBeGreaterThanOrEqual(0.999);
    expect(streamed.recall).toBeGreaterThanOrEqual(0.98);
    expect(streamed.tiesAutoMatched).toBe(0);
    const exact = quality(exactMatcher.match(c.idem, c.gateway), c.truth);
    expect(streamed.recall).toBeGreaterThan(exact.recall + 0.2);
  });
});
