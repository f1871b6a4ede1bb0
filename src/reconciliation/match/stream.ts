/**
 * Matching as a stream (docs/reconciliation.md, "Streaming"): both sides arrive sorted by
 * time; the gateway side is cut into windows, each matched against the Idem records that can
 * pair with it (the window widened by the matching window on both sides, for clock skew). Only
 * a window and its overlap are held in memory. The model learned in one window is the next
 * window's prior, its evidence capped at `historyPairs` pairs: history counts, and recent data
 * keeps its say.
 *
 *   Idem   ──────[ from − O ·········· to + O )──────
 *   gateway            [ from ····· to )              O = settings.windowMs
 *
 * An Idem record left unmatched in a window is offered again to the next one while it can still
 * pair with it (time ≥ to − O); after that it is final. The gateway side is read O ahead: an
 * Idem record that a later gateway record carries the exact key of waits for that record
 * instead of being offered, keyless look-alikes, to this window's scoring.
 */
import type { GatewayRecord, IdemRecord, Matcher, MatchResult } from '../records.js';
import { DEFAULT_MATCH_SETTINGS, type MatchSettings } from './features.js';
import { carryCounts, PRIOR, type ModelCounts } from './model.js';
import { matchScored, type ScoredMatchResult } from './scored.js';

export interface StreamOptions {
  /** Width of one gateway window (ms). */
  windowMs?: number;
  settings?: Partial<MatchSettings>;
  /** Most pairs' worth of evidence carried from window to window. */
  historyPairs?: number;
  /** Evidence to start from (an earlier run's), else the named priors. */
  prior?: ModelCounts;
  /** Another matcher instead of Idem's scored one (for baselines); no model is carried. */
  matcher?: Matcher;
}

export interface WindowResult extends MatchResult {
  /** The gateway window [from, to). */
  from: number;
  to: number;
  /** Idem's matcher only: what this window was scored with. */
  scored?: ScoredMatchResult;
}

export const DEFAULT_STREAM_WINDOW_MS = 60 * 60_000;
export const DEFAULT_HISTORY_PAIRS = 20_000;

/**
 * Look-ahead over an async source of records or of batches of records (a database read
 * yields a fetch at a time: one await per batch, not per record).
 */
class Ahead<T extends { at: number }> {
  private batch: readonly T[] = [];
  private pos = 0;
  private done = false;
  private readonly it: AsyncIterator<T | readonly T[]>;

  constructor(source: AsyncIterable<T | readonly T[]>) {
    this.it = source[Symbol.asyncIterator]();
  }

  async peek(): Promise<T | undefined> {
    while (this.pos >= this.batch.length && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        this.batch = isBatch(r.value) ? r.value : [r.value];
        this.pos = 0;
      }
    }
    return this.batch[this.pos];
  }

  /** Takes every record with `at < before` into `into`. */
  async takeBefore(before: number, into: T[]): Promise<void> {
    while ((await this.peek()) !== undefined) {
      const batch = this.batch;
      while (this.pos < batch.length) {
        const x = batch[this.pos]!;
        if (x.at >= before) return;
        into.push(x);
        this.pos++;
      }
    }
  }
}

function isBatch<T>(value: T | readonly T[]): value is readonly T[] {
  return Array.isArray(value);
}

/**
 * Matches two time-sorted streams (of records, or of batches of records) window by window;
 * yields each window's final results.
 * Every gateway record appears in exactly one window's results, every Idem record in one
 * window's matches, review candidates or unmatched list (the last window flushes the rest).
 */
export async function* reconcileStream(
  gateway: AsyncIterable<GatewayRecord | readonly GatewayRecord[]>,
  idem: AsyncIterable<IdemRecord | readonly IdemRecord[]>,
  options: StreamOptions = {},
): AsyncGenerator<WindowResult> {
  const settings = { ...DEFAULT_MATCH_SETTINGS, ...options.settings };
  const width = options.windowMs ?? DEFAULT_STREAM_WINDOW_MS;
  const overlap = settings.windowMs;
  const historyPairs = options.historyPairs ?? DEFAULT_HISTORY_PAIRS;
  const g = new Ahead(gateway);
  const i = new Ahead(idem);
  let prior = options.prior ?? PRIOR;
  let pending: IdemRecord[] = [];
  // Idem records a gateway record of a later window claims by an exact key: kept out of scoring
  // until that window, whatever their time.
  let claimed: IdemRecord[] = [];
  let ahead: GatewayRecord[] = [];

  for (;;) {
    const first = ahead[0] ?? (await g.peek());
    if (first === undefined) break;
    const from = Math.floor(first.at / width) * width;
    const to = from + width;
    await i.takeBefore(to + overlap, pending);
    await g.takeBefore(to + overlap, ahead);
    let cut = 0;
    while (cut < ahead.length && ahead[cut]!.at < to) cut++;
    const records = ahead.slice(0, cut);
    ahead = ahead.slice(cut);
    // Idem records that can no longer pair with anything still to come are final.
    const stale: IdemRecord[] = [];
    const reachable: IdemRecord[] = [];
    for (const x of pending) (x.at < from - overlap ? stale : reachable).push(x);
    const available = [...claimed, ...reachable];
    const window: IdemRecord[] = [];
    claimed = [];
    const later = laterKeys(ahead);
    // Only a record near the window's end can have its keyed answer in the look-ahead.
    for (const x of available) (x.at >= to - overlap && (later.has(x.gatewayKey) || (x.transactionId !== undefined && later.has(x.transactionId))) ? claimed : window).push(x);

    let result: MatchResult;
    let scored: ScoredMatchResult | undefined;
    if (options.matcher) result = options.matcher.match(window, records);
    else {
      result = scored = matchScored(window, records, { settings, prior });
      // A window without exact matches has no labels to anchor its fit: it may use it, but
      // does not teach it forward.
      if (scored.model.fit.positives > 0) prior = carryCounts(scored.model.counts, historyPairs);
    }
    // Matched and review-candidate Idem records are settled here; the matcher lists the rest.
    pending = [];
    const unmatchedIdem = stale;
    for (const x of result.unmatchedIdem) (x.at >= to - overlap ? pending : unmatchedIdem).push(x);
    const out: WindowResult = { from, to, matches: result.matches, review: result.review, unmatchedGateway: result.unmatchedGateway, unmatchedIdem };
    if (scored) out.scored = scored;
    yield out;
  }
  pending.push(...claimed);
  await i.takeBefore(Infinity, pending);
  if (pending.length > 0) yield { from: Infinity, to: Infinity, matches: [], review: [], unmatchedGateway: [], unmatchedIdem: pending };
}

/**
 * The gateway keys and transaction ids the look-ahead records carry (per gateway in the rare
 * case of several: a key is only unique per gateway, so the set is a superset and may hold an
 * Idem record back one window, never match it).
 */
function laterKeys(ahead: readonly GatewayRecord[]): Set<string> {
  const keys = new Set<string>();
  for (const g of ahead) {
    if (g.gatewayKey !== undefined) keys.add(g.gatewayKey);
    if (g.transactionId !== undefined) keys.add(g.transactionId);
  }
  return keys;
}

/** An in-memory time-sorted array as a stream of batches (tests, the bench's in-memory runs). */
export async function* fromSorted<T>(records: readonly T[], batch = 10_000): AsyncGenerator<readonly T[]> {
  for (let k = 0; k < records.length; k += batch) yield records.slice(k, k + batch);
}
