/**
 * Exact matching (docs/reconciliation.md, "Exact keys"): a gateway record that still carries
 * the gateway idempotency key Idem sent, the gateway's transaction id, or an authorization id
 * that names one Idem operation of that kind is matched by it, with certainty.
 */
import type { GatewayRecord, IdemRecord, Match, Matcher, MatchResult } from '../records.js';

/** Operations a gateway may settle as several records that sum to one (split captures/refunds). */
export const SPLIT_OPERATIONS: ReadonlySet<string> = new Set(['capture', 'refund']);

export function byIdemOrder(a: IdemRecord, b: IdemRecord): number {
  return a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function byGatewayOrder(a: GatewayRecord, b: GatewayRecord): number {
  return a.at - b.at || (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export interface ExactPhase {
  matches: Match[];
  /** The Idem and gateway records the phase settled. */
  matchedIdem: Set<IdemRecord>;
  matchedGateway: Set<GatewayRecord>;
  /**
   * Gateway records carrying the key of an operation another record already answers (a
   * duplicate at the gateway): left unmatched, never offered to scoring.
   */
  duplicates: GatewayRecord[];
}

/** Exact matching over records already in matcher order ({@link byIdemOrder}, {@link byGatewayOrder}). */
export function exactPhase(idem: readonly IdemRecord[], gateway: readonly GatewayRecord[]): ExactPhase {
  // Per gateway, then by the record's own strings: no concatenated keys to hash. Records that
  // lost their gateway key but kept a transaction or authorization id are few: those two
  // indexes are built only when one is asked for.
  const byKey = new Map<string, Map<string, IdemRecord>>();
  let byTransaction: Map<string, Map<string, IdemRecord>> | undefined;
  let byAuthorization: Map<string, Map<string, IdemRecord[]>> | undefined;
  const of = <V,>(map: Map<string, Map<string, V>>, gw: string) => {
    let inner = map.get(gw);
    if (!inner) map.set(gw, (inner = new Map()));
    return inner;
  };
  for (const i of idem) of(byKey, i.gateway).set(i.gatewayKey, i);
  const byTransactionOf = (g: GatewayRecord): IdemRecord | undefined => {
    if (!byTransaction) {
      byTransaction = new Map();
      for (const i of idem) if (i.transactionId !== undefined) of(byTransaction, i.gateway).set(i.transactionId, i);
    }
    return byTransaction.get(g.gateway)?.get(g.transactionId!);
  };
  // An authorization id names an Idem operation only when one operation of that kind has it.
  const byAuthorizationOf = (g: GatewayRecord): IdemRecord | undefined => {
    if (!byAuthorization) {
      byAuthorization = new Map();
      for (const i of idem) {
        if (i.authorizationId === undefined) continue;
        const auth = of(byAuthorization, i.gateway);
        const list = auth.get(i.authorizationId);
        if (list) list.push(i);
        else auth.set(i.authorizationId, [i]);
      }
    }
    let found: IdemRecord | undefined;
    for (const i of byAuthorization.get(g.gateway)?.get(g.authorizationId!) ?? []) {
      if (i.operation !== g.operation) continue;
      if (found) return undefined;
      found = i;
    }
    return found;
  };
  const groups = new Map<IdemRecord, { idem: IdemRecord; rule: 'gateway_key' | 'transaction_id' | 'authorization_id'; records: GatewayRecord[] }>();
  for (const g of gateway) {
    let i: IdemRecord | undefined;
    let rule: 'gateway_key' | 'transaction_id' | 'authorization_id' = 'gateway_key';
    if (g.gatewayKey !== undefined) i = byKey.get(g.gateway)?.get(g.gatewayKey);
    if (!i && g.transactionId !== undefined) {
      i = byTransactionOf(g);
      rule = 'transaction_id';
    }
    if (!i && g.authorizationId !== undefined) {
      i = byAuthorizationOf(g);
      rule = 'authorization_id';
    }
    if (!i) continue;
    const group = groups.get(i);
    if (group) group.records.push(g);
    else groups.set(i, { idem: i, rule, records: [g] });
  }
  const out: ExactPhase = { matches: [], matchedIdem: new Set(), matchedGateway: new Set(), duplicates: [] };
  for (const { idem: i, rule, records } of groups.values()) {
    let taken = records;
    if (records.length > 1) {
      const sum = records.reduce((s, g) => s + g.amount, 0);
      // Several records under one key: the parts of a split when they add up, else one answer
      // (the first with Idem's amount, else the first) and duplicates.
      if (!(SPLIT_OPERATIONS.has(i.operation) && sum === i.amount)) taken = [records.find((g) => g.amount === i.amount) ?? records[0]!];
    }
    for (const g of records) {
      if (taken.includes(g)) out.matchedGateway.add(g);
      else out.duplicates.push(g);
    }
    out.matchedIdem.add(i);
    out.matches.push({ idem: i, gateway: taken, evidence: { rule, probability: 1 } });
  }
  out.matches.sort((a, b) => byIdemOrder(a.idem, b.idem));
  out.duplicates.sort(byGatewayOrder);
  return out;
}

/** Exact keys only: everything without a key stays unmatched. The baseline of the bench. */
export const exactKeyMatcher: Matcher = {
  name: 'exact-key only',
  match(idemIn, gatewayIn): MatchResult {
    const idem = [...idemIn].sort(byIdemOrder);
    const gateway = [...gatewayIn].sort(byGatewayOrder);
    const phase = exactPhase(idem, gateway);
    return {
      matches: phase.matches,
      review: [],
      unmatchedGateway: gateway.filter((g) => !phase.matchedGateway.has(g)),
      unmatchedIdem: idem.filter((i) => !phase.matchedIdem.has(i)),
    };
  },
};
