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
import { AMOUNT_WITHIN_TOLERANCE, comparePair, DEFAULT_MATCH_SETTINGS, FEATURES, patternLevels, type GatewaySide, type IdemSide, type MatchSettings } from './features.js';
import { emptyTrainingData, learnModel, PRIOR, type MatchModel, type ModelCounts } from './model.js';
import { coreGrams, gramKey, normaliseReference, referenceCore, referenceGrams } from './reference.js';

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

interface Band {
  amounts: number[];
  idx: number[];
}

/** Idem records of one batch, indexed for blocking. */
class IdemIndex {
  private readonly grams = new Map<number, number[]>();
  /** One bit per gram key (mod 2^20): most of a reference's grams are nobody's, and skip the map. */
  private readonly gramBits = new Uint32Array(1 << 15);
  /** gateway → currency → operation → Idem records sorted by amount; `byMerchant` adds merchant. */
  private readonly byBlock = new Map<string, Map<string, Map<string, Band>>>();
  private readonly byMerchant = new Map<string, Map<string, Map<string, Map<string, Band>>>>();
  private readonly stamp: Int32Array;
  private query = 0;
  /** Idem records within rounding of the last query's amount (any status), in its window. */
  bandCount = 0;
  /** Each Idem record's time, by position (the hot loops read it without chasing the record). */
  private readonly at: Float64Array;

  constructor(
    readonly sides: readonly IdemSide[],
    private readonly s: MatchSettings,
  ) {
    this.stamp = new Int32Array(sides.length).fill(-1);
    sides.forEach((side, k) => {
      for (const gram of coreGrams(side.core)) {
        const key = gramKey(gram);
        push(this.grams, key, k);
        const word = (key >>> 5) & 0x7fff;
        this.gramBits[word] = this.gramBits[word]! | (1 << (key & 31));
      }
      const r = side.record;
      const ops = nested(nested(this.byBlock, r.gateway), r.currency);
      let band = ops.get(r.operation);
      if (!band) ops.set(r.operation, (band = { amounts: [], idx: [] }));
      band.idx.push(k);
      const merchants = nested(nested(nested(this.byMerchant, r.gateway), r.currency), r.operation);
      let mBand = merchants.get(r.merchantId);
      if (!mBand) merchants.set(r.merchantId, (mBand = { amounts: [], idx: [] }));
      mBand.idx.push(k);
    });
    const amount = Float64Array.from(sides, (x) => x.record.amount);
    this.at = Float64Array.from(sides, (x) => x.record.at);
    const sort = (band: Band) => {
      band.idx.sort((a, b) => amount[a]! - amount[b]! || a - b);
      band.amounts = band.idx.map((k) => amount[k]!);
    };
    for (const cur of this.byBlock.values()) for (const ops of cur.values()) for (const band of ops.values()) sort(band);
    for (const cur of this.byMerchant.values()) for (const ops of cur.values()) for (const ms of ops.values()) for (const band of ms.values()) sort(band);
  }

  /**
   * Candidates of a gateway record: same gateway, currency and operation, within the time
   * window, and sharing a reference gram, or within FX rounding of its amount, or (same
   * merchant) within the fee tolerance above it. Ascending Idem positions.
   */
  candidates(g: GatewaySide, accept: (k: number) => boolean): number[] {
    const q = ++this.query;
    const out: number[] = [];
    const r = g.record;
    const s = this.s;
    const consider = (k: number) => {
      if (this.stamp[k] === q) return;
      this.stamp[k] = q;
      if (Math.abs(r.at - this.at[k]!) > s.windowMs) return;
      const i = this.sides[k]!.record;
      if (i.gateway !== r.gateway || i.currency !== r.currency || i.operation !== r.operation || !accept(k)) return;
      out.push(k);
    };
    if (g.reference !== undefined) {
      for (const gram of referenceGrams(g.reference)) {
        const key = gramKey(gram);
        if ((this.gramBits[(key >>> 5) & 0x7fff]! & (1 << (key & 31))) === 0) continue;
        const list = this.grams.get(key);
        if (list) for (const k of list) consider(k);
      }
    }
    this.bandCount = 0;
    scan(this.byBlock.get(r.gateway)?.get(r.currency)?.get(r.operation), r.amount - s.roundingMinor, r.amount + s.roundingMinor, (k) => {
      if (Math.abs(r.at - this.at[k]!) <= s.windowMs) this.bandCount++;
      consider(k);
    });
    if (r.merchantId !== undefined) {
      const band = this.byMerchant.get(r.gateway)?.get(r.currency)?.get(r.operation)?.get(r.merchantId);
      scan(band, r.amount + s.roundingMinor + 1, (r.amount + s.feeFixedMinor) / (1 - s.feeShare), consider);
    }
    if (out.length > 1) out.sort((a, b) => a - b);
    return out;
  }
}

function nested<V>(map: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = map.get(key);
  if (!inner) map.set(key, (inner = new Map()));
  return inner;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function count(counts: Float64Array, pattern: number): void {
  counts[pattern] = counts[pattern]! + 1;
}

function scan(band: Band | undefined, lo: number, hi: number, visit: (k: number) => void): void {
  if (!band) return;
  let a = 0;
  let b = band.amounts.length;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (band.amounts[mid]! < lo) a = mid + 1;
    else b = mid;
  }
  for (let j = a; j < band.amounts.length && band.amounts[j]! <= hi; j++) visit(band.idx[j]!);
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
  const idem = [...idemIn].sort(byIdemOrder);
  const gateway = [...gatewayIn].sort(byGatewayOrder);
  const exact = exactPhase(idem, gateway);
  const iSides: IdemSide[] = idem.map((record) => ({ record, core: referenceCore(record.paymentId) }));
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
      const candidates = index.candidates(g, () => true);
      const alone = index.bandCount === 1;
      count(data.positives, comparePair(iSides[partner]!, g, s, alone));
      for (const c of candidates) if (c !== partner) count(data.negatives, comparePair(iSides[c]!, g, s, alone));
    }
  }

  // Unlabelled pairs: every candidate of every gateway record the exact phase left.
  const residual = gateway.filter((_, gk) => exact.gatewayMatched[gk] === 0).map(gSide);
  const pairG: number[] = [];
  const pairI: number[] = [];
  const pairP: number[] = [];
  residual.forEach((g, gk) => {
    const candidates = index.candidates(g, (c) => free[c] === 1);
    const alone = index.bandCount === 1;
    for (const k of candidates) {
      const p = comparePair(iSides[k]!, g, s, alone);
      pairG.push(gk);
      pairI.push(k);
      pairP.push(p);
      count(data.unlabelled, p);
    }
  });
  const model = options.model ?? learnModel(options.prior ?? PRIOR, data);
  const logOdds = pairP.map((p) => model.priorLogOdds + model.weights[p]!);

  const matches: Match[] = [...exact.matches];
  const review: MatchResult['review'] = [];
  const gTaken = new Uint8Array(residual.length); // 1 matched, 2 in review
  const iTaken = Uint8Array.from(exact.idemMatched);
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
    const lv = patternLevels(pairP[e]!);
    const i = idem[pairI[e]!]!;
    const g = residual[pairG[e]!]!.record;
    if (SPLIT_OPERATIONS.has(i.operation) && lv[REFERENCE]! <= REFERENCE_AGREES && lv[AMOUNT]! > AMOUNT_WITHIN_TOLERANCE && g.amount > 0 && g.amount < i.amount) push(partsOf, pairI[e]!, e);
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

  matches.sort((a, b) => byIdemOrder(a.idem, b.idem) || byGatewayOrder(a.gateway[0]!, b.gateway[0]!));
  review.sort((a, b) => byGatewayOrder(a.gateway, b.gateway));
  const result: ScoredMatchResult = {
    matches,
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
