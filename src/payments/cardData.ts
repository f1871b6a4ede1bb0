/**
 * Card-number detection (docs/security.md, invariant I6). Such a value is refused
 * wherever it appears in a request and masked wherever text might reach a log.
 *
 * A candidate is either one whole run of digits, or a few digit groups in a layout cards are
 * printed in (4-4-4-4, 4-6-5, …) joined by one or two of ` - . / _`, tab or no-break space. A
 * candidate is a card number when its issuer prefix and length belong to a card network and it
 * passes Luhn. A longer run of digits, or groups in no card layout (`<timestamp>-<sequence>`,
 * `YYYYMMDD-HHMMSS-nnn`), is an identifier, not a card.
 *
 * Before matching, text is NFKC-normalised (full-width digits and no-break spaces become ASCII)
 * and decimal digits of other scripts are read as ASCII digits. Everything here is linear in the
 * length of the text: one pass to find digit runs, a bounded number of layouts per run.
 */

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

/** A card network's issuer prefix range (inclusive, compared on the first `digits` digits) and the lengths it issues. */
interface IssuerRange {
  network: string;
  from: number;
  to: number;
  digits: number;
  lengths: readonly number[];
}

const L16_19 = [16, 17, 18, 19] as const;

/**
 * Issuer identification ranges, from the networks' published BIN tables (as summarised by
 * ISO/IEC 7812 registrars and the networks' acceptance guides). Overlaps are harmless: any
 * match counts.
 */
export const issuerRanges: readonly IssuerRange[] = [
  { network: 'visa', from: 4, to: 4, digits: 1, lengths: [13, 16, 19] },
  { network: 'mastercard', from: 51, to: 55, digits: 2, lengths: [16] },
  { network: 'mastercard', from: 2221, to: 2720, digits: 4, lengths: [16] },
  { network: 'amex', from: 34, to: 34, digits: 2, lengths: [15] },
  { network: 'amex', from: 37, to: 37, digits: 2, lengths: [15] },
  { network: 'discover', from: 6011, to: 6011, digits: 4, lengths: L16_19 },
  { network: 'discover', from: 644, to: 649, digits: 3, lengths: L16_19 },
  { network: 'discover', from: 65, to: 65, digits: 2, lengths: L16_19 },
  { network: 'discover', from: 622126, to: 622925, digits: 6, lengths: L16_19 },
  { network: 'jcb', from: 3528, to: 3589, digits: 4, lengths: L16_19 },
  { network: 'diners', from: 300, to: 305, digits: 3, lengths: [14, 15, 16, 17, 18, 19] },
  { network: 'diners', from: 3095, to: 3095, digits: 4, lengths: [14, 15, 16, 17, 18, 19] },
  { network: 'diners', from: 36, to: 36, digits: 2, lengths: [14, 15, 16, 17, 18, 19] },
  { network: 'diners', from: 38, to: 39, digits: 2, lengths: [14, 15, 16, 17, 18, 19] },
  { network: 'unionpay', from: 62, to: 62, digits: 2, lengths: L16_19 },
  { network: 'unionpay', from: 81, to: 81, digits: 2, lengths: L16_19 },
  { network: 'maestro', from: 5018, to: 5018, digits: 4, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { network: 'maestro', from: 5020, to: 5020, digits: 4, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { network: 'maestro', from: 5038, to: 5038, digits: 4, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { network: 'maestro', from: 5893, to: 5893, digits: 4, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { network: 'maestro', from: 6304, to: 6304, digits: 4, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { network: 'maestro', from: 6759, to: 6759, digits: 4, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { network: 'maestro', from: 6761, to: 6763, digits: 4, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { network: 'mir', from: 2200, to: 2204, digits: 4, lengths: L16_19 },
  { network: 'rupay', from: 60, to: 60, digits: 2, lengths: [16] },
  { network: 'rupay', from: 508, to: 508, digits: 3, lengths: [16] },
  { network: 'rupay', from: 353, to: 353, digits: 3, lengths: [16] },
  { network: 'rupay', from: 356, to: 356, digits: 3, lengths: [16] },
  { network: 'rupay', from: 82, to: 82, digits: 2, lengths: [16] },
  { network: 'verve', from: 506099, to: 506198, digits: 6, lengths: [16, 18, 19] },
  { network: 'verve', from: 507865, to: 507964, digits: 6, lengths: [16, 18, 19] },
  { network: 'verve', from: 650002, to: 650027, digits: 6, lengths: [16, 18, 19] },
  { network: 'elo', from: 401178, to: 401179, digits: 6, lengths: [16] },
  { network: 'elo', from: 431274, to: 431274, digits: 6, lengths: [16] },
  { network: 'elo', from: 438935, to: 438935, digits: 6, lengths: [16] },
  { network: 'elo', from: 451416, to: 451416, digits: 6, lengths: [16] },
  { network: 'elo', from: 457393, to: 457393, digits: 6, lengths: [16] },
  { network: 'elo', from: 457631, to: 457632, digits: 6, lengths: [16] },
  { network: 'elo', from: 504175, to: 504175, digits: 6, lengths: [16] },
  { network: 'elo', from: 506699, to: 506778, digits: 6, lengths: [16] },
  { network: 'elo', from: 509000, to: 509999, digits: 6, lengths: [16] },
  { network: 'elo', from: 627780, to: 627780, digits: 6, lengths: [16] },
  { network: 'elo', from: 636297, to: 636297, digits: 6, lengths: [16] },
  { network: 'elo', from: 636368, to: 636368, digits: 6, lengths: [16] },
  { network: 'elo', from: 650031, to: 650051, digits: 6, lengths: [16] },
  { network: 'elo', from: 650405, to: 650439, digits: 6, lengths: [16] },
  { network: 'elo', from: 650485, to: 650538, digits: 6, lengths: [16] },
  { network: 'elo', from: 650541, to: 650598, digits: 6, lengths: [16] },
  { network: 'elo', from: 650700, to: 650727, digits: 6, lengths: [16] },
  { network: 'elo', from: 650901, to: 650978, digits: 6, lengths: [16] },
  { network: 'elo', from: 651652, to: 651679, digits: 6, lengths: [16] },
  { network: 'elo', from: 655000, to: 655058, digits: 6, lengths: [16] },
  { network: 'troy', from: 9792, to: 9792, digits: 4, lengths: [16] },
];

const MIN_PAN = 12;
const MAX_PAN = 19;

/** The network whose prefix and length `digits` has, or null. Does not check Luhn. */
export function cardNetwork(digits: string): string | null {
  if (digits.length < MIN_PAN || digits.length > MAX_PAN) return null;
  for (const r of issuerRanges) {
    if (!r.lengths.includes(digits.length)) continue;
    const prefix = Number(digits.slice(0, r.digits));
    if (prefix >= r.from && prefix <= r.to) return r.network;
  }
  return null;
}

/** True if `digits` (ASCII digits only) is a primary account number: a network's prefix and length, and Luhn. */
export function isCardNumber(digits: string): boolean {
  return cardNetwork(digits) !== null && luhnValid(digits);
}

/**
 * Digit-group layouts cards are printed in, by group lengths. A window of groups is a
 * candidate only if its lengths are one of these, so `<timestamp>-<sequence>` (13-3) or a date
 * and time (8-6-3) never is.
 */
// Not 4-4-4: a UUID's three middle groups have that shape (1 in 300 all digits). A 12-digit
// Maestro card is still found written as one run.
const LAYOUTS: ReadonlySet<string> = new Set([
  '4-4-5', '4-3-3-3', '4-4-4-1', // 13
  '4-6-4', '4-4-4-2', // 14
  '4-6-5', '4-4-4-3', '4-5-6', // 15
  '4-4-4-4', // 16
  '4-4-4-4-1', // 17
  '4-4-4-4-2', '4-4-4-6', // 18
  '4-4-4-4-3', '6-13', '4-4-4-7', // 19
]);
const MAX_LAYOUT_GROUPS = 5;

/** Characters that may join the groups of a printed card number (after NFKC, a no-break space is a space). */
function isSeparator(c: number): boolean {
  return c === 0x20 || c === 0x2d || c === 0x2e || c === 0x2f || c === 0x5f || c === 0x09 || c === 0xa0;
}

/** ASCII letters: what glues a digit group into a word or a hex string. */
function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

let otherDigits: Map<number, number> | null = null;

/** Decimal digits of every script (Arabic-Indic, Devanagari, …) that NFKC leaves alone, to their values. */
function otherScriptDigits(): Map<number, number> {
  if (otherDigits) return otherDigits;
  const map = new Map<number, number>();
  const nd = /^\p{Nd}$/u;
  for (let cp = 0x80; cp < 0x20000; cp++) {
    const ch = String.fromCodePoint(cp);
    // Nd digits come in blocks of ten, zero first.
    if (nd.test(ch) && !map.has(cp)) for (let v = 0; v < 10; v++) map.set(cp + v, v);
  }
  otherDigits = map;
  return map;
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Text as the detector reads it: NFKC (full-width digits, no-break spaces, fancy dashes become
 * ASCII) and decimal digits of other scripts as ASCII digits. Returns the input itself when it
 * is ASCII, which is the common case and costs one scan.
 */
export function normaliseForCards(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  const nfkc = text.normalize('NFKC');
  if (!NON_ASCII.test(nfkc)) return nfkc;
  const digits = otherScriptDigits();
  let out = '';
  for (const ch of nfkc) {
    const v = digits.get(ch.codePointAt(0)!);
    out += v === undefined ? ch : String.fromCharCode(48 + v);
  }
  return out;
}

/**
 * Spans [start, end) of card numbers in already-normalised text. One pass collects the digit
 * runs; a run is checked alone, and each window of up to five consecutive runs joined by
 * separators is checked when its group lengths form a card layout.
 */
function findInNormalised(text: string): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  // The chain of digit groups seen so far that are joined by separators: starts and ends.
  const starts: number[] = [];
  const ends: number[] = [];
  // Whether the chain's first group has a letter just before it: then it is the tail of a
  // word or hex string ("9138-52045a521761" in a UUID), not the start of a printed number.
  let glued: boolean[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    const end = i;
    // Does this run continue the chain (one or two separators since the previous run)?
    const prevEnd = ends.length > 0 ? ends[ends.length - 1]! : -10;
    const gap = start - prevEnd;
    const joined = gap >= 1 && gap <= 2 && isSeparator(text.charCodeAt(prevEnd)) && (gap === 1 || isSeparator(text.charCodeAt(prevEnd + 1)));
    if (!joined) {
      starts.length = 0;
      ends.length = 0;
      glued = [];
    }
    starts.push(start);
    ends.push(end);
    glued.push(start > 0 && isLetter(text.charCodeAt(start - 1)));
    if (starts.length > MAX_LAYOUT_GROUPS) {
      starts.shift();
      ends.shift();
      glued.shift();
    }
    const runLength = end - start;
    if (runLength >= MIN_PAN && runLength <= MAX_PAN && isCardNumber(text.slice(start, end))) found.push([start, end]);
    // Windows of 2..5 groups that end with this run, unless a letter glues either end to a word.
    if (end < n && isLetter(text.charCodeAt(end))) continue;
    const last = starts.length - 1;
    let layout = String(runLength);
    let digits = text.slice(start, end);
    for (let first = last - 1; first >= 0 && digits.length <= MAX_PAN; first--) {
      layout = `${ends[first]! - starts[first]!}-${layout}`;
      digits = text.slice(starts[first], ends[first]) + digits;
      if (!glued[first] && LAYOUTS.has(layout) && isCardNumber(digits)) found.push([starts[first]!, end]);
    }
  }
  return merge(found);
}

/** Sorted, overlapping spans joined. */
function merge(spans: Array<[number, number]>): Array<[number, number]> {
  if (spans.length < 2) return spans;
  spans.sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [spans[0]!];
  for (const [s, e] of spans.slice(1)) {
    const top = out[out.length - 1]!;
    if (s <= top[1]) top[1] = Math.max(top[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** True if `text` contains a primary account number (docs/security.md). */
export function containsCardNumber(text: string): boolean {
  const normalised = normaliseForCards(text);
  // Most texts (a payment's JSON, its headers) hold fewer digits than the shortest card
  // number: one count answers them without the layout search.
  return fewerDigitsThan(normalised, MIN_PAN) ? false : findInNormalised(normalised).length > 0;
}

function fewerDigitsThan(text: string, n: number): boolean {
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57 && ++digits >= n) return false;
  }
  return true;
}

/**
 * Replaces every card number in `text` with a mask, for logs. Text holding none is returned as
 * it is; text holding one is returned normalised (NFKC), with the numbers masked.
 */
export function maskCardNumbers(text: string): string {
  const normal = normaliseForCards(text);
  const found = findInNormalised(normal);
  if (found.length === 0) return text;
  let out = '';
  let at = 0;
  for (const [s, e] of found) {
    out += normal.slice(at, s) + '[card number removed]';
    at = e;
  }
  return out + normal.slice(at);
}

/**
 * A URL as anyone reading it may decode it: each percent-escape on its own (a malformed one,
 * such as `%ZZ`, stays as it is instead of spoiling the rest), UTF-8 sequences decoded where
 * they are whole, and `+` as a space.
 */
export function decodeUrlLoosely(url: string): string {
  if (!url.includes('%') && !url.includes('+')) return url;
  return url.replace(/\+/g, ' ').replace(/(?:%[0-9A-Fa-f]{2})+/g, (seq) => {
    const bytes = Buffer.from(seq.replace(/%/g, ''), 'hex');
    const utf8 = bytes.toString('utf8');
    // Where the bytes are not whole UTF-8, read them one by one (Latin-1), as a person would.
    return utf8.includes('\ufffd') ? bytes.toString('latin1') : utf8;
  });
}

/** True if the URL holds a card number, as written or once percent-decoded. */
export function urlContainsCardNumber(url: string): boolean {
  const decoded = decodeUrlLoosely(url);
  return containsCardNumber(decoded === url ? url : `${url}\n${decoded}`);
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

/**
 * JSON text with its string escapes decoded (`\u0034` → `4`, `\t` → tab, `\\` → `\`), in one
 * pass, without parsing: what the detector reads of a body, so no escape hides a card number
 * at any depth. Not valid JSON afterwards; only for scanning.
 */
export function unescapeJsonLoosely(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\(?:u([0-9a-fA-F]{4})|(.))/gs, (_m, hex: string | undefined, ch: string | undefined) => {
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    switch (ch) {
      case 't':
        return '\t';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      default:
        return ch!;
    }
  });
}

/**
 * True if any key, string or number anywhere in the value holds a card number. Iterative, with
 * no depth cap: a value nested deeper than any cap would otherwise slip through.
 */
export function valueContainsCardNumber(value: unknown): boolean {
  const parts: string[] = [];
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const v = pending.pop();
    if (typeof v === 'string') parts.push(v);
    else if (typeof v === 'number' || typeof v === 'bigint') parts.push(String(v));
    else if (Array.isArray(v)) for (const item of v) pending.push(item);
    else if (v !== null && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        parts.push(k);
        pending.push(inner);
      }
    }
  }
  // One line per leaf: a newline joins nothing, so two leaves never form one number.
  return containsCardNumber(parts.join('\n'));
}
