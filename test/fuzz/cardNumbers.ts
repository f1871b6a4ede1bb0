import fc from 'fast-check';
import { containsCardNumber } from '../../src/payments/cardData.js';
import { fullWidth, generatePan, networks, printed, separators } from '../support/cardCorpus.js';

/**
 * Card numbers for the hostile-input fuzzer: generating them in every disguise a client might
 * send, and finding them afterwards in logs and in the database (invariant I6). The finder
 * pairs Idem's own detector with an independent one written here, so a bug in the detector
 * cannot hide itself.
 */

/** Luhn, written again on purpose (not imported): the independent half of the check. */
export function luhnPasses(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/** True if a card network issues numbers of this prefix and length (the corpus's own table, not Idem's). */
function networkIssues(digits: string): boolean {
  return Object.values(networks).some((n) => n.lengths.includes(digits.length) && n.prefixes.some(([from, to]) => {
    const head = digits.slice(0, from.length);
    return head >= from && head <= to;
  }));
}

/** Every maximal run of 12–19 digits (full-width ones too) that a card network issues and that passes Luhn. */
export function luhnRuns(text: string): string[] {
  const ascii = text.normalize('NFKC');
  return (ascii.match(/[0-9]+/g) ?? []).filter((run) => run.length >= 12 && run.length <= 19 && networkIssues(run) && luhnPasses(run));
}

/** Why `text` holds a card number (Idem's detector, the independent one, or both, with what each found), or null. */
export function cardNumberIn(text: string): string | null {
  const runs = luhnRuns(text);
  const idem = containsCardNumber(text);
  if (!idem && runs.length === 0) return null;
  const idemFound = idem ? [...text.normalize('NFKC').matchAll(/\d(?:[ \-./_\t\u00a0]{1,2}\d|\d){11,}/g)].map((m) => m[0]).find((c) => containsCardNumber(c)) : undefined;
  return [idem ? `containsCardNumber("${idemFound ?? '?'}")` : '', runs.length ? `Luhn-valid digit run ${runs[0]}` : ''].filter(Boolean).join(' and ');
}

/** A primary account number of a card network (prefix, length, Luhn; docs/security.md), of any network. */
export const pan: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...Object.keys(networks)), fc.integer())
  .map(([network, seed]) => {
    let s = seed >>> 0;
    return generatePan(() => ((s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0) / 4294967296), network);
  });

/** The same number grouped the way people type it: 4-4-4-4(-3) with spaces or dashes. */
export function grouped(number: string, separator: ' ' | '-'): string {
  // A 12-digit Maestro number is refused as one run only: 4-4-4 is also a UUID's middle (docs/security.md).
  if (number.length === 12) return number;
  return number.replace(/(\d{4})(?=\d)/g, `$1${separator}`);
}

/**
 * A card number as text, in the forms a person or a careless client writes it: bare, grouped,
 * inside words, and next to other short numbers ("order 12 4111…", "4111… 2029").
 */
export const panText: fc.Arbitrary<string> = fc.tuple(pan, fc.nat(10), fc.integer({ min: 1, max: 999 }), fc.constantFrom(...separators)).map(([p, form, n, sep]) => {
  switch (form) {
    case 8:
      return printed(p, sep, () => 0); // dots, slashes, underscores, tabs, no-break spaces, two at a time
    case 9:
      return fullWidth(printed(p, ' ', () => 0));
    case 10:
      return `ref ${printed(p, sep, () => 0)} ok`;
    case 0:
      return p;
    case 1:
      return grouped(p, ' ');
    case 2:
      return grouped(p, '-');
    case 3:
      return `card ${p} thanks`;
    case 4:
      return `x${p}y`;
    case 5:
      return `${n} ${p}`; // a short number, a space, then the card: one 'grouped' run to a naive detector
    case 6:
      return `${p}-${n}`;
    default:
      return `${grouped(p, ' ')} exp 12/29`;
  }
});

/** `text` as the inside of a JSON string literal with every digit written as a \u escape. */
export function jsonEscapedDigits(text: string): string {
  return JSON.stringify(text)
    .slice(1, -1)
    .replace(/[0-9]/g, (d) => `\\u00${d.charCodeAt(0).toString(16)}`);
}

/** `text` for a URL, with every digit percent-encoded (and every space as %20). */
export function percentEncodedDigits(text: string): string {
  return [...text].map((c) => (/[0-9]/.test(c) ? `%${c.charCodeAt(0).toString(16).toUpperCase()}` : encodeURIComponent(c))).join('');
}

/** Percent-escapes decoded one by one (a broken one is left as it is) and `+` read as a space. */
export function urlDecodedLoosely(text: string): string {
  return text.replace(/\+/g, ' ').replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Keys under which the logger writes numbers of its own (clock, process), not request data. */
const LOGGER_NUMBERS = new Set(['time', 'pid', 'level', 'responseTime']);

/**
 * Card numbers in captured process output, one finding per line. A JSON log line is read as
 * JSON: every key and string is checked (a URL also percent-decoded, as a reader of the log
 * would decode it), and every integer except the logger's own clock and process fields — a
 * 13-digit millisecond timestamp is not a card number even when it happens to pass Luhn.
 * Any other line is checked as text.
 */
export function cardNumbersInOutput(output: string): string[] {
  const found: string[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = undefined;
    }
    if (entry === null || typeof entry !== 'object') {
      const why = cardNumberIn(line);
      if (why) found.push(`${why}: ${line.slice(0, 300)}`);
      continue;
    }
    const stack: Array<[key: string, value: unknown]> = [['', entry]];
    while (stack.length > 0) {
      const [key, value] = stack.pop()!;
      const why =
        typeof value === 'string'
          ? (cardNumberIn(value) ?? (key === 'url' ? cardNumberIn(urlDecodedLoosely(value)) : null))
          : typeof value === 'number' && Number.isInteger(value) && !LOGGER_NUMBERS.has(key)
            ? cardNumberIn(String(value))
            : null;
      if (why) {
        found.push(`${why} at "${key}": ${line.slice(0, 300)}`);
        break;
      }
      if (value !== null && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          if (cardNumberIn(k)) found.push(`card number in a key: ${line.slice(0, 300)}`);
          stack.push([k, v]);
        }
      }
    }
  }
  return found;
}
