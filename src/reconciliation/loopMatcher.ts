/**
 * The loop's matcher (docs/reconciliation.md, "The loop"): the exact matcher first
 * (./match/exact.ts, the one the scored matcher runs first too), then Idem's scored matcher
 * (./match/scored.ts) for the gateway records that lost their keys — settlement files, manual operations — against the Idem operations the
 * exact matcher left. A record with a gateway key that is not Idem's was made by someone else
 * and is never scored. What the scored matcher cannot call with the precision asked (ties, low
 * scores) comes back as review, which classification turns into a `match_review` case.
 *
 * The model learns from each batch's exact matches on top of the evidence of earlier batches
 * (capped, as in the stream: ./match/stream.ts), so a loop that has seen a few passes scores as
 * well as a batch with many exact matches. Pure but for that carried evidence.
 */
import { exactMatcher } from './match/exact.js';
import type { MatchSettings } from './match/features.js';
import { carryCounts, PRIOR, type ModelCounts } from './match/model.js';
import { matchScored } from './match/scored.js';
import { DEFAULT_HISTORY_PAIRS } from './match/stream.js';
import type { GatewayRecord, IdemRecord, Match, Matcher, MatchResult } from './records.js';

export interface LoopMatcherOptions {
  settings?: Partial<MatchSettings>;
  /** Evidence to start from; the named priors by default (everything keyless goes to review until exact matches teach the model). */
  prior?: ModelCounts;
  historyPairs?: number;
}

/** The loop's matcher with the evidence it carries, which the reconciler stores and restores (./learned.ts). */
export interface LearningMatcher extends Matcher {
  /** The evidence the next batch starts from: the priors until a batch had exact matches to learn from. */
  readonly history: ModelCounts;
  /** Starts from `counts` (evidence learned before, by this process or another). */
  restore(counts: ModelCounts): void;
}

/**
 * @example
 * const matcher = exactThenScored();
 * classify(records, payments, attempts, matcher); // keyless records: matched by score, or a match_review case
 */
export function exactThenScored(options: LoopMatcherOptions = {}): LearningMatcher {
  let history = options.prior ?? PRIOR;
  const historyPairs = options.historyPairs ?? DEFAULT_HISTORY_PAIRS;
  return {
    name: 'exact, then scored',
    get history() {
      return history;
    },
    restore(counts: ModelCounts) {
      history = carryCounts(counts, historyPairs);
    },
    match(idem: readonly IdemRecord[], gateway: readonly GatewayRecord[]): MatchResult {
      const exact = exactMatcher.match(idem, gateway);
      const keyless = exact.unmatchedGateway.filter((g) => g.gatewayKey === undefined);
      if (keyless.length === 0 || exact.unmatchedIdem.length === 0) return exact;
      // Scored over the exact matches too: its own exact phase labels their pairs, which is
      // what the model learns from. Only what it says of the keyless records and of the Idem
      // operations the exact matcher left is taken.
      const scored = matchScored(idem, [...exact.matches.flatMap((m) => m.gateway), ...keyless], { prior: history, ...(options.settings ? { settings: options.settings } : {}) });
      if (scored.model.fit.positives > 0) history = carryCounts(scored.model.counts, historyPairs);
      const isKeyless = new Set(keyless);
      const leftIdem = new Set(exact.unmatchedIdem);
      const matches: Match[] = [...exact.matches];
      const settled = new Set<GatewayRecord>();
      const taken = new Set<IdemRecord>();
      for (const m of scored.matches) {
        if (m.evidence.rule !== 'scored' || !leftIdem.has(m.idem) || !m.gateway.every((g) => isKeyless.has(g))) continue;
        matches.push(m);
        taken.add(m.idem);
        for (const g of m.gateway) settled.add(g);
      }
      // Several records in review may name the same candidates (two bare lines between twins):
      // each is a case with all of them, never an orphan because another case named them first.
      const review: MatchResult['review'] = [];
      const inReview = new Set<IdemRecord>();
      for (const r of scored.review) {
        if (!isKeyless.has(r.gateway) || settled.has(r.gateway)) continue;
        const candidates = r.candidates.filter((c) => leftIdem.has(c.idem) && !taken.has(c.idem));
        if (candidates.length === 0) continue;
        review.push({ gateway: r.gateway, candidates });
        settled.add(r.gateway);
        for (const c of candidates) inReview.add(c.idem);
      }
      return {
        matches,
        review,
        unmatchedGateway: exact.unmatchedGateway.filter((g) => !settled.has(g)),
        unmatchedIdem: exact.unmatchedIdem.filter((i) => !taken.has(i) && !inReview.has(i)),
      };
    },
  };
}
