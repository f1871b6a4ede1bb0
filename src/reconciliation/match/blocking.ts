/**
 * The blocking index of Idem's matcher (docs/reconciliation.md, "Matching"): which Idem
 * records a gateway record is compared with. Pure; rebuilt for every batch.
 */
import type { GatewaySide, IdemSide, MatchSettings } from './features.js';
import { gramKey, paymentIdGrams, referenceGramsInto } from './reference.js';

/**
 * Idem records of one batch, indexed for blocking. Built once per batch from flat typed arrays
 * (no object or list per record): a block number per (gateway, currency, operation), the
 * records of each block sorted by amount (and of each block and merchant), and an
 * open-addressing table from reference gram keys to the records whose payment id has that gram.
 */
export class IdemIndex {
  /** Per position: its time, amount and block (−1: never a candidate). */
  private readonly at: Float64Array;
  private readonly amount: Float64Array;
  private readonly block: Int32Array;
  /** gateway → currency → operation → block number. */
  private readonly blocks = new Map<string, Map<string, Map<string, number>>>();
  /** Per block: merchant → merchant band number. */
  private readonly merchantBands: Array<Map<string, number>> = [];
  /** Positions by (block, amount, position), and where each block starts; the same by merchant band. */
  private readonly band: Band;
  private readonly merchantBand: Band;
  /** Gram table: slot → (gram key, first entry); entries chain positions sharing a key. */
  private readonly slotKey: Int32Array;
  private readonly slotHead: Int32Array;
  private readonly slotBits: number;
  private readonly entryNext: Int32Array;
  private readonly entryIdem: Int32Array;
  private readonly stamp: Int32Array;
  private query = 0;
  /** The last query's candidates: `found[0 .. count)`; reused from query to query (no list per query). */
  found = new Int32Array(64);
  count = 0;
  private grams = new Float64Array(64);
  /** Idem records within rounding of the last query's amount (any status), in its window. */
  bandCount = 0;

  constructor(
    readonly sides: readonly IdemSide[],
    private readonly s: MatchSettings,
  ) {
    const n = sides.length;
    this.at = new Float64Array(n);
    this.amount = new Float64Array(n);
    this.block = new Int32Array(n);
    const merchantBandOf = new Int32Array(n);
    const gramStart = new Int32Array(n + 1);
    const grams: number[] = [];
    let merchantBands = 0;
    for (let k = 0; k < n; k++) {
      const r = sides[k]!.record;
      this.at[k] = r.at;
      this.amount[k] = r.amount;
      const byCurrency = nested(nested(this.blocks, r.gateway), r.currency);
      let b = byCurrency.get(r.operation);
      if (b === undefined) {
        byCurrency.set(r.operation, (b = this.merchantBands.length));
        this.merchantBands.push(new Map());
      }
      this.block[k] = b;
      const merchants = this.merchantBands[b]!;
      let m = merchants.get(r.merchantId);
      if (m === undefined) merchants.set(r.merchantId, (m = merchantBands++));
      merchantBandOf[k] = m;
      paymentIdGrams(r.paymentId, grams);
      gramStart[k + 1] = grams.length;
    }
    this.band = sortedBands(this.block, this.merchantBands.length, this.amount);
    this.merchantBand = sortedBands(merchantBandOf, merchantBands, this.amount);

    const entries = grams.length;
    this.slotBits = Math.max(4, Math.ceil(Math.log2(2 * entries + 1)));
    this.slotKey = new Int32Array(1 << this.slotBits);
    this.slotHead = new Int32Array(1 << this.slotBits).fill(-1);
    this.entryNext = new Int32Array(entries);
    this.entryIdem = new Int32Array(entries);
    // Entries are chained newest first; inserted from the last position down, each chain
    // lists its positions in ascending order.
    for (let k = n - 1; k >= 0; k--) {
      for (let e = gramStart[k]!; e < gramStart[k + 1]!; e++) {
        const slot = this.slotOf(gramKey(grams[e]!), true);
        this.entryIdem[e] = k;
        this.entryNext[e] = this.slotHead[slot]!;
        this.slotHead[slot] = e;
      }
    }
    this.stamp = new Int32Array(n).fill(-1);
  }

  /** The slot of a gram key: its own, the empty one it would take, or −1 (absent, `insert` false). */
  private slotOf(key: number, insert: boolean): number {
    const mask = (1 << this.slotBits) - 1;
    for (let slot = Math.imul(key, 0x9e3779b1) >>> (32 - this.slotBits); ; slot = (slot + 1) & mask) {
      if (this.slotHead[slot] === -1) {
        if (!insert) return -1;
        this.slotKey[slot] = key;
        return slot;
      }
      if (this.slotKey[slot] === key) return slot;
    }
  }

  /**
   * Candidates of a gateway record: same gateway, currency and operation, within the time
   * window, and sharing a reference gram, or within FX rounding of its amount, or (same
   * merchant) within the fee tolerance above it: `found[0 .. count)`, ascending Idem positions;
   * only those with `free[k]` set when `free` is given. Returns the count; the buffer is reused
   * by the next call.
   */
  candidates(g: GatewaySide, free: Uint8Array | null): number {
    const q = ++this.query;
    this.count = 0;
    this.bandCount = 0;
    const r = g.record;
    const s = this.s;
    const b = this.blocks.get(r.gateway)?.get(r.currency)?.get(r.operation);
    if (b === undefined) return 0;
    if (g.reference !== undefined) {
      if (this.grams.length < g.reference.length) this.grams = new Float64Array(2 * g.reference.length);
      const grams = this.grams;
      const n = referenceGramsInto(g.reference, grams);
      for (let j = 0; j < n; j++) {
        const slot = this.slotOf(gramKey(grams[j]!), false);
        if (slot < 0) continue;
        for (let e = this.slotHead[slot]!; e >= 0; e = this.entryNext[e]!) this.consider(this.entryIdem[e]!, r.at, b, free, q);
      }
    }
    const band = this.band;
    for (let j = lowerBound(band, b, r.amount - s.roundingMinor), end = band.start[b + 1]!; j < end && band.amount[j]! <= r.amount + s.roundingMinor; j++) {
      const k = band.order[j]!;
      if (Math.abs(r.at - this.at[k]!) <= s.windowMs) this.bandCount++;
      this.consider(k, r.at, b, free, q);
    }
    if (r.merchantId !== undefined) {
      const m = this.merchantBands[b]!.get(r.merchantId);
      const mb = this.merchantBand;
      const hi = (r.amount + s.feeFixedMinor) / (1 - s.feeShare);
      if (m !== undefined) {
        for (let j = lowerBound(mb, m, r.amount + s.roundingMinor + 1), end = mb.start[m + 1]!; j < end && mb.amount[j]! <= hi; j++) this.consider(mb.order[j]!, r.at, b, free, q);
      }
    }
    // Insertion sort: a record has a handful of candidates.
    const found = this.found;
    for (let j = 1; j < this.count; j++) {
      const k = found[j]!;
      let i = j - 1;
      for (; i >= 0 && found[i]! > k; i--) found[i + 1] = found[i]!;
      found[i + 1] = k;
    }
    return this.count;
  }

  private consider(k: number, at: number, b: number, free: Uint8Array | null, q: number): void {
    if (this.stamp[k] === q) return;
    this.stamp[k] = q;
    if (Math.abs(at - this.at[k]!) > this.s.windowMs || this.block[k] !== b || (free !== null && free[k] === 0)) return;
    if (this.count === this.found.length) {
      const grown = new Int32Array(2 * this.found.length);
      grown.set(this.found);
      this.found = grown;
    }
    this.found[this.count++] = k;
  }
}

/** Positions grouped by band and sorted by amount within each: `order[start[b] .. start[b + 1])`. */
interface Band {
  start: Int32Array;
  order: Int32Array;
  amount: Float64Array;
}

function sortedBands(bandOf: Int32Array, bands: number, amount: Float64Array): Band {
  const start = new Int32Array(bands + 1);
  for (let k = 0; k < bandOf.length; k++) start[bandOf[k]! + 1] = start[bandOf[k]! + 1]! + 1;
  for (let b = 0; b < bands; b++) start[b + 1] = start[b + 1]! + start[b]!;
  const fill = start.slice(0, bands);
  const order = new Int32Array(bandOf.length);
  for (let k = 0; k < bandOf.length; k++) order[fill[bandOf[k]!]!++] = k;
  for (let b = 0; b < bands; b++) order.subarray(start[b]!, start[b + 1]!).sort((x, y) => amount[x]! - amount[y]! || x - y);
  const sorted = new Float64Array(order.length);
  for (let j = 0; j < order.length; j++) sorted[j] = amount[order[j]!]!;
  return { start, order, amount: sorted };
}

/** First index of band `b` whose amount is at least `lo`. */
function lowerBound(band: Band, b: number, lo: number): number {
  let a = band.start[b]!;
  let z = band.start[b + 1]!;
  while (a < z) {
    const mid = (a + z) >> 1;
    if (band.amount[mid]! < lo) a = mid + 1;
    else z = mid;
  }
  return a;
}

function nested<V>(map: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = map.get(key);
  if (!inner) map.set(key, (inner = new Map()));
  return inner;
}

