/**
 * The card-number detector's measured rates (docs/security.md): how many realistic
 * identifiers it refuses by mistake, and how many card numbers in each printed format it
 * misses, beside the detector as it was before (the baseline), on the same seeded corpora.
 *
 * Run: tsc -p bench/tsconfig.json && node dist-bench/bench/cardDetector.js [perKind] [seed]
 */
import { containsCardNumber } from '../src/payments/cardData.js';
import { containsCardNumber as before } from './baseline/cardDataBefore.js';
import { fullWidth, generatePan, identifiers, networks, printed, seeded, separators } from '../test/support/cardCorpus.js';

const perKind = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? 1);
const r = seeded(seed);
const pct = (n: number, of: number) => `${n} of ${of} (${((100 * n) / of).toFixed(n > 0 && n * 1000 < of ? 3 : 1)} %)`;

console.log(`card-number detector, ${perKind} per kind, seed ${seed}\n`);
console.log('false refusals (identifiers refused as card numbers)');
console.log('| identifier | now | before |');
console.log('|---|---|---|');
for (const [kind, values] of Object.entries(identifiers(r, perKind))) {
  let now = 0;
  let old = 0;
  for (const v of values) {
    if (containsCardNumber(v)) now++;
    if (before(v)) old++;
  }
  console.log(`| ${kind} | ${pct(now, values.length)} | ${pct(old, values.length)} |`);
}

console.log('\nmisses (card numbers accepted)');
console.log('| format | now | before |');
console.log('|---|---|---|');
const formats: Record<string, (pan: string) => string> = { bare: (p) => p };
for (const sep of separators) formats[`printed, separator ${JSON.stringify(sep).replace(/\u00a0/g, "\\u00a0")}`] = (p) => printed(p, sep, r);
formats['full-width digits'] = (p) => fullWidth(printed(p, ' ', r));
const pans = Object.keys(networks).flatMap((n) => Array.from({ length: Math.ceil(perKind / 10 / Object.keys(networks).length) }, () => generatePan(r, n)));
for (const [name, format] of Object.entries(formats)) {
  let now = 0;
  let old = 0;
  for (const p of pans) {
    const text = `card ${format(p)} ok`;
    if (!containsCardNumber(text)) now++;
    if (!before(text)) old++;
  }
  console.log(`| ${name} | ${pct(now, pans.length)} | ${pct(old, pans.length)} |`);
}

const big = '1'.repeat(15_000);
for (const [name, detect] of [['now', containsCardNumber], ['before', before]] as const) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 20; i++) detect(`/v1/payments?ref=${big}`);
  console.log(`\n15,000-digit query string, ${name}: ${(Number(process.hrtime.bigint() - t0) / 20e6).toFixed(2)} ms per scan`);
}
