import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, fingerprint } from './fingerprint.js';

/** Re-serializes a value with its object keys in a random order and random whitespace. */
function shuffledJson(value: unknown, rand: () => number): string {
  const ws = () => [' ', '\n', '\t', ''][Math.floor(rand() * 4)]!;
  if (value === null || typeof value !== 'object') return ws() + JSON.stringify(value) + ws();
  if (Array.isArray(value)) return '[' + value.map((v) => shuffledJson(v, rand)).join(',' + ws()) + ']';
  const keys = Object.keys(value).sort(() => rand() - 0.5);
  return '{' + ws() + keys.map((k) => JSON.stringify(k) + ws() + ':' + shuffledJson((value as Record<string, unknown>)[k], rand)).join(',') + ws() + '}';
}

const json = fc.jsonValue({ maxDepth: 4 });

describe('fingerprint', () => {
  it('is invariant under key order and whitespace', () => {
    fc.assert(
      fc.property(json, fc.integer(), (value, seed) => {
        let s = seed;
        const rand = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
        const reordered = JSON.parse(shuffledJson(value, rand));
        expect(fingerprint('POST', '/v1/payments', reordered)).toBe(fingerprint('POST', '/v1/payments', value));
      }),
    );
  });

  it('changes with any value', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        fc.pre(canonicalJson(a) !== canonicalJson(b));
        expect(fingerprint('POST', '/v1/payments', a)).not.toBe(fingerprint('POST', '/v1/payments', b));
      }),
    );
  });

  it('changes when one field of a payment body changes', () => {
    const body = { amount: 1000, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } };
    fc.assert(
      fc.property(fc.constantFrom('amount', 'currency', 'capture_method', 'token'), fc.string({ minLength: 1 }), (field, v) => {
        const changed = structuredClone(body) as Record<string, unknown> & { payment_method: Record<string, unknown> };
        if (field === 'token') changed.payment_method.token = changed.payment_method.token + v;
        else changed[field] = String(changed[field]) + v;
        expect(fingerprint('POST', '/v1/payments', changed)).not.toBe(fingerprint('POST', '/v1/payments', body));
      }),
    );
  });

  it('changes with the method and the route', () => {
    fc.assert(
      fc.property(json, (value) => {
        const base = fingerprint('POST', '/v1/payments', value);
        expect(fingerprint('POST', '/v1/payments/pay_1/capture', value)).not.toBe(base);
        expect(fingerprint('PUT', '/v1/payments', value)).not.toBe(base);
      }),
    );
  });

  it('writes canonical JSON with sorted keys and no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, { d: 'x', c: 2 }] })).toBe('{"a":[true,null,{"c":2,"d":"x"}],"b":1}');
    expect(canonicalJson(undefined)).toBe('null');
  });
});
