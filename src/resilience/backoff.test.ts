import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../ports/seeded.js';
import { exponentialBackoff } from './backoff.js';

describe('exponentialBackoff', () => {
  it('doubles from the base and stops at the cap', () => {
    const b = exponentialBackoff({ baseMs: 50, capMs: 1_000 });
    expect([0, 1, 2, 3, 4, 5, 6, 60, 5000].map((n) => b.delay(n))).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  it('honours a Retry-After longer than its own delay, and only as a floor', () => {
    const b = exponentialBackoff({ baseMs: 50, capMs: 1_000 });
    expect(b.delay(0, 5_000)).toBe(5_000);
    expect(b.delay(3, 10)).toBe(400);
  });

  it('keeps every jittered delay within its bounds and above the Retry-After floor', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 120_000 }),
        fc.constantFrom('full' as const, 'equal' as const, { spreadMs: 100 }),
        (seed, retry, retryAfter, jitter) => {
          const b = exponentialBackoff({ baseMs: 250, capMs: 30_000, jitter, random: seededRandom(seed) });
          const exp = Math.min(30_000, 250 * 2 ** retry);
          const d = b.delay(retry);
          if (jitter === 'full') expect(d >= 0 && d < exp).toBe(true);
          else if (jitter === 'equal') expect(d >= exp / 2 - 1 && d < exp).toBe(true);
          else expect(d >= exp && d <= exp + 100).toBe(true);
          expect(Number.isInteger(d)).toBe(true);
          expect(b.delay(retry, retryAfter)).toBeGreaterThanOrEqual(retryAfter);
        },
      ),
    );
  });

  it('replays the same delays from the same seed', () => {
    const run = (seed: number) => {
      const b = exponentialBackoff({ baseMs: 100, capMs: 5_000, jitter: 'full', random: seededRandom(seed) });
      return Array.from({ length: 20 }, (_, i) => b.delay(i));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it('draws from its random source only when it jitters', () => {
    let draws = 0;
    const random = { bytes: (n: number) => new Uint8Array(n), float: () => (draws++, 0.5) };
    exponentialBackoff({ baseMs: 10, capMs: 100, random }).delay(3);
    expect(draws).toBe(0);
    expect(exponentialBackoff({ baseMs: 10, capMs: 100, jitter: { spreadMs: 100 }, random }).delay(1)).toBe(20 + 50);
    expect(draws).toBe(1);
  });

  it('is an immutable value: `with` makes another', () => {
    const b = exponentialBackoff({ baseMs: 10, capMs: 100 });
    const c = b.with({ baseMs: 20 });
    expect([b.delay(1), c.delay(1)]).toEqual([20, 40]);
    expect(Object.isFrozen(b)).toBe(true);
    expect(() => exponentialBackoff({ baseMs: 10, capMs: 100, jitter: 'full' })).toThrow(RangeError);
  });
});
