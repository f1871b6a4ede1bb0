/**
 * The comparison of one Idem record with one gateway record, as discrete agreement levels
 * (docs/reconciliation.md, "Features"). The levels are bins, not weights: how much each level
 * says for or against a match is learned (model.ts). Gateway, currency and operation are not
 * compared here: they are blocking keys, so a pair that differs on them is never a candidate.
 */
import type { GatewayRecord, IdemRecord } from '../records.js';
import { REFERENCE_LEVELS, referenceCore, referenceLevel } from './reference.js';

/** Tolerances and the one precision target the matcher works to. */
export interface MatchSettings {
  /** FX rounding: a gateway amount within this many minor units of Idem's. */
  roundingMinor: number;
  /** Fees: a gateway amount short of Idem's by at most `feeShare` of it plus `feeFixedMinor`. */
  feeShare: number;
  feeFixedMinor: number;
  /** Largest |gateway time − Idem time| of a candidate pair: clock skew plus gateway latency. */
  windowMs: number;
  /**
   * Precision asked of every automatic match. It sets both review rules: a pair is matched
   * only when its probability, and its log-odds lead over the best assignment without it, reach
   * this target (docs/reconciliation.md, "Review rules").
   */
  targetPrecision: number;
  /** Most gateway records one split capture or refund is looked for in. */
  maxParts: number;
  /** Larger blocks of competing candidates go to review whole (the solver is O(n³)). */
  maxBlock: number;
}

export const DEFAULT_MATCH_SETTINGS: MatchSettings = {
  roundingMinor: 2,
  feeShare: 0.05,
  feeFixedMinor: 50,
  windowMs: 15 * 60_000,
  targetPrecision: 0.999,
  maxParts: 3,
  maxBlock: 150,
};

/** Each feature and its levels, strongest agreement first. */
export const FEATURES = [
  // 'unique': exact, and no other Idem record of the block and window is within rounding of
  // the gateway amount (frequency-based agreement, as Winkler's: a rare value says more).
  { name: 'amount', levels: ['unique', 'exact', 'rounding', 'fee', 'other'] },
  { name: 'time', levels: ['1min', '5min', 'window', 'beyond'] },
  { name: 'reference', levels: REFERENCE_LEVELS as readonly string[] },
  { name: 'merchant', levels: ['same', 'missing', 'different'] },
] as const satisfies ReadonlyArray<{ name: string; levels: readonly string[] }>;

export type FeatureName = (typeof FEATURES)[number]['name'];

/** Strides of the mixed-radix code that packs one level per feature into a pattern number. */
const STRIDES: number[] = [];
let size = 1;
for (const f of FEATURES) {
  STRIDES.push(size);
  size *= f.levels.length;
}
/** How many distinct agreement patterns there are (the model is a table over them). */
export const PATTERNS = size;

export function patternCode(levels: readonly number[]): number {
  let code = 0;
  for (let k = 0; k < levels.length; k++) code += levels[k]! * STRIDES[k]!;
  return code;
}

/** One feature's level in a pattern (`patternLevels(code)[feature]`, without the array). */
export function patternLevel(code: number, feature: number): number {
  return Math.floor(code / STRIDES[feature]!) % FEATURES[feature]!.levels.length;
}

export function patternLevels(code: number): number[] {
  return FEATURES.map((f, k) => Math.floor(code / STRIDES[k]!) % f.levels.length);
}

/** The amount level of a gateway amount against Idem's (integer minor units). */
export function amountLevel(idemAmount: number, gatewayAmount: number, s: MatchSettings, alone = false): number {
  const d = gatewayAmount - idemAmount;
  if (d === 0) return alone ? 0 : 1;
  if (Math.abs(d) <= s.roundingMinor) return 2;
  if (d < 0 && -d <= idemAmount * s.feeShare + s.feeFixedMinor) return 3;
  return 4;
}

/** Amount levels a one-to-one match allows (unique, exact, rounding, fee); above is `other`. */
export const AMOUNT_WITHIN_TOLERANCE = 3;

export function timeLevel(dtMs: number, s: MatchSettings): number {
  const a = Math.abs(dtMs);
  if (a <= 60_000) return 0;
  if (a <= 5 * 60_000) return 1;
  if (a <= s.windowMs) return 2;
  return 3;
}

const REF_INDEX = new Map<string, number>(REFERENCE_LEVELS.map((l, i) => [l, i]));

/** What the matcher keeps of a gateway record: normalised reference, computed once. */
export interface GatewaySide {
  record: GatewayRecord;
  reference: string | undefined;
}

/**
 * What the matcher keeps of an Idem record: its reference core, computed once — and only for
 * records that are compared with something (most Idem records of a window are matched by an
 * exact key and never are).
 */
export interface IdemSide {
  record: IdemRecord;
  core?: string;
}

/**
 * The agreement pattern of one pair. `alone`: the Idem record is the only one of its block and
 * window within rounding of the gateway amount.
 */
export function comparePair(i: IdemSide, g: GatewaySide, s: MatchSettings, alone = false): number {
  const gr = g.record;
  const ir = i.record;
  const merchant = gr.merchantId === undefined ? 1 : gr.merchantId === ir.merchantId ? 0 : 2;
  const core = (i.core ??= referenceCore(ir.paymentId));
  return (
    amountLevel(ir.amount, gr.amount, s, alone) * STRIDES[0]! +
    timeLevel(gr.at - ir.at, s) * STRIDES[1]! +
    REF_INDEX.get(referenceLevel(core, g.reference))! * STRIDES[2]! +
    merchant * STRIDES[3]!
  );
}
