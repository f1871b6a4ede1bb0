import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchingWeight, maxWeightMatching } from './assignment.js';

/** Best total over every partial one-to-one matching, by exhaustive search. */
function bruteForce(w: Float64Array, rows: number, cols: number): number {
  const usedCols = new Array<boolean>(cols).fill(false);
  const go = (r: number): number => {
    if (r === rows) return 0;
    let best = go(r + 1); // row r unassigned
    for (let c = 0; c < cols; c++) {
      const x = w[r * cols + c]!;
      if (usedCols[c] || x <= 0) continue;
      usedCols[c] = true;
      best = Math.max(best, x + go(r + 1));
      usedCols[c] = false;
    }
    return best;
  };
  return go(0);
}

const matrix = fc
  .record({ rows: fc.integer({ min: 0, max: 6 }), cols: fc.integer({ min: 0, max: 6 }) })
  .chain(({ rows, cols }) =>
    fc
      .array(fc.oneof(fc.constant(0), fc.integer({ min: -5, max: 20 }), fc.double({ min: -3, max: 30, noNaN: true })), {
        minLength: rows * cols,
        maxLength: rows * cols,
      })
      .map((xs) => ({ rows, cols, w: Float64Array.from(xs) })),
  );

describe('maxWeightMatching', () => {
  it('is optimal against brute force on small matrices', () => {
    fc.assert(
      fc.property(matrix, ({ rows, cols, w }) => {
        const pairs = maxWeightMatching(w, rows, cols);
        expect(matchingWeight(w, cols, pairs)).toBeCloseTo(bruteForce(w, rows, cols), 9);
      }),
      { numRuns: 2000 },
    );
  });

  it('returns a one-to-one matching of positive-weight pairs only', () => {
    fc.assert(
      fc.property(matrix, ({ rows, cols, w }) => {
        const pairs = maxWeightMatching(w, rows, cols);
        expect(new Set(pairs.map(([r]) => r)).size).toBe(pairs.length);
        expect(new Set(pairs.map(([, c]) => c)).size).toBe(pairs.length);
        for (const [r, c] of pairs) expect(w[r * cols + c]!).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });

  it('prefers the global optimum to the greedy first choice', () => {
    // Greedy would take a–x (3) and leave b with nothing; the optimum is a–y + b–x = 4.
    expect(maxWeightMatching(Float64Array.from([3, 2, 2, 0]), 2, 2)).toEqual([
      [0, 1],
      [1, 0],
    ]);
  });
});
