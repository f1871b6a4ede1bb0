import { describe, expect, it } from 'vitest';
import { cryptoRandom } from './clock.js';

describe('cryptoRandom (pooled CSPRNG bytes)', () => {
  it('hands out n bytes per draw, never the same bytes twice, no draw written over by another', () => {
    const seen = new Set<string>();
    const draws: Uint8Array[] = [];
    // Many times the pool's size, across refills, in sizes that do not divide it.
    for (let i = 0; i < 5_000; i++) {
      const n = [24, 16, 6, 7][i % 4]!;
      const b = cryptoRandom.bytes(n);
      expect(b.length).toBe(n);
      draws.push(b);
      if (n >= 16) seen.add(Buffer.from(b).toString('hex'));
    }
    expect(seen.size).toBe(2_500);
    const kept = Buffer.from(draws[0]!).toString('hex');
    // Writing into a draw changes no other draw, nor what comes next.
    draws[1]!.fill(0);
    expect(Buffer.from(draws[0]!).toString('hex')).toBe(kept);
    expect(cryptoRandom.bytes(32).every((x) => x === 0)).toBe(false);
  });

  it('draws large requests straight from the source, and floats in [0, 1)', () => {
    expect(cryptoRandom.bytes(8_192).length).toBe(8_192);
    for (let i = 0; i < 1_000; i++) {
      const f = cryptoRandom.float();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
    }
  });
});
