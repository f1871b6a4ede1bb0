/**
 * The match model (docs/reconciliation.md, "How the weights are learned"): Fellegi–Sunter.
 * For each feature level, m = P(level | same operation) and u = P(level | different
 * operations); a pair's weight is Σ log(m/u) over its levels, and its probability is
 * λ·M / (λ·M + (1 − λ)·U) with λ the share of candidate pairs that match.
 *
 * m, u and λ are estimated from data: pairs settled by an exact key are labelled (the key's
 * partner is a match, every other candidate of that gateway record is not), and the candidate
 * pairs of the records without keys are unlabelled and enter through expectation–maximisation.
 * The priors below are pseudo-counts, worth a few pairs, that data outweighs at once; they
 * only decide what a window with no data at all believes (nothing strongly, so it sends
 * everything to review).
 */
import { FEATURES, PATTERNS, patternLevels } from './features.js';

/** Evidence as (pseudo-)counts per feature level, so it adds up and carries over. */
export interface ModelCounts {
  /** [feature][level]: weighted count among matching pairs. */
  m: number[][];
  /** [feature][level]: weighted count among non-matching pairs. */
  u: number[][];
  /** Weighted matches among the unlabelled candidate pairs, and their total: λ = matches / pairs. */
  matches: number;
  pairs: number;
}

/** The prior's total weight, in pairs, for each of m, u and λ. */
export const PRIOR_WEIGHT = 2;

/**
 * Priors, named: m leans toward agreement (level weights L, L−1, …, 1 over a feature's L
 * levels, strongest first), u is uniform, λ is ½; each worth {@link PRIOR_WEIGHT} pairs.
 */
export const PRIOR: ModelCounts = {
  m: FEATURES.map((f) => {
    const L = f.levels.length;
    const total = (L * (L + 1)) / 2;
    return f.levels.map((_, k) => (PRIOR_WEIGHT * (L - k)) / total);
  }),
  u: FEATURES.map((f) => f.levels.map(() => PRIOR_WEIGHT / f.levels.length)),
  matches: PRIOR_WEIGHT / 2,
  pairs: PRIOR_WEIGHT,
};

/** Pair counts per agreement pattern (index = pattern code). */
export interface TrainingData {
  /** Labelled matches: exact-key partners. */
  positives: Float64Array;
  /** Labelled non-matches: the other candidates of exact-matched gateway records. */
  negatives: Float64Array;
  /** Candidate pairs among records without an exact match. */
  unlabelled: Float64Array;
}

export function emptyTrainingData(): TrainingData {
  return { positives: new Float64Array(PATTERNS), negatives: new Float64Array(PATTERNS), unlabelled: new Float64Array(PATTERNS) };
}

export interface MatchModel {
  counts: ModelCounts;
  /** [feature][level] probabilities. */
  m: number[][];
  u: number[][];
  lambda: number;
  /** [feature][level]: log(m/u), what each level adds to a pair's log-odds. */
  levelWeights: number[][];
  /** log(M/U) per pattern code. */
  weights: Float64Array;
  /** log(λ / (1 − λ)). */
  priorLogOdds: number;
  /** EM iterations run and the labelled / unlabelled pairs seen in this fit. */
  fit: { iterations: number; positives: number; negatives: number; unlabelled: number };
}

const LEVELS = Array.from({ length: PATTERNS }, (_, p) => patternLevels(p));

/** The model the counts imply (no learning): probabilities, weights and prior odds. */
export function modelFromCounts(counts: ModelCounts, fit: MatchModel['fit'] = { iterations: 0, positives: 0, negatives: 0, unlabelled: 0 }): MatchModel {
  const norm = (rows: number[][]) => rows.map((r) => {
    const t = r.reduce((a, b) => a + b, 0);
    return r.map((x) => x / t);
  });
  const m = norm(counts.m);
  const u = norm(counts.u);
  // A missing value says nothing about the pair (it is a property of one record): weight 0.
  const lw = m.map((row, k) => row.map((x, l) => (FEATURES[k]!.levels[l] === 'missing' ? 0 : Math.log(x / u[k]![l]!))));
  const weights = new Float64Array(PATTERNS);
  for (let p = 0; p < PATTERNS; p++) {
    const lv = LEVELS[p]!;
    let w = 0;
    for (let k = 0; k < lv.length; k++) w += lw[k]![lv[k]!]!;
    weights[p] = w;
  }
  const lambda = counts.matches / counts.pairs;
  return { counts, m, u, lambda, levelWeights: lw, weights, priorLogOdds: Math.log(lambda / (1 - lambda)), fit };
}

/**
 * Whether `x` is evidence this build's features can use (as read back from storage): one row
 * per feature with one finite, non-negative count per level, and 0 < matches < pairs.
 */
export function isModelCounts(x: unknown): x is ModelCounts {
  if (x === null || typeof x !== 'object') return false;
  const c = x as Record<string, unknown>;
  const rows = (v: unknown) =>
    Array.isArray(v) &&
    v.length === FEATURES.length &&
    v.every((row, k) => Array.isArray(row) && row.length === FEATURES[k]!.levels.length && row.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0));
  const count = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  return rows(c.m) && rows(c.u) && count(c.matches) && count(c.pairs) && c.matches > 0 && c.matches < c.pairs;
}

/** The prior alone, before any data. */
export const PRIOR_MODEL: MatchModel = modelFromCounts(PRIOR);

/** How many pairs the counts stand for (matches and non-matches, prior included). */
export function evidencePairs(c: ModelCounts): number {
  return c.m[0]!.reduce((a, b) => a + b, 0) + c.u[0]!.reduce((a, b) => a + b, 0);
}

/**
 * The evidence to carry into the next window: all of it up to `maxPairs` pairs, scaled down
 * beyond, so a quiet hour keeps what a busy one learned and a busy day cannot freeze the model.
 */
export function carryCounts(c: ModelCounts, maxPairs: number): ModelCounts {
  const n = evidencePairs(c);
  return n <= maxPairs ? c : decayCounts(c, maxPairs / n);
}

/** Old evidence weighed down by `factor` (0…1). */
export function decayCounts(c: ModelCounts, factor: number): ModelCounts {
  return {
    m: c.m.map((r) => r.map((x) => x * factor)),
    u: c.u.map((r) => r.map((x) => x * factor)),
    matches: c.matches * factor,
    pairs: c.pairs * factor,
  };
}

function addCounts(c: ModelCounts, data: Float64Array, into: 'm' | 'u', scale: (p: number) => number): void {
  for (let p = 0; p < PATTERNS; p++) {
    const n = data[p]!;
    if (n === 0) continue;
    const x = n * scale(p);
    if (x === 0) continue;
    const lv = LEVELS[p]!;
    for (let k = 0; k < lv.length; k++) {
      const row = c[into][k]!;
      row[lv[k]!] = row[lv[k]!]! + x;
    }
  }
}

/**
 * Fits m, u and λ to `data` on top of `prior` by expectation–maximisation over the unlabelled
 * pairs (labelled pairs count with certainty). Deterministic: the data are counts per pattern.
 */
export function learnModel(prior: ModelCounts, data: TrainingData, maxIterations = 100, tolerance = 1e-9): MatchModel {
  const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
  const fit = { iterations: 0, positives: sum(data.positives), negatives: sum(data.negatives), unlabelled: sum(data.unlabelled) };
  const base = (): ModelCounts => {
    const c = decayCounts(prior, 1);
    addCounts(c, data.positives, 'm', () => 1);
    addCounts(c, data.negatives, 'u', () => 1);
    return c;
  };
  let counts = base();
  let model = modelFromCounts(counts, fit);
  if (fit.unlabelled === 0) return model;
  // With keyless pairs to learn from, m is theirs: the exact matches (API records, with their
  // keys, exact amounts and no skew) start it, but the records scoring must match are the ones
  // that lost their keys, and their amounts, times and references differ. u is learned from
  // both: a non-match is a non-match whatever lost its key.
  const baseForKeyless = (): ModelCounts => {
    const c = decayCounts(prior, 1);
    addCounts(c, data.negatives, 'u', () => 1);
    return c;
  };
  const g = new Float64Array(PATTERNS);
  let lastLambda = -1;
  for (let it = 1; it <= maxIterations; it++) {
    // E: the posterior that a pair with pattern p matches, under the current model.
    for (let p = 0; p < PATTERNS; p++) g[p] = 1 / (1 + Math.exp(-(model.priorLogOdds + model.weights[p]!)));
    // M: counts from the labelled pairs plus the unlabelled ones shared by their posterior.
    counts = baseForKeyless();
    addCounts(counts, data.unlabelled, 'm', (p) => g[p]!);
    addCounts(counts, data.unlabelled, 'u', (p) => 1 - g[p]!);
    let matched = 0;
    for (let p = 0; p < PATTERNS; p++) matched += data.unlabelled[p]! * g[p]!;
    counts.matches += matched;
    counts.pairs += fit.unlabelled;
    fit.iterations = it;
    model = modelFromCounts(counts, fit);
    if (Math.abs(model.lambda - lastLambda) < tolerance) break;
    lastLambda = model.lambda;
  }
  return model;
}

/** Calibrated probability that a pair with this pattern is the same operation. */
export function matchProbability(model: MatchModel, pattern: number): number {
  return 1 / (1 + Math.exp(-(model.priorLogOdds + model.weights[pattern]!)));
}
