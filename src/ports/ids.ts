import type { Random } from './clock.js';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * A prefixed random identifier such as `pay_3k9x…`, drawn from the injected random source so
 * simulations replay identically.
 */
export function newId(random: Random, prefix: string, length = 24): string {
  const bytes = random.bytes(length);
  let out = prefix + '_';
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i]! & 31];
  return out;
}
