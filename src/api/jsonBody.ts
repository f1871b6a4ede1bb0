/**
 * What `JSON.parse` lets through and Idem must not: an object with the same key twice (the
 * last one wins in `JSON.parse`, the first in some other parsers, so two readers of one body
 * could disagree about what was asked), and numbers written so that their digits differ from
 * their value (`4.111111111111111e15`).
 */

export interface JsonFacts {
  /** The first key found twice in one object, or null. */
  duplicateKey: string | null;
  /** Numbers written with a fraction or exponent, as the value they stand for (`String(Number(text))`). */
  rewrittenNumbers: string[];
}

/**
 * One pass over text that `JSON.parse` has already accepted: finds a repeated key in any
 * object (at any depth, linear in the text: each key is decoded once and looked up in its
 * object's set) and the numbers whose written form is not their value.
 */
export function inspectJson(text: string): JsonFacts {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const stack: Array<Set<string> | null> = [];
  // Inside an object, true when the next string is a key.
  let expectKey = false;
  const rewrittenNumbers: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
      i++;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
      i++;
    } else if (c === 0x2c /* , */) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
      i++;
    } else if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          escaped = true;
          i += 2;
          continue;
        }
        i++;
        if (d === 0x22) break;
      }
      if (expectKey) {
        const raw = text.slice(start, i);
        const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return { duplicateKey: key, rewrittenNumbers };
        keys.add(key);
        expectKey = false;
      }
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      let plain = true;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x2e || d === 0x65 || d === 0x45) plain = false;
        else if (!(d === 0x2d || d === 0x2b || (d >= 0x30 && d <= 0x39))) break;
        i++;
      }
      if (!plain) rewrittenNumbers.push(String(Number(text.slice(start, i))));
    } else {
      i++;
    }
  }
  return { duplicateKey: null, rewrittenNumbers };
}
