import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inspectJson } from './jsonBody.js';

describe('inspectJson', () => {
  it('finds no repeated key in what JSON.stringify writes, at any depth', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        expect(inspectJson(JSON.stringify(value)).duplicateKey).toBeNull();
      }),
    );
  });

  it('finds a key written twice in one object, however it is escaped or nested', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue({ maxDepth: 2 }), fc.nat(4), (key, inner, depth) => {
        const k = JSON.stringify(key);
        const escaped = `"${[...key].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`;
        let text = `{${k}:${JSON.stringify(inner)},"other":[1,{"x":${k}}],${escaped}:0}`;
        for (let i = 0; i < depth; i++) text = `{"a":[${text}]}`;
        expect(JSON.parse(text)).toBeTruthy();
        expect(inspectJson(text).duplicateKey).toBe(key);
      }),
    );
    expect(inspectJson('{"a":{"b":1},"b":{"a":2}}').duplicateKey).toBeNull(); // same names, other objects
  });

  it('gives numbers written with a fraction or exponent as the value they stand for', () => {
    expect(inspectJson('{"amount":4.111111111111111e15,"n":12}').rewrittenNumbers).toEqual(['4111111111111111']);
  });

  it('is linear: a body of 100,000 keys takes no longer per key than one of 10,000', () => {
    const body = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    // CPU time of this process, not wall time: a busy machine that takes the core away for a
    // while does not count (under a CPU hog, wall time once gave 49× for 10× the keys).
    const time = (text: string) => {
      const t0 = process.cpuUsage();
      inspectJson(text);
      const used = process.cpuUsage(t0);
      return (used.user + used.system) / 1000;
    };
    const best = (text: string) => Math.min(time(text), time(text), time(text), time(text), time(text));
    best(body(10_000)); // warm up
    // Ten times the keys: linear is ~10×, quadratic ~100×. The bound sits far from both, so a
    // pause of the collector does not decide it.
    const small = best(body(10_000));
    const large = best(body(100_000));
    expect(large).toBeLessThan(small * 40 + 20);
  });
});
