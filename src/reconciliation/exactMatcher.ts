/**
 * The exact matcher (docs/reconciliation.md, "Matching"): a gateway record is Idem's operation
 * when it carries that operation's gateway key, else its transaction id, else — for a record
 * that carries no key at all, as settlement files do — the authorization it acts on with the
 * same operation. One-to-one, rule by rule; everything else is unmatched. Pure.
 */
import type { GatewayRecord, IdemRecord, Match, Matcher, MatchEvidence, MatchResult } from './records.js';

const EXACT = (rule: MatchEvidence['rule']): MatchEvidence => ({ rule, probability: 1 });

/**
 * @example
 * exactMatcher.match([attempt], [recordWithItsKey]).matches[0].evidence // → { rule: 'gateway_key', probability: 1 }
 */
export const exactMatcher: Matcher = {
  name: 'exact',
  match(idem: readonly IdemRecord[], gateway: readonly GatewayRecord[]): MatchResult {
    const free = new Set(idem);
    const matched = new Map<GatewayRecord, Match>();
    const byKey = new Map(idem.map((i) => [`${i.gateway}\u0000${i.gatewayKey}`, i]));
    const pair = (g: GatewayRecord, i: IdemRecord, rule: MatchEvidence['rule']) => {
      free.delete(i);
      matched.set(g, { idem: i, gateway: [g], evidence: EXACT(rule) });
    };
    // Rule by rule over all records, so a stronger rule is never pre-empted by a weaker one.
    for (const g of gateway) {
      if (g.gatewayKey === undefined) continue;
      const i = byKey.get(`${g.gateway}\u0000${g.gatewayKey}`);
      if (i !== undefined && free.has(i)) pair(g, i, 'gateway_key');
    }
    for (const g of gateway) {
      if (matched.has(g) || g.transactionId === undefined) continue;
      const i = [...free].find((c) => c.gateway === g.gateway && c.transactionId !== undefined && c.transactionId === g.transactionId);
      if (i !== undefined) pair(g, i, 'transaction_id');
    }
    for (const g of gateway) {
      // A record with a key that is not one of Idem's was made by someone else (a dashboard,
      // another integration): it is not Idem's operation, however its authorization matches.
      if (matched.has(g) || g.gatewayKey !== undefined || g.authorizationId === undefined) continue;
      const i = [...free].find((c) => c.gateway === g.gateway && c.operation === g.operation && c.authorizationId === g.authorizationId);
      if (i !== undefined) pair(g, i, 'authorization_id');
    }
    return {
      matches: gateway.filter((g) => matched.has(g)).map((g) => matched.get(g)!),
      review: [],
      unmatchedGateway: gateway.filter((g) => !matched.has(g)),
      unmatchedIdem: idem.filter((i) => free.has(i)),
    };
  },
};
