import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { currencies, isAmount, isCurrency, MAX_AMOUNT, minorUnitExponent, sumAmounts } from './money.js';

describe('money', () => {
  it('accepts exactly the integers from 1 to MAX_AMOUNT as amounts', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, MAX_AMOUNT, MAX_AMOUNT + 1, 2 ** 53, Number.NaN)), (n) => {
        expect(isAmount(n)).toBe(Number.isInteger(n) && n >= 1 && n <= MAX_AMOUNT);
      }),
    );
    expect(isAmount('100')).toBe(false);
  });

  it('sums exactly, in any order, or refuses', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: MAX_AMOUNT }), { maxLength: 50 }), (amounts) => {
        const total = sumAmounts(amounts);
        expect(total).toBe(amounts.reduce((s, a) => s + a, 0));
        expect(sumAmounts([...amounts].reverse())).toBe(total);
      }),
    );
    expect(() => sumAmounts([Number.MAX_SAFE_INTEGER, 1])).toThrow(RangeError);
    expect(() => sumAmounts([0.5])).toThrow(RangeError);
  });

  it('knows ISO 4217 currencies, upper-case, with their minor units', () => {
    expect(currencies.length).toBeGreaterThan(150);
    for (const c of currencies) expect(c).toMatch(/^[A-Z]{3}$/);
    expect([minorUnitExponent('JPY'), minorUnitExponent('EUR'), minorUnitExponent('KWD'), minorUnitExponent('CLF')]).toEqual([0, 2, 3, 4]);
    expect(isCurrency('eur')).toBe(false);
    expect(isCurrency('XXX')).toBe(false);
    expect(() => minorUnitExponent('ABC')).toThrow(RangeError);
  });
});
