import type { Random } from './clock.js';

/**
 * A deterministic {@link Random}: sfc32 (Chris Doty-Humphrey's Small Fast Counter, 32-bit
 * variant) with its 128-bit state filled from the seed by splitmix32. It is not
 * cryptographically secure; it exists so a simulation replays byte for byte from its seed.
 *
 * @param seed any number; it is truncated to a 32-bit unsigned integer.
 * @example
 * const a = seededRandom(42), b = seededRandom(42);
 * a.float() === b.float(); // always
 */
export function seededRandom(seed: number): Random {
  // splitmix32 spreads nearby seeds (1, 2, 3…) over very different sfc32 states.
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();

  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  // The sfc32 authors discard the first outputs so the state mixes before use.
  for (let i = 0; i < 12; i++) next();

  return {
    bytes(n) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        let word = next();
        for (let j = i; j < Math.min(n, i + 4); j++) {
          out[j] = word & 0xff;
          word >>>= 8;
        }
      }
      return out;
    },
    float() {
      // 53 bits from two outputs: 27 high bits and 26 low bits, so every double in [0, 1)
      // with that spacing is reachable and 1 never is.
      const hi = next() >>> 5;
      const lo = next() >>> 6;
      return (hi * 67108864 + lo) / 9007199254740992;
    },
  };
}
