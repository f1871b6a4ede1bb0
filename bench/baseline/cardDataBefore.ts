// The card-number detector as it was before the network-aware detector (commit d5eb3b8): the baseline bench/cardDetector.ts measures against. Not used by Idem.
/**
 * Card-number detection (invariant I6): 13–19 digits, optionally grouped with
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
 * A run of 13–19 digits is a card number if it passes Luhn as a whole, or if some of its
 * space- or dash-separated groups do ("order 12 4111 1111 1111 1111", "378282246310005-7": the
 * card next to a short number is still a card). A longer run is refused if any 13–19 digit
 * window of it passes: a PAN glued to other digits is still a PAN, and erring that way keeps
 * invariant I6.
 */
function findCardNumbers(text: string): Array<[start: number, end: number]> {
  const found: Array<[number, number]> = [];
  for (const m of text.matchAll(CANDIDATE)) {
    const run = m[0];
    const positions: number[] = [];
    const groupStarts: number[] = [];
    for (let i = 0; i < run.length; i++) {
      if (run[i] === ' ' || run[i] === '-') continue;
      if (i === 0 || run[i - 1] === ' ' || run[i - 1] === '-') groupStarts.push(positions.length);
      positions.push(i);
    }
    const digits = positions.map((p) => run[p]).join('');
    const hit = digits.length > 19 ? luhnWindow(digits) : luhnGroupSpan(digits, groupStarts);
    if (hit) found.push([m.index + positions[hit[0]]!, m.index + positions[hit[1] - 1]! + 1]);
  }
  return found;
}

/** The longest 13–19 digit window of `digits` that passes Luhn, as [start, end). */
function luhnWindow(digits: string): [number, number] | null {
  for (let len = 19; len >= 13; len--) {
    for (let s = 0; s + len <= digits.length; s++) if (luhnValid(digits.slice(s, s + len))) return [s, s + len];
  }
  return null;
}

/** The longest span of whole groups, 13–19 digits in all, that passes Luhn, as [start, end). */
function luhnGroupSpan(digits: string, groupStarts: number[]): [number, number] | null {
  const bounds = [...groupStarts, digits.length];
  let best: [number, number] | null = null;
  for (let a = 0; a < groupStarts.length; a++) {
    for (let b = a + 1; b < bounds.length; b++) {
      const len = bounds[b]! - bounds[a]!;
      if (len < 13 || len > 19 || (best && best[1] - best[0] >= len)) continue;
      if (luhnValid(digits.slice(bounds[a], bounds[b]))) best = [bounds[a]!, bounds[b]!];
    }
  }
  return best;
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

/**
 * A URL as anyone reading it may decode it: each percent-escape on its own (a malformed one,
 * such as `%ZZ`, stays as it is instead of spoiling the rest) and `+` as a space.
 */
function decodeUrlLoosely(url: string): string {
  return url.replace(/\+/g, ' ').replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** True if the URL holds a card number, as written or once percent-decoded. */
export function urlContainsCardNumber(url: string): boolean {
  return containsCardNumber(url) || containsCardNumber(decodeUrlLoosely(url));
}

/**
 * The URL with card numbers masked, for logs and messages. It stays as written unless decoding
 * it would reveal a card number; then it is given decoded, with the number masked.
 *
 * @example maskCardNumbersInUrl('/v1/payments?ref=%34%31%31%31…') // '/v1/payments?ref=[card number removed]'
 */
export function maskCardNumbersInUrl(url: string): string {
  const masked = maskCardNumbers(url);
  const decoded = decodeUrlLoosely(masked);
  return containsCardNumber(decoded) ? maskCardNumbers(decoded) : masked;
}
