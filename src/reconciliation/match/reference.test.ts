import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coreGrams, normaliseReference, paymentIdGrams, referenceCore, referenceGrams, referenceLevel, substringEditDistance } from './reference.js';

const pid = 'pay_3k9xab7mq2zt8vw4hn6pcr5d';
const core = referenceCore(pid);

/** Edit distance from `a` to the nearest substring of `b`, by trying every substring. */
function naive(a: string, b: string): number {
  const lev = (x: string, y: string) => {
    const d = Array.from({ length: x.length + 1 }, (_, i) => [i, ...new Array<number>(y.length).fill(0)]);
    for (let j = 1; j <= y.length; j++) d[0]![j] = j;
    for (let i = 1; i <= x.length; i++)
      for (let j = 1; j <= y.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    return d[x.length]![y.length]!;
  };
  let best = a.length;
  for (let s = 0; s <= b.length; s++) for (let e = s; e <= b.length; e++) best = Math.min(best, lev(a, b.slice(s, e)));
  return best;
}

describe('reference similarity', () => {
  it('normalises case and separators away', () => {
    expect(normaliseReference('Idem-PAY_3k9x ab/7m')).toBe('IDEMPAY3K9XAB7M');
    expect(core).toBe('3K9XAB7MQ2ZT8VW4HN6PCR5D');
  });

  it('grades the ways a reference is rewritten', () => {
    expect(referenceLevel(core, normaliseReference(pid))).toBe('full');
    expect(referenceLevel(core, normaliseReference('IDEM-PAY-3K9X AB7M Q2ZT 8VW4 HN6P CR5D'))).toBe('full');
    expect(referenceLevel(core, normaliseReference('REF 3K9XAB7MQ2ZT'))).toBe('truncated');
    expect(referenceLevel(core, normaliseReference('pay_3k9xab7mq2zt8vw4hn6pcr5x'))).toBe('similar');
    expect(referenceLevel(core, normaliseReference('pay_3k9xab7mq2zt8vw4hn6pc'))).toBe('truncated');
    expect(referenceLevel(core, normaliseReference('pay_zzzzzzzzzzzzzzzzzzzzzzzz'))).toBe('different');
    expect(referenceLevel(core, normaliseReference('REF 3K9XAB7'))).toBe('different');
    expect(referenceLevel(core, undefined)).toBe('missing');
    expect(referenceLevel(core, '')).toBe('missing');
  });

  it('computes the substring edit distance exactly', () => {
    const text = fc.string({ unit: fc.constantFrom('A', 'B', 'C'), maxLength: 9 });
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(substringEditDistance(a, b)).toBe(naive(a, b));
      }),
      { numRuns: 300 },
    );
  });

  it("finds a core's grams among the grams of any reference that contains it", () => {
    const alnum = fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFGHJKMNPQRSTVWXYZ'), minLength: 8, maxLength: 30 });
    fc.assert(
      fc.property(alnum, alnum, alnum, (before, c, after) => {
        const grams = new Set(referenceGrams(before + c + after));
        for (const g of coreGrams(c)) expect(grams.has(g)).toBe(true);
      }),
    );
  });

  it('reads the grams of a payment id as the grams of its normalised core, and normalises as the general rule does', () => {
    const id = fc.string({ unit: fc.oneof(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. '), fc.constantFrom('ß', 'ı', 'é', 'ﬀ')), maxLength: 40 });
    fc.assert(
      fc.property(id, (paymentId) => {
        const grams: number[] = [7];
        paymentIdGrams(paymentId, grams);
        expect(grams).toEqual([7, ...coreGrams(referenceCore(paymentId))]);
        expect(normaliseReference(paymentId)).toBe(paymentId.toUpperCase().replace(/[^0-9A-Z]+/g, ''));
      }),
      { numRuns: 500 },
    );
  });
});
