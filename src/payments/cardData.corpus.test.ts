import { describe, expect, it } from 'vitest';
import { generatePan, identifiers, networks, panFormats, publishedTestPans, seeded } from '../../test/support/cardCorpus.js';
import { containsCardNumber, unescapeJsonLoosely, urlContainsCardNumber } from './cardData.js';

/**
 * docs/security.md, judged both ways on generated corpora (the rates are measured at scale by
 * `bench/cardDetector.ts` and written in docs/security.md).
 */
describe('card-number detector on generated corpora', () => {
  const r = seeded(20261201);

  it("refuses every network's PANs in every format, and the published test cards", () => {
    const missed: string[] = [];
    for (const p of publishedTestPans) if (!containsCardNumber(p)) missed.push(p);
    for (const network of Object.keys(networks)) {
      for (let i = 0; i < 150; i++) {
        const pan = generatePan(r, network);
        for (const text of panFormats(pan, r)) {
          if (!containsCardNumber(text)) missed.push(`${network}: ${JSON.stringify(text)}`);
          // The same text in a URL (percent-encoded) and in a JSON body (digits \u-escaped).
          if (!urlContainsCardNumber(`/v1/payments?ref=${encodeURIComponent(text)}`)) missed.push(`${network} in a URL: ${JSON.stringify(text)}`);
          const json = JSON.stringify({ reference: text }).replace(/[0-9]/g, (d) => `\\u003${d}`);
          if (!containsCardNumber(unescapeJsonLoosely(json))) missed.push(`${network} in JSON: ${json}`);
        }
      }
    }
    expect(missed.slice(0, 20)).toEqual([]);
  });

  it('refuses none of thousands of realistic identifiers', () => {
    const refused: string[] = [];
    for (const [kind, values] of Object.entries(identifiers(r, 3_000))) {
      for (const v of values) if (containsCardNumber(v) || urlContainsCardNumber(`/v1/payments?ref=${v}`)) refused.push(`${kind}: ${v}`);
    }
    expect(refused).toEqual([]);
  });
});
