// Lives here rather than beside src/ports/seeded.ts because this work may only add that one file under src/ports.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../ports/seeded.js';

describe('seededRandom', () => {
  it('replays the same floats and bytes from the same seed', () => {
    const draw = (seed: number) => {
      const r = seededRandom(seed);
      return { floats: Array.from({ length: 50 }, () => r.float()), bytes: Array.from(r.bytes(37)) };
    };
    expect(draw(7)).toEqual(draw(7));
  });

  it('gives different sequences for neighbouring seeds', () => {
    const a = seededRandom(1);
    const b = seededRandom(2);
    const sa = Array.from({ length: 8 }, () => a.float());
    const sb = Array.from({ length: 8 }, () => b.float());
    expect(sa).not.toEqual(sb);
  });

  it('keeps floats in [0, 1) for any seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const r = seededRandom(seed);
        for (let i = 0; i < 200; i++) {
          const x = r.float();
          if (!(x >= 0 && x < 1)) return false;
        }
        return true;
      }),
    );
  });

  it('spreads floats roughly evenly (mean near 1/2)', () => {
    const r = seededRandom(123);
    let sum = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) sum += r.float();
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.02);
  });

  it('returns exactly n bytes, not all equal', () => {
    const r = seededRandom(99);
    for (const n of [0, 1, 3, 4, 5, 24]) expect(r.bytes(n)).toHaveLength(n);
    const many = r.bytes(64);
    expect(new Set(many).size).toBeGreaterThan(16);
  });
});
