/**
 * Exact matching (docs/reconciliation.md, "Exact keys"), the one exact matcher: the loop's
 * first step (../loopMatcher.ts) and the scored matcher's first phase (./scored.ts). A gateway
 * record that still carries the gateway idempotency key Idem sent, else the gateway's
 * transaction id, else — for a record that carries no key at all, as settlement files do — an
 * authorization id that names exactly one Idem operation of that kind that no stronger rule
 * took, is matched by it, with certainty. Rule by rule over all records. Pure.
 */
import type { GatewayRecord, IdemRecord, Match, MatchEvidence, Matcher, MatchResult } from '../records.js';

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
  /** By position in the (sorted) inputs: 1 where the phase settled the Idem record. */
  idemMatched: Uint8Array;
  /** By position in the (sorted) inputs: 1 matched, 2 a duplicate (see below). */
  gatewayMatched: Uint8Array;
  /**
   * Gateway records carrying the key of an operation another record already answers (a
   * duplicate at the gateway): left unmatched, never offered to scoring.
   */
  duplicates: GatewayRecord[];
}

/** One shared, frozen evidence per exact rule: most matches of a batch are exact, and say the same. */
type ExactRule = 'gateway_key' | 'transaction_id' | 'authorization_id';

const EXACT_EVIDENCE: Readonly<Record<ExactRule, MatchEvidence>> = {
  gateway_key: Object.freeze({ rule: 'gateway_key', probability: 1 }),
  transaction_id: Object.freeze({ rule: 'transaction_id', probability: 1 }),
  authorization_id: Object.freeze({ rule: 'authorization_id', probability: 1 }),
};

/** Exact matching over records already in matcher order ({@link byIdemOrder}, {@link byGatewayOrder}). */
export function exactPhase(idem: readonly IdemRecord[], gateway: readonly GatewayRecord[]): ExactPhase {
  // Per gateway, then by the record's own strings: no concatenated keys to hash. Records that
  // lost their gateway key but kept a transaction or authorization id are few: those two
  // indexes are built only when one is asked for.
  const byKey = new Map<string, Map<string, number>>();
  let byTransaction: Map<string, Map<string, number>> | undefined;
  let byAuthorization: Map<string, Map<string, number[]>> | undefined;
  const of = <V,>(map: Map<string, Map<string, V>>, gw: string) => {
    let inner = map.get(gw);
    if (!inner) map.set(gw, (inner = new Map()));
    return inner;
  };
  idem.forEach((i, k) => of(byKey, i.gateway).set(i.gatewayKey, k));
  const byTransactionOf = (g: GatewayRecord): number | undefined => {
    if (!byTransaction) {
      const map = (byTransaction = new Map());
      idem.forEach((i, k) => i.transactionId !== undefined && of(map, i.gateway).set(i.transactionId, k));
    }
    return byTransaction.get(g.gateway)?.get(g.transactionId!);
  };
  // Gateway records per Idem position, in gateway order (most Idem records have one).
  const first = new Int32Array(idem.length).fill(-1);
  const rules: ExactRule[] = [];
  const more = new Map<number, number[]>();
  const attached = new Uint8Array(gateway.length);
  const attach = (gk: number, k: number, rule: ExactRule) => {
    attached[gk] = 1;
    if (first[k] === -1) {
      first[k] = gk;
      rules[k] = rule;
    } else {
      const list = more.get(k);
      if (list) list.push(gk);
      else more.set(k, [gk]);
    }
  };
  // Rule by rule over all records, so a stronger rule is never pre-empted by a weaker one.
  for (let gk = 0; gk < gateway.length; gk++) {
    const g = gateway[gk]!;
    const k = g.gatewayKey === undefined ? undefined : byKey.get(g.gateway)?.get(g.gatewayKey);
    if (k !== undefined) attach(gk, k, 'gateway_key');
  }
  for (let gk = 0; gk < gateway.length; gk++) {
    const g = gateway[gk]!;
    if (attached[gk] || g.transactionId === undefined) continue;
    const k = byTransactionOf(g);
    if (k !== undefined) attach(gk, k, 'transaction_id');
  }
  // An authorization id names an Idem operation only when one operation of that kind that no
  // stronger rule took has it, and only for a record without a key: a record with a key that
  // is not one of Idem's was made by someone else (a dashboard, another integration), however
  // its authorization matches.
  for (let gk = 0; gk < gateway.length; gk++) {
    const g = gateway[gk]!;
    if (attached[gk] || g.gatewayKey !== undefined || g.authorizationId === undefined) continue;
    if (!byAuthorization) {
      byAuthorization = new Map();
      for (let k = 0; k < idem.length; k++) {
        const i = idem[k]!;
        if (i.authorizationId === undefined || first[k] !== -1) continue;
        const auth = of(byAuthorization, i.gateway);
        const list = auth.get(i.authorizationId);
        if (list) list.push(k);
        else auth.set(i.authorizationId, [k]);
      }
    }
    let found: number | undefined;
    let ambiguous = false;
    for (const k of byAuthorization.get(g.gateway)?.get(g.authorizationId) ?? []) {
      if (idem[k]!.operation !== g.operation || rules[k] === 'authorization_id') continue;
      if (found !== undefined) ambiguous = true;
      found = k;
    }
    if (found !== undefined && !ambiguous) attach(gk, found, 'authorization_id');
  }
  const out: ExactPhase = { matches: [], idemMatched: new Uint8Array(idem.length), gatewayMatched: new Uint8Array(gateway.length), duplicates: [] };
  for (let k = 0; k < idem.length; k++) {
    if (first[k] === -1) continue;
    const i = idem[k]!;
    const extra = more.get(k);
    let taken = [first[k]!];
    if (extra) {
      const all = [first[k]!, ...extra];
      const sum = all.reduce((s, gk) => s + gateway[gk]!.amount, 0);
      // Several records under one key: the parts of a split when they add up, else one answer
      // (the first with Idem's amount, else the first) and duplicates.
      taken = SPLIT_OPERATIONS.has(i.operation) && sum === i.amount ? all : [all.find((gk) => gateway[gk]!.amount === i.amount) ?? all[0]!];
      for (const gk of all) {
        if (taken.includes(gk)) continue;
        out.gatewayMatched[gk] = 2;
        out.duplicates.push(gateway[gk]!);
      }
    }
    for (const gk of taken) out.gatewayMatched[gk] = 1;
    out.idemMatched[k] = 1;
    out.matches.push({ idem: i, gateway: taken.length === 1 ? [gateway[taken[0]!]!] : taken.map((gk) => gateway[gk]!), evidence: EXACT_EVIDENCE[rules[k]!] });
  }
  out.duplicates.sort(byGatewayOrder);
  return out;
}

/**
 * The exact matcher as the port: everything no exact rule names stays unmatched. The loop's
 * first step and the baseline of the bench.
 *
 * @example
 * exactMatcher.match([attempt], [recordWithItsKey]).matches[0].evidence // → { rule: 'gateway_key', probability: 1 }
 */
export const exactMatcher: Matcher = {
  name: 'exact-key only',
  match(idemIn, gatewayIn): MatchResult {
    const idem = [...idemIn].sort(byIdemOrder);
    const gateway = [...gatewayIn].sort(byGatewayOrder);
    const phase = exactPhase(idem, gateway);
    return {
      matches: phase.matches,
      review: [],
      unmatchedGateway: gateway.filter((_, gk) => phase.gatewayMatched[gk] !== 1),
      unmatchedIdem: idem.filter((_, k) => phase.idemMatched[k] === 0),
    };
  },
};
