import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containsCardNumber, luhnValid, maskCardNumbers, maskCardNumbersInUrl, urlContainsCardNumber, valueContainsCardNumber } from './cardData.js';

/** A random Luhn-valid number of `length` digits. */
const pan = fc.integer({ min: 13, max: 19 }).chain((length) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: length - 1, maxLength: length - 1 }).map((digits) => {
    for (let check = 0; check <= 9; check++) {
      const candidate = digits.join('') + check;
      if (luhnValid(candidate)) return candidate;
    }
    throw new Error('unreachable');
  }),
);

describe('card number detection', () => {
  it('finds every Luhn-valid 13–19 digit number, bare, grouped or embedded', () => {
    fc.assert(
      fc.property(pan, fc.string(), fc.string(), (p, before, after) => {
        const grouped = p.replace(/(\d{4})(?=\d)/g, '$1 ');
        expect(containsCardNumber(p)).toBe(true);
        expect(containsCardNumber(grouped)).toBe(true);
        expect(containsCardNumber(`${before.replace(/[\d -]/g, 'x')}${p}${after.replace(/[\d -]/g, 'x')}`)).toBe(true);
        expect(valueContainsCardNumber({ metadata: { note: `card ${grouped}` } })).toBe(true);
        expect(valueContainsCardNumber([1, 2, { [p]: 'key' }])).toBe(true);
      }),
    );
  });

  it('masks them out of text bound for logs', () => {
    fc.assert(
      fc.property(pan, (p) => {
        const masked = maskCardNumbers(`/v1/payments?ref=${p}&x=1`);
        expect(containsCardNumber(masked)).toBe(false);
        expect(masked).toContain('&x=1');
      }),
    );
  });

  it('leaves short numbers, tokens and ids alone', () => {
    expect(containsCardNumber('order-123456789012')).toBe(false); // 12 digits
    expect(containsCardNumber('tok_visa')).toBe(false);
    expect(valueContainsCardNumber({ amount: 99_999_999_999, currency: 'EUR' })).toBe(false);
    expect(containsCardNumber('4111111111111112')).toBe(false); // fails Luhn
    expect(containsCardNumber('4111111111111111')).toBe(true);
    expect(containsCardNumber('ref 4111111111111111 2029')).toBe(true); // glued into a longer run
  });

  it('does not flag a 13–19 digit run that fails Luhn as a whole', () => {
    fc.assert(
      fc.property(pan, (p) => {
        const last = Number(p.at(-1));
        const broken = p.slice(0, -1) + String((last + 1) % 10);
        expect(containsCardNumber(`order ${broken}`)).toBe(false);
      }),
    );
  });

  it('finds a card grouped next to a short number (found by the HTTP fuzzer)', () => {
    expect(containsCardNumber('order 12 4111111111111111')).toBe(true);
    expect(containsCardNumber('378282246310005-7')).toBe(true);
    expect(maskCardNumbers('order 12 4111 1111 1111 1111')).toBe('order 12 [card number removed]');
    fc.assert(
      fc.property(pan, fc.integer({ min: 0, max: 999 }), fc.constantFrom(' ', '-'), (p, n, sep) => {
        expect(containsCardNumber(`${n}${sep}${p}`)).toBe(true);
        expect(containsCardNumber(`${p}${sep}${n}`)).toBe(true);
      }),
    );
  });

  it('reads URLs as a person would decode them, broken escapes and all (found by the HTTP fuzzer)', () => {
    const encoded = '4111111111111111'.replace(/\d/g, (d) => `%3${d}`);
    expect(urlContainsCardNumber(`/v1/payments/${encoded}`)).toBe(true);
    expect(urlContainsCardNumber(`/v1/payments?x=%ZZ&ref=${encoded}`)).toBe(true);
    expect(urlContainsCardNumber('/v1/payments?ref=4111+1111+1111+1111')).toBe(true);
    expect(urlContainsCardNumber('/v1/payments?limit=20&cursor=WyIyMDI2LTExLTI0VDAyOjE3OjUzLjY0NFoiXQ')).toBe(false);
    expect(maskCardNumbersInUrl(`/v1/payments?x=%ZZ&ref=${encoded}`)).toBe('/v1/payments?x=%ZZ&ref=[card number removed]');
    expect(maskCardNumbersInUrl('/v1/payments?limit=20&x=%20')).toBe('/v1/payments?limit=20&x=%20');
  });
});
