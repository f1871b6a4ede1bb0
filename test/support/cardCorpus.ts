/**
 * Generated corpora that judge the card-number detector both ways (docs/security.md): card numbers of
 * every network in every printed format it must refuse, and realistic identifiers it must let
 * through. Seeded, so a measured rate can be reproduced (`bench/cardDetector.ts`).
 *
 * The network table here is written from the networks' documentation again, on purpose, not
 * imported from the detector: a range the detector forgets shows up as a miss.
 */

/** mulberry32: a small seeded generator, enough for corpora. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (r: () => number, min: number, max: number) => min + Math.floor(r() * (max - min + 1));
const pick = <T>(r: () => number, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
const digits = (r: () => number, n: number) => Array.from({ length: n }, () => String(int(r, 0, 9))).join('');

function luhnCheckDigit(body: string): string {
  for (let c = 0; c <= 9; c++) {
    const s = body + c;
    let sum = 0;
    for (let i = 0; i < s.length; i++) {
      let d = s.charCodeAt(s.length - 1 - i) - 48;
      if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    if (sum % 10 === 0) return String(c);
  }
  throw new Error('unreachable');
}

/** Per network: example issuer prefixes (inclusive ranges as strings of equal length) and lengths. */
export const networks: Record<string, { prefixes: Array<[string, string]>; lengths: number[] }> = {
  visa: { prefixes: [['4', '4']], lengths: [13, 16, 19] },
  mastercard: { prefixes: [['51', '55'], ['2221', '2720']], lengths: [16] },
  amex: { prefixes: [['34', '34'], ['37', '37']], lengths: [15] },
  discover: { prefixes: [['6011', '6011'], ['644', '649'], ['65', '65'], ['622126', '622925']], lengths: [16, 19] },
  jcb: { prefixes: [['3528', '3589']], lengths: [16, 19] },
  diners: { prefixes: [['300', '305'], ['36', '36'], ['38', '39']], lengths: [14, 16] },
  unionpay: { prefixes: [['62', '62']], lengths: [16, 17, 18, 19] },
  maestro: { prefixes: [['5018', '5018'], ['5020', '5020'], ['5038', '5038'], ['6304', '6304'], ['6759', '6759'], ['6761', '6763']], lengths: [12, 13, 15, 16, 18, 19] },
  mir: { prefixes: [['2200', '2204']], lengths: [16] },
  rupay: { prefixes: [['60', '60'], ['508', '508'], ['353', '353'], ['356', '356']], lengths: [16] },
  verve: { prefixes: [['506099', '506198'], ['650002', '650027']], lengths: [16, 19] },
  elo: { prefixes: [['401178', '401179'], ['431274', '431274'], ['504175', '504175'], ['636297', '636297'], ['636368', '636368']], lengths: [16] },
  troy: { prefixes: [['9792', '9792']], lengths: [16] },
};

/** Published test card numbers (Stripe, Adyen, network guides), as a check on the generator. */
export const publishedTestPans = [
  '4111111111111111', '4242424242424242', '4012888888881881', '4222222222222',
  '5555555555554444', '5105105105105100', '2223003122003222',
  '378282246310005', '371449635398431',
  '6011111111111117', '6011000990139424',
  '3530111333300000', '3566002020360505',
  '30569309025904', '38520000023237', '36227206271667',
  '6200000000000005', '6759649826438453',
];

/** A PAN of `network`, drawn from its prefixes and lengths, with its Luhn check digit. */
export function generatePan(r: () => number, network: string): string {
  const n = networks[network]!;
  const [from, to] = pick(r, n.prefixes);
  const prefix = String(int(r, Number(from), Number(to))).padStart(from.length, '0');
  const length = pick(r, n.lengths);
  const body = prefix + digits(r, length - prefix.length - 1);
  return body + luhnCheckDigit(body);
}

/** How cards of each length are printed (group sizes). */
const printedLayouts: Record<number, number[][]> = {
  12: [[12]], // 12-digit Maestro cards are refused as one run only: 4-4-4 is also a UUID's middle (docs/security.md)
  13: [[4, 4, 5]],
  14: [[4, 6, 4]],
  15: [[4, 6, 5], [4, 4, 4, 3]],
  16: [[4, 4, 4, 4]],
  17: [[4, 4, 4, 4, 1]],
  18: [[4, 4, 4, 4, 2]],
  19: [[4, 4, 4, 4, 3]],
};

export const separators = [' ', '-', '.', '/', '_', '\t', '\u00a0', '  ', ' -', '- ', '\u00a0\u00a0'];

/** The PAN printed in one of its layouts with `sep` between groups. */
export function printed(pan: string, sep: string, r: () => number): string {
  const layout = pick(r, printedLayouts[pan.length]!);
  const groups: string[] = [];
  let at = 0;
  for (const g of layout) {
    groups.push(pan.slice(at, at + g));
    at += g;
  }
  return groups.join(sep);
}

/** ASCII digits as full-width ones (U+FF10…), as an East Asian keyboard types them. */
export const fullWidth = (text: string) => text.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));

/** Every format a PAN must be refused in: bare, printed with every separator, full-width, inside text. */
export function panFormats(pan: string, r: () => number): string[] {
  const out = [pan, fullWidth(pan), `card ${pan} exp 12/29`, `x${pan}y`];
  for (const sep of separators) {
    const p = printed(pan, sep, r);
    out.push(p, fullWidth(p), `order 12 ${p} thanks`);
  }
  return out;
}

/** Realistic identifiers that are not card numbers, by kind; `n` of each. */
export function identifiers(r: () => number, n: number): Record<string, string[]> {
  const ts = () => String(int(r, 1_577_836_800_000, 1_893_456_000_000)); // 2020–2030, ms
  const hex = (k: number) => Array.from({ length: k }, () => '0123456789abcdef'[int(r, 0, 15)]).join('');
  const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const two = (v: number) => String(v).padStart(2, '0');
  const kinds: Record<string, () => string> = {
    'timestamp (13 digits)': ts,
    'order-<timestamp>': () => `order-${ts()}`,
    '<timestamp>-<sequence>': () => `${ts()}-${int(r, 0, 999_999)}`,
    'YYYYMMDD-HHMMSS-nnn': () => `${int(r, 2020, 2030)}${two(int(r, 1, 12))}${two(int(r, 1, 28))}-${two(int(r, 0, 23))}${two(int(r, 0, 59))}${two(int(r, 0, 59))}-${String(int(r, 0, 999)).padStart(3, '0')}`,
    UUID: () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[int(r, 0, 3)]}${hex(3)}-${hex(12)}`,
    ULID: () => Array.from({ length: 26 }, (_, i) => crockford[i === 0 ? int(r, 0, 7) : int(r, 0, 31)]).join(''),
    'order number (20 digits)': () => String(int(r, 1, 9)) + digits(r, 19),
    'order number (24 digits)': () => String(int(r, 1, 9)) + digits(r, 23),
    'order number (20–30 digits)': () => String(int(r, 1, 9)) + digits(r, int(r, 19, 29)),
  };
  const out: Record<string, string[]> = {};
  for (const [kind, make] of Object.entries(kinds)) out[kind] = Array.from({ length: n }, make);
  return out;
}
