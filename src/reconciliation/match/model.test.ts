import { describe, expect, it } from 'vitest';
import { corpus } from '../../../test/support/reconciliationCorpus.js';
import { FEATURES } from './features.js';
import { PRIOR_MODEL } from './model.js';
import { matchScored } from './scored.js';

const weight = (m: typeof PRIOR_MODEL, feature: string, level: string) => {
  const k = FEATURES.findIndex((f) => f.name === feature);
  return m.levelWeights[k]![(FEATURES[k]!.levels as readonly string[]).indexOf(level)]!;
};

describe('the learned model', () => {
  const c = corpus({ seed: 21, payments: 3000 });
  const learned = matchScored(c.idem, c.gateway).model;

  it('learns its weights from the batch: far from the priors, in the direction the data say', () => {
    expect(learned.fit.positives).toBeGreaterThan(500);
    expect(learned.fit.unlabelled).toBeGreaterThan(500);
    expect(weight(learned, 'reference', 'full')).toBeGreaterThan(weight(PRIOR_MODEL, 'reference', 'full') + 3);
    expect(weight(learned, 'reference', 'different')).toBeLessThan(-3);
    expect(weight(learned, 'merchant', 'different')).toBeLessThan(-3);
    expect(weight(learned, 'reference', 'truncated')).toBeGreaterThan(3);
    expect(weight(learned, 'merchant', 'same')).toBeGreaterThan(weight(learned, 'merchant', 'different') + 3);
  });

  it('gives a missing value no weight', () => {
    expect(weight(learned, 'reference', 'missing')).toBe(0);
    expect(weight(learned, 'merchant', 'missing')).toBe(0);
  });

  it('is deterministic', () => {
    expect(matchScored(c.idem, c.gateway).model.weights).toEqual(learned.weights);
  });
});
