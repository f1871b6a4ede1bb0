/**
 * Card-number detection (SPEC section 3, invariant I6): 13–19 digits, optionally grouped with
 * single spaces or dashes, that pass the Luhn check. Such a value is refused wherever it
 * appears in a request and masked wherever text might reach a log.
 */

const CANDIDATE = /\d(?:[ -]?\d){12,}/g;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** True if `text` contains something that looks like a primary account number. */
export function containsCardNumber(text: string): boolean {
  return findCardNumbers(text).length > 0;
}

/**
 * A run of 13–19 digits is a card number if it passes Luhn as a whole. A longer run is
 * refused if any 13–19 digit window of it passes: a PAN glued to other digits is still a PAN,
 * and erring that way keeps invariant I6.
 */
function findCardNumbers(text: string): Array<[start: number, end: number]> {
  const found: Array<[number, number]> = [];
  for (const m of text.matchAll(CANDIDATE)) {
    const run = m[0];
    const positions: number[] = [];
    for (let i = 0; i < run.length; i++) if (run[i] !== ' ' && run[i] !== '-') positions.push(i);
    const digits = positions.map((p) => run[p]).join('');
    const longest = digits.length <= 19 ? digits.length : 19;
    const shortest = digits.length <= 19 ? digits.length : 13;
    outer: for (let len = longest; len >= shortest; len--) {
      for (let s = 0; s + len <= digits.length; s++) {
        if (luhnValid(digits.slice(s, s + len))) {
          found.push([m.index + positions[s]!, m.index + positions[s + len - 1]! + 1]);
          break outer;
        }
      }
    }
  }
  return found;
}

/** True if any key, string or number anywhere in the value looks like a card number. */
export function valueContainsCardNumber(value: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (typeof value === 'string') return containsCardNumber(value);
  if (typeof value === 'number' || typeof value === 'bigint') return containsCardNumber(String(value));
  if (Array.isArray(value)) return value.some((v) => valueContainsCardNumber(v, depth + 1));
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (containsCardNumber(k) || valueContainsCardNumber(v, depth + 1)) return true;
    }
  }
  return false;
}

/** Replaces every card-number-like run in `text` with a mask, for logs. */
export function maskCardNumbers(text: string): string {
  const found = findCardNumbers(text);
  if (found.length === 0) return text;
  let out = '';
  let at = 0;
  for (const [s, e] of found) {
    out += text.slice(at, s) + '[card number removed]';
    at = e;
  }
  return out + text.slice(at);
}
