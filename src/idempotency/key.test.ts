import { describe, expect, it } from 'vitest';
import { IdemError } from '../errors/registry.js';
import { parseIdempotencyKey } from './key.js';

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as IdemError).code;
  }
  return 'accepted';
};

describe('parseIdempotencyKey', () => {
  it('accepts 1 to 255 printable ASCII characters', () => {
    expect(parseIdempotencyKey('a')).toBe('a');
    expect(parseIdempotencyKey('x'.repeat(255))).toHaveLength(255);
    expect(parseIdempotencyKey(' !~order 42/ä?'.replace('ä', 'a'))).toBe(' !~order 42/a?');
  });

  it('refuses a missing key with IDEM_KEY_MISSING', () => {
    expect(codeOf(() => parseIdempotencyKey(undefined))).toBe('IDEM_KEY_MISSING');
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a control character', 'order\x0142'],
    ['a tab', 'order\t42'],
    ['DEL', 'order\x7f'],
    ['non-ASCII', 'ordér'],
  ])('refuses a key that is %s with IDEM_KEY_INVALID', (_name, key) => {
    expect(codeOf(() => parseIdempotencyKey(key))).toBe('IDEM_KEY_INVALID');
  });

  it('refuses the header sent twice', () => {
    expect(codeOf(() => parseIdempotencyKey(['a', 'b']))).toBe('IDEM_KEY_INVALID');
  });
});
