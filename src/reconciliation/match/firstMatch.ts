/**
 * The common approach of rule-based reconciliation tools, kept as the bench's baseline
 * (docs/reconciliation.md, "Figures"): exact keys, then each remaining gateway record, in time
 * order, takes the first remaining Idem record (in time order) of the same gateway, currency
 * and operation within the time window and the amount tolerances. No scores, no review, no splits.
 */
import type { GatewayRecord, IdemRecord, Match, Matcher, MatchResult } from '../records.js';
import { byGatewayOrder, byIdemOrder, exactPhase } from './exact.js';
import { AMOUNT_WITHIN_TOLERANCE, amountLevel, DEFAULT_MATCH_SETTINGS, type MatchSettings } from './features.js';

export function firstMatchWithTolerance(settings: Partial<MatchSettings> = {}): Matcher {
  const s = { ...DEFAULT_MATCH_SETTINGS, ...settings };
  return {
    name: 'first match with tolerance',
    match(idemIn, gatewayIn): MatchResult {
      const idem = [...idemIn].sort(byIdemOrder);
      const gateway = [...gatewayIn].sort(byGatewayOrder);
      const exact = exactPhase(idem, gateway);
      const open = new Map<string, IdemRecord[]>();
      idem.forEach((i, k) => {
        if (exact.idemMatched[k]) return;
        const key = `${i.gateway}\u0000${i.currency}\u0000${i.operation}`;
        const list = open.get(key);
        if (list) list.push(i);
        else open.set(key, [i]);
      });
      const matches: Match[] = [...exact.matches];
      const unmatchedGateway: GatewayRecord[] = [...exact.duplicates];
      gateway.forEach((g, gk) => {
        if (exact.gatewayMatched[gk]) return;
        const list = open.get(`${g.gateway}\u0000${g.currency}\u0000${g.operation}`) ?? [];
        const at = list.findIndex((i) => Math.abs(g.at - i.at) <= s.windowMs && amountLevel(i.amount, g.amount, s) <= AMOUNT_WITHIN_TOLERANCE);
        if (at < 0) {
          unmatchedGateway.push(g);
          return;
        }
        const [i] = list.splice(at, 1);
        matches.push({ idem: i!, gateway: [g], evidence: { rule: 'scored', probability: 1 } });
      });
      return { matches, review: [], unmatchedGateway, unmatchedIdem: [...open.values()].flat() };
    },
  };
}
