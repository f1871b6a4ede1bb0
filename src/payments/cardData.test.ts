import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullWidth, generatePan, networks, printed, separators } from '../../test/support/cardCorpus.js';
import {
  cardNetwork,
  containsCardNumber,
  isCardNumber,
  luhnValid,
  maskCardNumbers,
  maskCardNumbersInUrl,
  unescapeJsonLoosely,
  urlContainsCardNumber,
  valueContainsCardNumber,
} from './cardData.js';

/** A PAN of a random network, from a fast-check seed. */
const pan = fc.tuple(fc.constantFrom(...Object.keys(networks)), fc.integer()).map(([network, seed]) => {
  let s = seed >>> 0;
  const r = () => ((s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0) / 4294967296);
  return generatePan(r, network);
});
const separator = fc.constantFrom(...separators);
/** Text around a PAN that neither extends a digit run nor joins a group: letters and punctuation. */
const surrounding = fc.string({ maxLength: 20 }).map((s) => `${s.replace(/[\p{Nd}\s\-./_\u00a0]/gu, 'x')}`);

describe('card number detection (docs/security.md)', () => {
  it('finds every network PAN, bare, printed with any separator, full-width, or between other text', () => {
    fc.assert(
      fc.property(pan, separator, surrounding, surrounding, fc.integer(), (p, sep, before, after, seed) => {
        let s = seed >>> 0;
        const r = () => ((s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0) / 4294967296);
        const shown = printed(p, sep, r);
        expect(isCardNumber(p)).toBe(true);
        expect(containsCardNumber(p)).toBe(true);
        expect(containsCardNumber(shown)).toBe(true);
        expect(containsCardNumber(fullWidth(shown))).toBe(true);
        expect(containsCardNumber(`${before} ${p} ${after}`)).toBe(true);
        expect(containsCardNumber(`${before}${p}${after}`)).toBe(true);
        expect(containsCardNumber(`${before}: ${shown}, ${after}`)).toBe(true);
        expect(valueContainsCardNumber({ metadata: { note: `card ${shown}` } })).toBe(true);
        expect(valueContainsCardNumber([1, 2, { [p]: 'key' }])).toBe(true);
      }),
    );
  });

  it('masks them out of text bound for logs, leaving the rest', () => {
    fc.assert(
      fc.property(pan, separator, (p, sep) => {
        const r = () => 0;
        const masked = maskCardNumbers(`/v1/payments?ref=${printed(p, sep, r)}&x=1`);
        expect(containsCardNumber(masked)).toBe(false);
        expect(masked).toBe('/v1/payments?ref=[card number removed]&x=1');
      }),
    );
  });

  it('is not fooled by a wrong check digit', () => {
    fc.assert(
      fc.property(pan, (p) => {
        const broken = p.slice(0, -1) + String((Number(p.at(-1)) + 1) % 10);
        expect(containsCardNumber(`order ${broken}`)).toBe(false);
      }),
    );
  });

  it('treats a longer run of digits, or groups in no card layout, as an identifier', () => {
    fc.assert(
      fc.property(pan, fc.integer({ min: 1, max: 9 }), (p, d) => {
        // The PAN glued to more digits is a longer run: an order number, not a card.
        expect(containsCardNumber(`${p}${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}`.slice(0, Math.max(p.length + 1, 20)))).toBe(
          containsCardNumber(`${p}${String(d).repeat(Math.max(1, 20 - p.length))}`),
        );
      }),
    );
    expect(containsCardNumber('41111111111111110000')).toBe(false); // 20 digits
    expect(containsCardNumber('1764570000000-123')).toBe(false); // <timestamp>-<sequence>
    expect(containsCardNumber('20261201-101500-042')).toBe(false); // date-time-sequence
    expect(containsCardNumber('4111-111111111-111')).toBe(false); // 4-9-3: no card is printed so
    // Groups glued to letters are pieces of a word or hex string (a UUID), not a printed card;
    // one whole run stays a card even between letters.
    expect(containsCardNumber('6ae5bff1-cf83-4879-9138-52045a521761')).toBe(false);
    expect(containsCardNumber('x4111111111111111y')).toBe(true);
  });

  it('knows the networks by prefix and length', () => {
    expect(cardNetwork('4111111111111111')).toBe('visa');
    expect(cardNetwork('5555555555554444')).toBe('mastercard');
    expect(cardNetwork('2223003122003222')).toBe('mastercard');
    expect(cardNetwork('378282246310005')).toBe('amex');
    expect(cardNetwork('6011111111111117')).toBe('discover');
    expect(cardNetwork('3530111333300000')).toBe('jcb');
    expect(cardNetwork('30569309025904')).toBe('diners');
    expect(cardNetwork('6200000000000005')).toBe('unionpay');
    expect(cardNetwork('2200000000000004')).toBe('mir');
    expect(cardNetwork('9792000000000001')).toBe('troy');
    expect(cardNetwork('1764570000000')).toBeNull(); // a millisecond timestamp: no network starts with 1
    expect(cardNetwork('4111111111111')).toBe('visa'); // 13-digit Visa
    expect(cardNetwork('41111111111111')).toBeNull(); // Visa issues no 14-digit cards
    expect(luhnValid('4111111111111111')).toBe(true);
  });

  it('leaves short numbers, tokens and ids alone', () => {
    expect(containsCardNumber('order-123456789012')).toBe(false);
    expect(containsCardNumber('tok_visa')).toBe(false);
    expect(valueContainsCardNumber({ amount: 99_999_999_999, currency: 'EUR' })).toBe(false);
    expect(containsCardNumber('4111111111111112')).toBe(false); // fails Luhn
    expect(containsCardNumber('ref 4111111111111111 2029')).toBe(true); // a whole run, a short number after it
  });

  it('finds a card next to a short number (found by the HTTP fuzzer)', () => {
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

  it('reads other scripts\' digits and no-break spaces as a person would', () => {
    expect(containsCardNumber('４１１１ １１１１ １１１１ １１１１')).toBe(true);
    expect(containsCardNumber('4111\u00a01111\u00a01111\u00a01111')).toBe(true);
    expect(containsCardNumber('٤١١١١١١١١١١١١١١١')).toBe(true); // Arabic-Indic digits
    expect(maskCardNumbers('card ４１１１１１１１１１１１１１１１ ok')).toBe('card [card number removed] ok');
  });

  it('reads URLs as a person would decode them, broken escapes and all (found by the HTTP fuzzer)', () => {
    const encoded = '4111111111111111'.replace(/\d/g, (d) => `%3${d}`);
    expect(urlContainsCardNumber(`/v1/payments/${encoded}`)).toBe(true);
    expect(urlContainsCardNumber(`/v1/payments?x=%ZZ&ref=${encoded}`)).toBe(true);
    expect(urlContainsCardNumber('/v1/payments?ref=4111+1111+1111+1111')).toBe(true);
    expect(urlContainsCardNumber('/v1/payments?ref=%EF%BC%94111111111111111')).toBe(true); // a full-width 4, UTF-8 encoded
    expect(urlContainsCardNumber('/v1/payments?limit=20&cursor=WyIyMDI2LTExLTI0VDAyOjE3OjUzLjY0NFoiXQ')).toBe(false);
    expect(maskCardNumbersInUrl(`/v1/payments?x=%ZZ&ref=${encoded}`)).toBe('/v1/payments?x=%ZZ&ref=[card number removed]');
    expect(maskCardNumbersInUrl('/v1/payments?limit=20&x=%20')).toBe('/v1/payments?limit=20&x=%20');
  });

  it('reads JSON escapes at any depth', () => {
    const escaped = '4111111111111111'.replace(/\d/g, (d) => `\\u003${d}`);
    expect(containsCardNumber(unescapeJsonLoosely(`{"a":"${escaped}"}`))).toBe(true);
    let deep: unknown = '4111 1111 1111 1111';
    for (let i = 0; i < 5_000; i++) deep = { a: deep };
    expect(valueContainsCardNumber(deep)).toBe(true);
  });

  it('takes time linear in the input', () => {
    const time = (text: string) => {
      const t0 = process.hrtime.bigint();
      containsCardNumber(text);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    // Worst cases for a windowed detector: long digit runs, and long chains of short groups.
    const shapes = [(n: number) => '4'.repeat(n), (n: number) => '4111 '.repeat(n / 5), (n: number) => '1-'.repeat(n / 2), (n: number) => '٤'.repeat(n)];
    for (const shape of shapes) {
      time(shape(10_000)); // warm up
      const small = Math.min(...[1, 2, 3].map(() => time(shape(200_000))));
      const large = Math.min(...[1, 2, 3].map(() => time(shape(1_000_000))));
      // Five times the input: linear is ~5×, quadratic 25×. Generous for a shared machine.
      expect(large).toBeLessThan(small * 15 + 20);
    }
  });
});
