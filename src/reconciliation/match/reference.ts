/**
 * Reference similarity (docs/reconciliation.md, "Features"). Idem sends its payment id as the
 * gateway reference; settlement files and manual operations reformat it (case, separators,
 * prefixes, truncation, a mistyped character). Both sides are normalised to upper-case letters
 * and digits, and the payment id's core (what follows its `pay_` prefix) is looked for in the
 * gateway's reference.
 */

/** Reference agreement levels, strongest first. */
export const REFERENCE_LEVELS = ['full', 'truncated', 'similar', 'missing', 'different'] as const;
export type ReferenceLevel = (typeof REFERENCE_LEVELS)[number];

/** Length of the reference grams used for blocking, and the shortest truncation still counted. */
export const GRAM = 8;
/** Most edits (substitutions, insertions, deletions) for a `similar` reference. */
const MAX_EDITS = 2;

/** Upper-case letters and digits only. */
export function normaliseReference(reference: string): string {
  // Most references are already upper-case letters and digits: test before building a string.
  for (let j = 0; j < reference.length; j++) {
    const c = reference.charCodeAt(j);
    if (c < 48 || (c > 57 && c < 65) || c > 90) return reference.toUpperCase().replace(NOT_ALPHANUMERIC, '');
  }
  return reference;
}

const NOT_ALPHANUMERIC = /[^0-9A-Z]+/g;

/** A character's base-36 digit after case folding (0-9, A-Z, a-z), −1 for anything else. */
function digitOf(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 90) return c - 55;
  if (c >= 97 && c <= 122) return c - 87;
  return -1;
}

/**
 * The part of an Idem payment id that identifies it: the text after its last `_`, normalised.
 *
 * @example referenceCore('pay_3k9xab…') === '3K9XAB…'
 */
export function referenceCore(paymentId: string): string {
  const cut = paymentId.lastIndexOf('_');
  return normaliseReference(cut >= 0 ? paymentId.slice(cut + 1) : paymentId);
}

/** A normalised character (0-9, A-Z) as a base-36 digit. */
function digit(c: number): number {
  return c <= 57 ? c - 48 : c - 55;
}

/** 36^GRAM: a gram's code is below it, and exact in a double (36^8 < 2^53). */
const GRAM_SPAN = 36 ** GRAM;

/** The code of `text.slice(at, at + GRAM)`, a normalised gram, as a base-36 number. */
function gramCode(text: string, at: number): number {
  let code = 0;
  for (let j = at; j < at + GRAM; j++) code = code * 36 + digit(text.charCodeAt(j));
  return code;
}

/**
 * A gram's blocking key: its code folded to a small integer (a prime modulus below 2^30), so
 * index keys need no allocation. Two grams may share a key; that only adds a candidate, which
 * its features then judge.
 */
export function gramKey(code: number): number {
  return code % 1_073_741_789;
}

/**
 * The blocking keys of a payment id's core: the codes of its non-overlapping grams (a
 * mistyped character spoils at most one of them, a truncation keeps the first). A core shorter
 * than a gram has none, and is found by amount only.
 */
export function coreGrams(core: string): number[] {
  const grams: number[] = [];
  for (let i = 0; i + GRAM <= core.length; i += GRAM) grams.push(gramCode(core, i));
  return grams;
}

/**
 * `coreGrams(referenceCore(paymentId))` without building the core: the payment id's characters
 * after its last `_` are folded and filtered as they are read. Appends to `into`.
 */
export function paymentIdGrams(paymentId: string, into: number[]): void {
  const start = into.length;
  let code = 0;
  let n = 0;
  for (let j = paymentId.lastIndexOf('_') + 1; j < paymentId.length; j++) {
    const c = paymentId.charCodeAt(j);
    // Beyond ASCII, case folding can make letters (ß → SS): the general path decides.
    if (c > 127) {
      into.length = start;
      into.push(...coreGrams(referenceCore(paymentId)));
      return;
    }
    const d = digitOf(c);
    if (d < 0) continue;
    code = code * 36 + d;
    if (++n === GRAM) {
      into.push(code);
      code = 0;
      n = 0;
    }
  }
}

/**
 * The code of every gram of a normalised gateway reference (rolling: one step per character),
 * appended to `into` when given.
 */
export function referenceGrams(normalised: string, into: number[] = []): number[] {
  const grams = into;
  if (normalised.length < GRAM) return grams;
  let code = gramCode(normalised, 0);
  grams.push(code);
  for (let at = 1; at + GRAM <= normalised.length; at++) {
    code = (code - digit(normalised.charCodeAt(at - 1)) * (GRAM_SPAN / 36)) * 36 + digit(normalised.charCodeAt(at + GRAM - 1));
    grams.push(code);
  }
  return grams;
}

/**
 * {@link referenceGrams} into a scratch buffer: writes the codes from index 0 and returns how
 * many (grows and returns a new buffer when it is too short: `into.length` is checked first).
 */
export function referenceGramsInto(normalised: string, into: Float64Array): number {
  const n = normalised.length - GRAM + 1;
  if (n <= 0) return 0;
  let code = gramCode(normalised, 0);
  into[0] = code;
  for (let at = 1; at < n; at++) {
    code = (code - digit(normalised.charCodeAt(at - 1)) * (GRAM_SPAN / 36)) * 36 + digit(normalised.charCodeAt(at + GRAM - 1));
    into[at] = code;
  }
  return n;
}

// One scratch row for the edit distance: the matcher is synchronous, so it is never shared.
let scratch = new Uint16Array(64);

/**
 * Fewest edits turning `core` into some substring of `text` (Sellers' semi-global distance:
 * the match may start and end anywhere in `text`).
 */
export function substringEditDistance(core: string, text: string): number {
  const n = core.length;
  if (scratch.length < n + 1) scratch = new Uint16Array(2 * (n + 1));
  const col = scratch;
  for (let i = 0; i <= n; i++) col[i] = i;
  let best = col[n]!;
  for (let j = 1; j <= text.length; j++) {
    const tc = text.charCodeAt(j - 1);
    let diag = 0; // col[0] of the previous column: a match may start anywhere in `text`
    col[0] = 0;
    for (let i = 1; i <= n; i++) {
      const up = col[i]!;
      const sub = diag + (core.charCodeAt(i - 1) === tc ? 0 : 1);
      const v = Math.min(sub, up + 1, col[i - 1]! + 1);
      diag = up;
      col[i] = v;
    }
    if (col[n]! < best) best = col[n]!;
  }
  return best;
}

/**
 * How well a gateway reference (already normalised; `undefined` when the record has none)
 * carries a payment id's core.
 */
export function referenceLevel(core: string, normalised: string | undefined): ReferenceLevel {
  if (normalised === undefined || normalised.length === 0) return 'missing';
  if (core.length === 0) return 'different';
  if (normalised.includes(core)) return 'full';
  if (core.length > GRAM) {
    const at = normalised.indexOf(core.slice(0, GRAM));
    if (at >= 0) {
      let k = GRAM;
      while (at + k < normalised.length && k < core.length && normalised.charCodeAt(at + k) === core.charCodeAt(k)) k++;
      if (at + k === normalised.length) return 'truncated';
    }
  }
  // At most MAX_EDITS edits leave one of the core's MAX_EDITS + 1 non-overlapping grams intact
  // (pigeonhole), so without one the distance need not be computed.
  if (core.length >= GRAM * (MAX_EDITS + 1)) {
    let intact = false;
    for (let i = 0; i < GRAM * (MAX_EDITS + 1) && !intact; i += GRAM) intact = normalised.includes(core.slice(i, i + GRAM));
    if (!intact) return 'different';
  }
  return substringEditDistance(core, normalised) <= MAX_EDITS ? 'similar' : 'different';
}
