/**
 * What each gateway record means and what to do about it (docs/reconciliation.md,
 * "Discrepancy classes"), pure: from the records, Idem's payments and attempts and a matcher,
 * one verdict per record. The reconciler (./reconciler.ts) writes the verdicts.
 *
 *   gateway records ─┐                     ┌─ consistent / no_effect / own_remediation (settle)
 *   payments ────────┼─► matcher ─► rules ─┼─ wait (in flight: the pipeline may still move)
 *   attempts ────────┘                     ├─ void (orphaned / duplicate authorization)
 *                                          ├─ adopt (state and ledger follow the money)
 *                                          └─ case (support / settlement)
 *
 * The rule no verdict may break: an authorization that a payment owns (its
 * `authorization_id`) or that Idem's own succeeded attempt obtained is never voided.
 */
import type { AttemptRow, PaymentRow } from '../payments/rows.js';
import { isInFlight } from '../payments/states.js';
import { REMEDIATION_KEY_PREFIX, type CaseClass, type RemediationReason } from './cases.js';
import type { GatewayRecord, IdemRecord, Matcher, MatchEvidence } from './records.js';

/** What classification reads of a payment. */
export type PaymentFacts = Pick<
  PaymentRow,
  'id' | 'merchant_id' | 'status' | 'currency' | 'amount' | 'authorization_id' | 'amount_authorized' | 'amount_captured' | 'gateway'
>;

/** What classification reads of an attempt. */
export type AttemptFacts = Pick<AttemptRow, 'id' | 'payment_id' | 'operation' | 'gateway' | 'gateway_key' | 'amount' | 'status' | 'gateway_reference' | 'created_at'>;

export type Verdict =
  /** The record is an operation Idem asked for and recorded as the gateway did. */
  | { kind: 'consistent'; evidence: MatchEvidence; attemptId: string }
  /** A declined record: no money moved, nothing to do. */
  | { kind: 'no_effect' }
  /** A record of an authorization a payment owns, under a key that is not Idem's (an export, a settlement file): nothing to do. */
  | { kind: 'known'; why: string }
  /** The void of one of reconciliation's own remediations. */
  | { kind: 'own_remediation' }
  /** Idem's side may still move (a payment in flight); looked at again next pass. */
  | { kind: 'wait'; why: string }
  | { kind: 'void'; reason: RemediationReason; paymentId: string | null; merchantId: string | null; authorizationId: string; why: string }
  | {
      kind: 'adopt';
      operation: 'authorize' | 'capture';
      paymentId: string;
      merchantId: string;
      /** Idem's attempt for it (a matched one), or null when Idem never asked for it. */
      attemptId: string | null;
      /** Idem never asked for it: a case for support is opened beside the adoption. */
      unrequested: boolean;
      why: string;
    }
  | {
      kind: 'case';
      class: CaseClass;
      paymentId: string | null;
      merchantId: string | null;
      attemptId: string | null;
      why: string;
      /** `match_review`: Idem's candidates for the record, each with its evidence. */
      candidates?: ReviewCandidate[];
    };

/** One of Idem's operations a gateway record in review might be. */
export interface ReviewCandidate {
  attemptId: string;
  paymentId: string;
  merchantId: string;
  evidence: MatchEvidence;
}

export interface Classified {
  record: GatewayRecord;
  verdict: Verdict;
  /** Idem's operation (attempt) the record was matched to, when it was, and why. */
  match?: { attemptId: string; evidence: MatchEvidence };
}

/** Idem's attempts as the matcher's records. */
export function idemRecords(payments: readonly PaymentFacts[], attempts: readonly AttemptFacts[]): IdemRecord[] {
  const byId = new Map(payments.map((p) => [p.id, p]));
  const out: IdemRecord[] = [];
  for (const a of attempts) {
    const p = byId.get(a.payment_id);
    if (!p) continue;
    // An authorize attempt obtained the payment's authorization only if it succeeded; every
    // other operation acts on it.
    const authorizationId = a.operation === 'authorize' ? (a.status === 'succeeded' ? p.authorization_id : null) : p.authorization_id;
    out.push({
      id: a.id,
      paymentId: p.id,
      merchantId: p.merchant_id,
      gateway: a.gateway,
      operation: a.operation,
      gatewayKey: a.gateway_key,
      amount: a.amount,
      currency: p.currency,
      at: a.created_at.getTime(),
      status: a.status,
      ...(a.gateway_reference !== null ? { transactionId: a.gateway_reference } : {}),
      ...(authorizationId !== null ? { authorizationId } : {}),
    });
  }
  return out;
}

/**
 * Classifies every record. `payments` and `attempts` must hold every payment a record names
 * (by reference or authorization) or whose attempt carries a record's key, with all their
 * attempts (`ReconciliationStore.reconciliationFacts`).
 *
 * @example
 * classify([orphanAuthorization], [], [], exactMatcher)
 * // → [{ record, verdict: { kind: 'void', reason: 'orphaned_authorization', paymentId: null, … } }]
 */
export function classify(
  records: readonly GatewayRecord[],
  payments: readonly PaymentFacts[],
  attempts: readonly AttemptFacts[],
  matcher: Matcher,
  /**
   * `gateway authorization` (NUL-separated) of the authorizations reconciliation has a void
   * remediation for: a keyless void record of one is that remediation seen without its key (a
   * settlement line), never an operation made elsewhere.
   */
  remediated: ReadonlySet<string> = new Set(),
): Classified[] {
  const isOwn = (r: GatewayRecord) =>
    isOwnRemediation(r) || (r.operation === 'void' && r.gatewayKey === undefined && r.authorizationId !== undefined && remediated.has(`${r.gateway}\u0000${r.authorizationId}`));
  const byId = new Map(payments.map((p) => [p.id, p]));
  const byAuthorization = new Map<string, PaymentFacts>();
  for (const p of payments) if (p.authorization_id !== null) byAuthorization.set(`${p.gateway}\u0000${p.authorization_id}`, p);
  const attemptsById = new Map(attempts.map((a) => [a.id, a]));
  const ours = records.filter((r) => r.status === 'succeeded' && !isOwn(r));
  const result = matcher.match(idemRecords(payments, attempts), ours);
  const matchOf = new Map(result.matches.flatMap((m) => m.gateway.map((g) => [g, m] as const)));
  // The same operation in two of the gateway's reports (Adyen's notification and its settlement
  // report line): a record whose id is `<gateway's operation id>:…` with the operation id, kind,
  // key and amount of a matched record is that record's twin, not a second execution.
  const twinKey = (g: GatewayRecord) => (g.id.includes(':') ? `${g.gateway}\u0000${g.id.slice(0, g.id.indexOf(':'))}\u0000${g.operation}\u0000${g.gatewayKey}\u0000${g.amount}\u0000${g.currency}` : null);
  const twinOf = new Map(result.matches.flatMap((m) => m.gateway.map((g) => [twinKey(g), m] as const)).filter(([k]) => k !== null));
  // A matcher's "too close to call" is never guessed at, least of all voided: a person decides.
  const reviewOf = new Map(result.review.map((r) => [r.gateway, r.candidates] as const));
  // Authorizations a payment owns, and those Idem's own succeeded attempts obtained.
  const owned = new Set(byAuthorization.keys());
  for (const m of result.matches) {
    if (m.idem.operation !== 'authorize' || attemptsById.get(m.idem.id)?.status !== 'succeeded') continue;
    for (const g of m.gateway) if (g.authorizationId !== undefined) owned.add(`${g.gateway}\u0000${g.authorizationId}`);
  }

  return records.map((record) => {
    if (isOwn(record)) return { record, verdict: { kind: 'own_remediation' } };
    if (record.status !== 'succeeded') return { record, verdict: { kind: 'no_effect' } };
    const review = reviewOf.get(record);
    if (review !== undefined) return { record, verdict: reviewCase(record, review, `the ${matcher.name} matcher could not tell which of Idem's operations it is`) };
    const twin = matchOf.has(record) || twinKey(record) === null ? undefined : twinOf.get(twinKey(record));
    if (twin !== undefined) return { record, verdict: twinVerdict(record, twin.idem, byId.get(twin.idem.paymentId)!, attemptsById.get(twin.idem.id)!), match: { attemptId: twin.idem.id, evidence: TWIN_EVIDENCE } };
    const m = matchOf.get(record);
    let verdict = m
      ? matchedVerdict(record, m.idem, m.gateway, m.evidence, byId.get(m.idem.paymentId)!, attemptsById.get(m.idem.id)!)
      : unmatchedVerdict(record, byId, byAuthorization);
    // A record that names nothing (no key, no reference: a settlement line) and matched nothing
    // is no proof that nothing of Idem's made it: the attempt that did may be pending, its
    // instance crashed between the gateway's answer and recording it. A person decides, as for
    // a match too close to call; a record that names a reference Idem never made is orphaned.
    if (m === undefined && verdict.kind === 'void' && record.gatewayKey === undefined && record.reference === undefined) {
      verdict = reviewCase(record, [], `it names neither a key nor a reference, and nothing of Idem's matched it: ${verdict.why}`);
    }
    // A scored match is likely, not certain: it settles what agrees and raises what does not,
    // but money moves (a void, an adoption) only on an exact key.
    if (m !== undefined && m.evidence.rule === 'scored' && (verdict.kind === 'void' || verdict.kind === 'adopt')) {
      verdict = reviewCase(record, [{ idem: m.idem, evidence: m.evidence }], `matched by score to ${m.idem.id}, whose state it would change (${verdict.kind}): ${verdict.why}`);
    }
    // The one rule no verdict may break (docs/reconciliation.md).
    if (verdict.kind === 'void' && owned.has(`${record.gateway}\u0000${verdict.authorizationId}`)) {
      return { record, verdict: { kind: 'wait', why: `authorization ${verdict.authorizationId} belongs to a payment: never voided` } };
    }
    return m ? { record, verdict, match: { attemptId: m.idem.id, evidence: m.evidence } } : { record, verdict };
  });
}

/**
 * A `match_review` case: the record and Idem's candidates with their evidence. Owned by the
 * merchant when every candidate is that merchant's (and by the payment when there is one
 * candidate), else the operator's.
 */
function reviewCase(record: GatewayRecord, candidates: ReadonlyArray<{ idem: IdemRecord; evidence: MatchEvidence }>, why: string): Verdict {
  const merchants = new Set(candidates.map((c) => c.idem.merchantId));
  const merchantId = merchants.size === 1 ? [...merchants][0]! : null;
  const paymentId = candidates.length === 1 ? candidates[0]!.idem.paymentId : null;
  const best = candidates[0];
  const lead = best === undefined ? '' : `; best candidate ${best.idem.id}, p = ${best.evidence.probability.toFixed(4)}${best.evidence.margin !== undefined ? `, lead ${best.evidence.margin.toFixed(2)}` : ''}`;
  return {
    kind: 'case',
    class: 'match_review',
    paymentId,
    merchantId,
    attemptId: null,
    why: `${record.operation} ${record.id} of ${record.amount} ${record.currency}: ${why} (${candidates.length} candidate(s)${lead})`,
    candidates: candidates.map((c) => ({ attemptId: c.idem.id, paymentId: c.idem.paymentId, merchantId: c.idem.merchantId, evidence: c.evidence })),
  };
}

const TWIN_EVIDENCE: MatchEvidence = Object.freeze({ rule: 'transaction_id', probability: 1 });

/**
 * A record whose twin (the same operation as another of the gateway's reports has it) was
 * matched: it agrees with what the twin settles, and never moves money itself (the twin does).
 */
function twinVerdict(r: GatewayRecord, idem: IdemRecord, p: PaymentFacts, a: AttemptFacts): Verdict {
  const verdict = matchedVerdict(r, idem, [r], TWIN_EVIDENCE, p, a);
  return verdict.kind === 'void' || verdict.kind === 'adopt' ? { kind: 'wait', why: `the same operation as another record of ${r.transactionId}, which decides` } : verdict;
}

/** A record of a void reconciliation itself sent (its derived gateway key). */
export function isOwnRemediation(r: GatewayRecord): boolean {
  return r.operation === 'void' && r.gatewayKey !== undefined && r.gatewayKey.startsWith(REMEDIATION_KEY_PREFIX);
}

function matchedVerdict(r: GatewayRecord, idem: IdemRecord, parts: readonly GatewayRecord[], evidence: MatchEvidence, p: PaymentFacts, a: AttemptFacts): Verdict {
  const on = { paymentId: p.id, merchantId: p.merchant_id, attemptId: a.id };
  if (a.status === 'succeeded') {
    if (r.currency !== p.currency) return { kind: 'case', class: 'currency_mismatch', ...on, why: `gateway executed ${r.operation} in ${r.currency}, Idem in ${p.currency}` };
    // A void releases the whole authorization whatever amount its request carried; the parts
    // of a split capture or refund add up to Idem's amount.
    const amount = parts.length > 1 ? parts.reduce((sum, g) => sum + g.amount, 0) : r.amount;
    if (r.operation !== 'void' && amount !== idem.amount) {
      return { kind: 'case', class: 'amount_mismatch', ...on, why: `gateway executed ${r.operation} for ${amount}, Idem asked for ${idem.amount}` };
    }
    return { kind: 'consistent', evidence, attemptId: a.id };
  }
  if (a.status === 'pending' || a.status === 'unknown') return { kind: 'wait', why: `attempt ${a.id} is still ${a.status}: the pipeline resolves it` };
  // The gateway executed an attempt Idem recorded as declined or not processed.
  if (r.operation === 'authorize') {
    if (p.authorization_id !== null && p.authorization_id !== r.authorizationId) {
      return { kind: 'void', reason: 'duplicate_authorization', paymentId: p.id, merchantId: p.merchant_id, authorizationId: r.authorizationId!, why: `attempt ${a.id} (${a.status} in Idem) authorized ${r.authorizationId}; the payment owns ${p.authorization_id}` };
    }
    if (isInFlight(p.status)) return { kind: 'wait', why: `payment ${p.id} is ${p.status}` };
    // The merchant was answered "declined", final: an authorization one of its attempts got
    // anyway (a request the network delivered twice after its answer said "not processed")
    // holds the customer's money for a payment that will never take it.
    if (p.status === 'declined') {
      return { kind: 'void', reason: 'duplicate_authorization', paymentId: p.id, merchantId: p.merchant_id, authorizationId: r.authorizationId!, why: `attempt ${a.id} (${a.status} in Idem) authorized ${r.authorizationId}; the payment was declined` };
    }
    if (p.status === 'failed' && r.currency === p.currency && r.amount === a.amount) {
      return { kind: 'adopt', operation: 'authorize', paymentId: p.id, merchantId: p.merchant_id, attemptId: a.id, unrequested: false, why: `attempt ${a.id} was ${a.status} in Idem; the gateway authorized ${r.authorizationId}` };
    }
    return { kind: 'case', class: 'contradiction', ...on, why: `gateway authorized ${r.authorizationId} for attempt ${a.id}, which Idem recorded ${a.status}; the payment is ${p.status}` };
  }
  if (isInFlight(p.status)) return { kind: 'wait', why: `payment ${p.id} is ${p.status}` };
  if (r.operation === 'capture' && capturable(r, p)) {
    return { kind: 'adopt', operation: 'capture', paymentId: p.id, merchantId: p.merchant_id, attemptId: a.id, unrequested: false, why: `attempt ${a.id} was ${a.status} in Idem; the gateway captured ${r.amount}` };
  }
  return { kind: 'case', class: 'contradiction', ...on, why: `gateway executed ${r.operation} ${r.id} for attempt ${a.id}, which Idem recorded ${a.status}; the payment is ${p.status}` };
}

function unmatchedVerdict(r: GatewayRecord, byId: ReadonlyMap<string, PaymentFacts>, byAuthorization: ReadonlyMap<string, PaymentFacts>): Verdict {
  const owner = r.authorizationId === undefined ? undefined : byAuthorization.get(`${r.gateway}\u0000${r.authorizationId}`);
  if (r.operation === 'authorize') {
    if (owner !== undefined) return { kind: 'known', why: `authorization ${r.authorizationId} belongs to payment ${owner.id}` };
    const p = r.reference === undefined ? undefined : byId.get(r.reference);
    if (p !== undefined) {
      return { kind: 'void', reason: 'duplicate_authorization', paymentId: p.id, merchantId: p.merchant_id, authorizationId: r.authorizationId!, why: `authorization ${r.authorizationId} for payment ${p.id} under a key Idem never sent` };
    }
    return { kind: 'void', reason: 'orphaned_authorization', paymentId: null, merchantId: null, authorizationId: r.authorizationId!, why: `authorization ${r.authorizationId} that no payment owns` };
  }
  const unrequested = (paymentId: string | null, merchantId: string | null, why: string): Verdict => ({ kind: 'case', class: 'unrequested_operation', paymentId, merchantId, attemptId: null, why });
  if (owner === undefined) {
    // The payment it names may not have recorded its authorization yet (its answer is still on
    // the way): while it is in flight, wait for it rather than call the authorization nobody's.
    const named = r.reference === undefined ? undefined : byId.get(r.reference);
    if (named !== undefined && isInFlight(named.status)) return { kind: 'wait', why: `payment ${named.id} is ${named.status}` };
    return unrequested(named?.id ?? null, named?.merchant_id ?? null, `${r.operation} ${r.id} on authorization ${r.authorizationId ?? '(none)'}, which no payment owns`);
  }
  if (isInFlight(owner.status)) return { kind: 'wait', why: `payment ${owner.id} is ${owner.status}` };
  if (r.operation === 'capture' && capturable(r, owner)) {
    return { kind: 'adopt', operation: 'capture', paymentId: owner.id, merchantId: owner.merchant_id, attemptId: null, unrequested: true, why: `capture ${r.id} of ${r.amount} made outside Idem` };
  }
  return unrequested(owner.id, owner.merchant_id, `${r.operation} ${r.id} of ${r.amount} made outside Idem; payment ${owner.id} is ${owner.status}`);
}

/** Whether the payment's state can take the capture as the gateway executed it. */
function capturable(r: GatewayRecord, p: PaymentFacts): boolean {
  return p.status === 'authorized' && r.currency === p.currency && r.amount > 0 && r.amount <= p.amount_authorized - p.amount_captured && r.authorizationId === p.authorization_id;
}
