/**
 * Idem's matcher (docs/reconciliation.md, "Matching"): exact keys first; then, for the records
 * left, blocking, a learned and calibrated match probability per candidate pair, split
 * captures and refunds, and an optimal one-to-one assignment per block, with every pair whose
 * lead is too thin for the precision target sent to review. Pure: no I/O, no clock, no
 * randomness; the result does not depend on the order of the inputs.
 */
import type { GatewayRecord, IdemRecord, Match, MatchEvidence, Matcher, MatchResult } from '../records.js';
import { matchingWeight, maxWeightMatching } from './assignment.js';
import { byGatewayOrder, byIdemOrder, exactPhase, SPLIT_OPERATIONS } from './exact.js';
import { AMOUNT_WITHIN_TOLERANCE, comparePair, DEFAULT_MATCH_SETTINGS, FEATURES, patternLevel, patternLevels, type GatewaySide, type IdemSide, type MatchSettings } from './features.js';
import { emptyTrainingData, learnModel, PRIOR, type MatchModel, type ModelCounts } from './model.js';
import { IdemIndex } from './blocking.js';
import { normaliseReference } from './reference.js';

export interface ScoredOptions {
  settings?: Partial<MatchSettings>;
  /** Evidence carried from earlier windows (see `decayCounts`); the named priors when absent. */
  prior?: ModelCounts;
  /** A fitted model used as it is, without learning from this batch (held-out evaluation). */
  model?: MatchModel;
  /** Most exact matches whose candidate pairs serve as labelled data (evenly spread). */
  labelledSample?: number;
  /** Return every scored candidate pair with its probability (for the calibration table). */
  collectCandidates?: boolean;
}

export interface ScoredCandidate {
  idem: IdemRecord;
  gateway: GatewayRecord;
  probability: number;
}

export interface ScoredMatchResult extends MatchResult {
  /** The model this batch was scored with (learned from it unless one was given). */
  model: MatchModel;
  candidates?: ScoredCandidate[];
  stats: { candidatePairs: number; blocks: number; largestBlock: number; oversizedBlocks: number; splits: number };
}

const logit = (p: number) => Math.log(p / (1 - p));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const AMOUNT = FEATURES.findIndex((f) => f.name === 'amount');
const REFERENCE = FEATURES.findIndex((f) => f.name === 'reference');
/** Reference levels that tie a record to one payment: full, truncated, similar. */
const REFERENCE_AGREES = 2;

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function count(counts: Float64Array, pattern: number): void {
  counts[pattern] = counts[pattern]! + 1;
}

/** Why a pair scored as it did: each feature's observed value and learned weight. */
export function pairEvidence(model: MatchModel, i: IdemRecord, g: GatewayRecord, pattern: number, margin?: number): MatchEvidence {
  const lv = patternLevels(pattern);
  const w = (k: number) => model.levelWeights[k]![lv[k]!]!;
  const name = (k: number) => FEATURES[k]!.levels[lv[k]!]!;
  const evidence: MatchEvidence = {
    rule: 'scored',
    probability: sigmoid(model.priorLogOdds + model.weights[pattern]!),
    features: {
      prior: { value: model.lambda, weight: model.priorLogOdds },
      amount: { value: g.amount - i.amount, weight: w(0) },
      time: { value: g.at - i.at, weight: w(1) },
      reference: { value: name(2), weight: w(2) },
      merchant: { value: name(3), weight: w(3) },
    },
  };
  if (margin !== undefined) evidence.margin = margin;
  return evidence;
}

/** Idem's scored global matcher over one batch; see {@link scoredMatcher} for the port. */
export function matchScored(idemIn: readonly IdemRecord[], gatewayIn: readonly GatewayRecord[], options: ScoredOptions = {}): ScoredMatchResult {
  const s: MatchSettings = { ...DEFAULT_MATCH_SETTINGS, ...options.settings };
  const target = logit(s.targetPrecision);
  // A stream hands its windows over in order already: no copy to sort then.
  const idem = inOrder(idemIn, byIdemOrder);
  const gateway = inOrder(gatewayIn, byGatewayOrder);
  const exact = exactPhase(idem, gateway);
  const iSides: IdemSide[] = idem.map((record) => ({ record }));
  const index = new IdemIndex(iSides, s);
  const gSide = (record: GatewayRecord): GatewaySide => ({ record, reference: record.reference === undefined ? undefined : normaliseReference(record.reference) });
  const free = new Uint8Array(idem.length);
  for (let k = 0; k < idem.length; k++) free[k] = exact.idemMatched[k] ? 0 : 1;

  // Labelled pairs: an exact match's partner matches; its other candidates do not.
  const data = emptyTrainingData();
  if (!options.model) {
    // `idem` is sorted by (at, id): find a record's position by bisection, no map to build.
    const position = (r: IdemRecord) => {
      let a = 0;
      let b = idem.length;
      while (a < b) {
        const mid = (a + b) >> 1;
        if (byIdemOrder(idem[mid]!, r) < 0) a = mid + 1;
        else b = mid;
      }
      return a;
    };
    const oneToOne = exact.matches.filter((m) => {
      const g = m.gateway[0]!;
      return m.gateway.length === 1 && g.currency === m.idem.currency && g.operation === m.idem.operation;
    });
    const step = Math.max(1, Math.ceil(oneToOne.length / (options.labelledSample ?? 2000)));
    for (let k = 0; k < oneToOne.length; k += step) {
      const m = oneToOne[k]!;
      const g = gSide(m.gateway[0]!);
      const partner = position(m.idem);
      const n = index.candidates(g, null);
      const alone = index.bandCount === 1;
      count(data.positives, comparePair(iSides[partner]!, g, s, alone));
      for (let j = 0; j < n; j++) {
        const c = index.found[j]!;
        if (c !== partner) count(data.negatives, comparePair(iSides[c]!, g, s, alone));
      }
    }
  }

  // Unlabelled pairs: every candidate of every gateway record the exact phase left.
  const residual = gateway.filter((_, gk) => exact.gatewayMatched[gk] === 0).map(gSide);
  const pairG: number[] = [];
  const pairI: number[] = [];
  const pairP: number[] = [];
  residual.forEach((g, gk) => {
    const n = index.candidates(g, free);
    const alone = index.bandCount === 1;
    for (let j = 0; j < n; j++) {
      const k = index.found[j]!;
      const p = comparePair(iSides[k]!, g, s, alone);
      pairG.push(gk);
      pairI.push(k);
      pairP.push(p);
      count(data.unlabelled, p);
    }
  });
  const model = options.model ?? learnModel(options.prior ?? PRIOR, data);
  const logOdds = pairP.map((p) => model.priorLogOdds + model.weights[p]!);

  const matches: Match[] = [];
  const review: MatchResult['review'] = [];
  const gTaken = new Uint8Array(residual.length); // 1 matched, 2 in review
  const iTaken = exact.idemMatched.slice();
  const inReview = new Uint8Array(idem.length);
  const pairsOf = (gk: number) => {
    const out: number[] = [];
    for (let e = firstPair[gk]!; e < firstPair[gk + 1]!; e++) out.push(e);
    return out;
  };
  const firstPair = new Int32Array(residual.length + 1);
  for (let e = 0, gk = 0; gk <= residual.length; gk++) {
    while (e < pairG.length && pairG[e]! < gk) e++;
    firstPair[gk] = e;
  }
  const toReview = (gk: number, edges: number[]) => {
    if (gTaken[gk]) return;
    gTaken[gk] = 2;
    for (const e of edges) inReview[pairI[e]!] = 1;
    const candidates = edges
      .map((e) => ({ idem: idem[pairI[e]!]!, evidence: pairEvidence(model, idem[pairI[e]!]!, residual[gk]!.record, pairP[e]!) }))
      .sort((a, b) => b.evidence.probability - a.evidence.probability || byIdemOrder(a.idem, b.idem));
    review.push({ gateway: residual[gk]!.record, candidates });
  };

  // Split captures and refunds: several gateway records of one payment (by reference) whose
  // amounts add up exactly to one Idem operation.
  let splits = 0;
  const partsOf = new Map<number, number[]>();
  for (let e = 0; e < pairG.length; e++) {
    const i = idem[pairI[e]!]!;
    const g = residual[pairG[e]!]!.record;
    if (
      SPLIT_OPERATIONS.has(i.operation) &&
      patternLevel(pairP[e]!, REFERENCE) <= REFERENCE_AGREES &&
      patternLevel(pairP[e]!, AMOUNT) > AMOUNT_WITHIN_TOLERANCE &&
      g.amount > 0 &&
      g.amount < i.amount
    ) {
      push(partsOf, pairI[e]!, e);
    }
  }
  for (const [k, parts] of [...partsOf].sort((a, b) => a[0] - b[0])) {
    const i = idem[k]!;
    const usable = parts.filter((e) => !gTaken[pairG[e]!]).slice(0, 12);
    const subsets = subsetsSumming(usable.map((e) => residual[pairG[e]!]!.record.amount), i.amount, s.maxParts).map((set) => set.map((j) => usable[j]!));
    if (subsets.length === 0) continue;
    // A part's probability leaves the amount out: the exact sum stands for it.
    const partLogOdds = (e: number) => logOdds[e]! - model.levelWeights[AMOUNT]![patternLevels(pairP[e]!)[AMOUNT]!]!;
    const only = subsets.length === 1 ? subsets[0]! : undefined;
    const singleElsewhere = (e: number) => pairsOf(pairG[e]!).some((f) => f !== e && logOdds[f]! > 0 && patternLevels(pairP[f]!)[AMOUNT]! <= AMOUNT_WITHIN_TOLERANCE);
    if (only && only.every((e) => partLogOdds(e) >= target && !singleElsewhere(e))) {
      const weakest = only.reduce((a, b) => (partLogOdds(a) <= partLogOdds(b) ? a : b));
      const evidence = pairEvidence(model, i, residual[pairG[weakest]!]!.record, pairP[weakest]!);
      evidence.probability = only.reduce((p, e) => p * sigmoid(partLogOdds(e)), 1);
      evidence.features!.parts = { value: only.length, weight: 0 };
      matches.push({ idem: i, gateway: only.map((e) => residual[pairG[e]!]!.record).sort(byGatewayOrder), evidence });
      for (const e of only) gTaken[pairG[e]!] = 1;
      iTaken[k] = 1;
      splits++;
    } else {
      for (const set of subsets) for (const e of set) toReview(pairG[e]!, pairsOf(pairG[e]!).filter((f) => pairI[f] === k || logOdds[f]! > 0));
    }
  }

  // One-to-one: blocks are the connected groups of pairs more likely than not to match; in
  // each, the optimal assignment, and a pair is kept only when its lead over the best
  // assignment without it reaches the target.
  const edges: number[] = [];
  for (let e = 0; e < pairG.length; e++) if (logOdds[e]! > 0 && !gTaken[pairG[e]!] && !iTaken[pairI[e]!]) edges.push(e);
  const parent = new Int32Array(residual.length + idem.length).map((_, k) => k);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]!]!;
    return x;
  };
  for (const e of edges) {
    const a = find(pairG[e]!);
    const b = find(residual.length + pairI[e]!);
    if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
  }
  const blocks = new Map<number, number[]>();
  for (const e of edges) push(blocks, find(pairG[e]!), e);
  let largestBlock = 0;
  let oversizedBlocks = 0;
  for (const blockEdges of blocks.values()) {
    if (blockEdges.length === 1) {
      // One pair and no competitor: its lead is its own log-odds (what the general case below
      // computes, without building a matrix for it).
      const e = blockEdges[0]!;
      const gk = pairG[e]!;
      largestBlock = Math.max(largestBlock, 1);
      if (logOdds[e]! >= target) {
        matches.push({ idem: idem[pairI[e]!]!, gateway: [residual[gk]!.record], evidence: pairEvidence(model, idem[pairI[e]!]!, residual[gk]!.record, pairP[e]!, logOdds[e]!) });
        gTaken[gk] = 1;
        iTaken[pairI[e]!] = 1;
      } else toReview(gk, [e]);
      continue;
    }
    const rows = [...new Set(blockEdges.map((e) => pairG[e]!))];
    const cols = [...new Set(blockEdges.map((e) => pairI[e]!))];
    largestBlock = Math.max(largestBlock, rows.length, cols.length);
    const rowEdges = (gk: number) => blockEdges.filter((e) => pairG[e] === gk);
    if (rows.length > s.maxBlock || cols.length > s.maxBlock) {
      oversizedBlocks++;
      for (const gk of rows) toReview(gk, rowEdges(gk));
      continue;
    }
    const rowOf = new Map(rows.map((gk, r) => [gk, r]));
    const colOf = new Map(cols.map((k, c) => [k, c]));
    const W = new Float64Array(rows.length * cols.length);
    const edgeAt = new Int32Array(rows.length * cols.length).fill(-1);
    for (const e of blockEdges) {
      const cell = rowOf.get(pairG[e]!)! * cols.length + colOf.get(pairI[e]!)!;
      W[cell] = logOdds[e]!;
      edgeAt[cell] = e;
    }
    const best = maxWeightMatching(W, rows.length, cols.length);
    const total = matchingWeight(W, cols.length, best);
    for (const [r, c] of best) {
      const cell = r * cols.length + c;
      let margin = W[cell]!;
      if (blockEdges.length > 1) {
        W[cell] = 0;
        margin = total - matchingWeight(W, cols.length, maxWeightMatching(W, rows.length, cols.length));
        W[cell] = logOdds[edgeAt[cell]!]!;
      }
      if (margin < target) continue;
      const e = edgeAt[cell]!;
      const gk = pairG[e]!;
      matches.push({ idem: idem[pairI[e]!]!, gateway: [residual[gk]!.record], evidence: pairEvidence(model, idem[pairI[e]!]!, residual[gk]!.record, pairP[e]!, margin) });
      gTaken[gk] = 1;
      iTaken[pairI[e]!] = 1;
    }
    for (const gk of rows) if (!gTaken[gk]) toReview(gk, rowEdges(gk));
  }

  // The exact phase's matches are already in Idem order, and each Idem record has one match at
  // most: sorting the few scored ones and merging gives the order a full sort would.
  matches.sort((a, b) => byIdemOrder(a.idem, b.idem));
  const merged = mergeSorted(exact.matches, matches, (a, b) => byIdemOrder(a.idem, b.idem));
  review.sort((a, b) => byGatewayOrder(a.gateway, b.gateway));
  const result: ScoredMatchResult = {
    matches: merged,
    review,
    unmatchedGateway: [...exact.duplicates, ...residual.filter((_, gk) => !gTaken[gk]).map((g) => g.record)].sort(byGatewayOrder),
    unmatchedIdem: idem.filter((_, k) => !iTaken[k] && !inReview[k]),
    model,
    stats: { candidatePairs: pairG.length, blocks: blocks.size, largestBlock, oversizedBlocks, splits },
  };
  if (options.collectCandidates) {
    result.candidates = pairG.map((gk, e) => ({ idem: idem[pairI[e]!]!, gateway: residual[gk]!.record, probability: sigmoid(logOdds[e]!) }));
  }
  return result;
}

function inOrder<T>(records: readonly T[], order: (a: T, b: T) => number): readonly T[] {
  for (let k = 1; k < records.length; k++) if (order(records[k - 1]!, records[k]!) > 0) return [...records].sort(order);
  return records;
}

function mergeSorted<T>(a: readonly T[], b: readonly T[], order: (x: T, y: T) => number): T[] {
  const out: T[] = new Array<T>(a.length + b.length);
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < a.length && j < b.length) out[o++] = order(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!;
  while (i < a.length) out[o++] = a[i++]!;
  while (j < b.length) out[o++] = b[j++]!;
  return out;
}

/** Index sets (ascending, 2 to `maxParts` members) of `amounts` that add up to `total`. */
export function subsetsSumming(amounts: readonly number[], total: number, maxParts: number): number[][] {
  const out: number[][] = [];
  const pick: number[] = [];
  const go = (from: number, left: number) => {
    if (left === 0 && pick.length >= 2) out.push([...pick]);
    if (left <= 0 || pick.length === maxParts) return;
    for (let j = from; j < amounts.length; j++) {
      pick.push(j);
      go(j + 1, left - amounts[j]!);
      pick.pop();
    }
  };
  go(0, total);
  return out;
}

/**
 * Idem's matcher as the reconciliation loop's port: learns its model from each batch's exact
 * matches on top of `options.prior` (or uses `options.model` as it is).
 */
export function scoredMatcher(options: ScoredOptions = {}): Matcher {
  return { name: 'idem scored global', match: (idem, gateway) => matchScored(idem, gateway, options) };
}
