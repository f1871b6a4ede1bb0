import type { SimulatorLogEntry } from '../gateways/simulator/processor.js';
import { gatewayLogDifferences } from '../ledger/gatewayLog.js';
import { expectedBalances, type JournalEntry } from '../ledger/ledger.js';
import { isInFlight } from '../payments/states.js';
import { REMEDIATION_KEY_PREFIX, remediationKey, type CaseRow, type RemediationRow } from '../reconciliation/cases.js';
import type { PaymentView } from '../payments/view.js';
import type { AnswerLog } from './clients.js';
import { settlementLineId } from './settlement.js';
import { SIM_EPOCH } from './world.js';

/** One broken invariant: which (I1–I5) and what was seen. */
export interface Violation {
  invariant: 'I1' | 'I2' | 'I3' | 'I4' | 'I5' | 'I7';
  detail: string;
}

/** Everything the checks read once a run has ended. */
export interface RunFacts {
  /** Every payment in the store, by merchant. */
  payments: Map<string, PaymentView[]>;
  /** The processors' own logs, by gateway name. */
  gatewayLogs: Map<string, SimulatorLogEntry[]>;
  answers: AnswerLog;
  /** Each payment's committed ledger entries, read back from the store. */
  journals: Map<string, JournalEntry[]>;
  /**
   * Gateway keys whose request the network delivered twice (outside the gateway contract: a
   * copy may execute while Idem hears "not processed"). Their extra authorizations are
   * reconciliation's to remediate (I7); any other second authorization under Idem's own keys
   * is Idem's doing (I1), remediated or not.
   */
  duplicatedKeys?: ReadonlySet<string>;
  /** What reconciliation left once its bound has passed; absent: I7 is not checked. */
  reconciliation?: {
    /** `gateway authorization` of every authorization a payment owns. */
    owned: Set<string>;
    remediations: RemediationRow[];
    cases: CaseRow[];
  };
  /**
   * `gateway id` of every log entry the processor lists without its key, as a settlement file
   * does: the only records the scored matcher sees, so the only ones a `match_review` case may
   * stand for (I7).
   */
  keylessEntries?: ReadonlySet<string>;
}

/**
 * Checks the invariants of docs/testing.md ("Deterministic simulation") against a finished run:
 * - I1 no gateway key executed twice; at most one successful authorization per payment across
 *   gateways; gateway-captured ≤ amount; at most one payment per (merchant, idempotency key);
 * - I2 every final answer (2xx but 202, or 402) for one (merchant, key) is byte-identical, and
 *   the state it reports was committed when it was given (a stored answer for a change that
 *   never committed is replayed forever, whatever the payment does next);
 * - I3 no payment is still in flight (the caller runs the world to the recovery bound first);
 * - I4 per payment, the committed ledger entries are unique and give the balances its state
 *   implies, and the gateways' logs agree with its amounts;
 * - I5 no answer to one merchant names another merchant's payment;
 * - I7 every authorization at a gateway is a payment's own, or was remediated exactly once (see
 *   {@link reconciliationDifferences}); no remediation reached a payment's own authorization;
 *   every remediation ran to an end, once.
 */
export function checkInvariants(f: RunFacts): Violation[] {
  const out: Violation[] = [];
  const v = (invariant: Violation['invariant'], detail: string) => out.push({ invariant, detail });
  const owner = new Map<string, string>();
  const all: PaymentView[] = [];
  for (const [merchantId, list] of f.payments) {
    const byKey = new Map<string, number>();
    for (const p of list) {
      owner.set(p.id, merchantId);
      all.push(p);
      byKey.set(p.idempotency_key, (byKey.get(p.idempotency_key) ?? 0) + 1);
    }
    for (const [key, n] of byKey) if (n > 1) v('I1', `${merchantId} has ${n} payments for idempotency key ${key}`);
  }

  // I1 and I4 from the processors' logs, held to the payments (src/ledger/gatewayLog.ts). An
  // authorization no payment owns that reconciliation handed to a person (I7) is no payment's
  // either: left out, as a voided one is there.
  const handedOver = f.reconciliation ? raisedForReview(f.gatewayLogs, f.reconciliation, f.keylessEntries ?? new Set()) : new Set<string>();
  const logs = new Map([...f.gatewayLogs].map(([g, log]) => [g, log.filter((e) => !handedOver.has(`${g} ${e.id}`))] as const));
  for (const d of gatewayLogDifferences(logs, all)) v(d.invariant, d.detail);
  // I1 under Idem's own keys, whatever reconciliation repaired since: a remediation hides the
  // money, not the bug that made a second authorization.
  const ownAuthorizations = new Map<string, number>();
  for (const log of f.gatewayLogs.values()) {
    for (const e of log) {
      if (e.operation !== 'authorize' || e.status !== 'succeeded' || !e.idempotency_key.startsWith(`${e.reference}.authorize.`)) continue;
      if (f.duplicatedKeys?.has(e.idempotency_key)) continue;
      ownAuthorizations.set(e.reference, (ownAuthorizations.get(e.reference) ?? 0) + 1);
    }
  }
  for (const [id, n] of ownAuthorizations) if (n > 1) v('I1', `${id}: ${n} successful authorizations under Idem's own gateway keys`);
  for (const p of all) {
    // I3
    if (isInFlight(p.status)) v('I3', `${p.id} still ${p.status} after the recovery bound`);

    // I4: the committed journal against the state.
    const names = new Set<string>();
    let holds = 0;
    let receivable = 0;
    for (const e of f.journals.get(p.id) ?? []) {
      if (names.has(e.event)) v('I4', `${p.id}: ledger entry ${e.event} committed twice`);
      names.add(e.event);
      if (e.currency !== p.currency) v('I4', `${p.id}: entry ${e.event} in ${e.currency}, payment in ${p.currency}`);
      if (e.postings.reduce((s, x) => s + x.amount, 0) !== 0) v('I4', `${p.id}: entry ${e.event} does not balance`);
      for (const x of e.postings) {
        if (x.account === 'gateway_holds') holds += x.amount;
        if (x.account === 'gateway_receivable') receivable += x.amount;
      }
    }
    const want = expectedBalances(p);
    if (holds !== want.gateway_holds) v('I4', `${p.id} (${p.status}): gateway_holds ${holds}, state says ${want.gateway_holds}`);
    if (receivable !== want.gateway_receivable) v('I4', `${p.id} (${p.status}): gateway_receivable ${receivable}, state says ${want.gateway_receivable}`);
  }

  if (f.reconciliation) for (const d of reconciliationDifferences(f.gatewayLogs, f.reconciliation, f.keylessEntries ?? new Set())) v('I7', d);

  // I2 and I5 from the clients' answers.
  for (const [id, answers] of f.answers) {
    const merchantId = id.slice(0, id.indexOf(' '));
    const finals = answers.filter((a) => (a.status >= 200 && a.status < 300 && a.status !== 202) || a.status === 402);
    const first = finals[0];
    for (const a of finals.slice(1)) {
      if (a.status !== first!.status || a.body !== first!.body) {
        v('I2', `${id}: final answers differ: ${first!.status} from ${first!.instance} at ${first!.at - SIM_EPOCH}ms vs ${a.status} from ${a.instance} at ${a.at - SIM_EPOCH}ms`);
        break;
      }
    }
    for (const a of finals) {
      const said = reportedState(a.body);
      if (said && a.committedThen && !a.committedThen.includes(`payment.${said.status}`)) {
        v('I2', `${id}: answered ${a.status} ${said.status} for ${said.id} (${a.instance} at ${a.at - SIM_EPOCH}ms) before that state committed`);
      }
    }
    for (const a of answers) {
      for (const m of a.body.matchAll(/pay_[0-9a-z]{24}/g)) {
        const o = owner.get(m[0]);
        if (o !== undefined && o !== merchantId) v('I5', `${id}: answer ${a.status} names ${m[0]} of ${o}`);
      }
    }
  }
  return out;
}

/**
 * I7 over the processors' own logs once the reconciliation bound has passed (docs/testing.md,
 * "Deterministic simulation"). Every succeeded authorization that no payment owns was handled
 * exactly once, one of:
 * - voided by reconciliation under the key derived from it (`remediationKey`);
 * - its void refused by the gateway, and a `remediation_failed` case opened;
 * - raised as a `match_review` case for its record, which only a record listed without its key
 *   may be: the scored matcher could not tie it to one of Idem's operations with confidence,
 *   and money never moves on a guess (docs/reconciliation.md, "Review rules").
 * An adopted authorization is a payment's own. Neither voided nor raised, raised for review
 * while it carried its key, or both voided and raised: each a violation. Also: no remediation
 * void reached a payment's own authorization, none executed twice, none still pending, and
 * none is itself raised as a case (with its key or without: it is reconciliation's own).
 */
export function reconciliationDifferences(
  gatewayLogs: ReadonlyMap<string, readonly SimulatorLogEntry[]>,
  r: NonNullable<RunFacts['reconciliation']>,
  keyless: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  const caseKeys = new Set(r.cases.map((c) => c.dedupe_key));
  for (const [gateway, log] of gatewayLogs) {
    const voided = new Set(log.filter((e) => e.operation === 'void' && e.status === 'succeeded').map((e) => `${e.idempotency_key} ${e.authorization_id}`));
    const perKey = new Map<string, number>();
    for (const e of log) {
      // A keyless entry's record is its settlement line (./settlement.ts).
      const recordId = keyless.has(`${gateway} ${e.id}`) ? settlementLineId(e.id) : e.id;
      if (e.idempotency_key.startsWith(REMEDIATION_KEY_PREFIX)) {
        perKey.set(e.idempotency_key, (perKey.get(e.idempotency_key) ?? 0) + 1);
        const named = r.cases.find((c) => c.dedupe_key.startsWith(`${gateway}:${recordId}:`));
        if (named) out.push(`${gateway}: remediation ${e.idempotency_key}'s own ${e.operation} ${recordId} was raised as a ${named.class} case: handled twice`);
      }
      if (e.operation === 'void' && e.status === 'succeeded' && e.idempotency_key.startsWith(REMEDIATION_KEY_PREFIX) && r.owned.has(`${gateway} ${e.authorization_id}`)) {
        out.push(`${gateway}: remediation ${e.idempotency_key} voided ${e.authorization_id}, the authorization of payment ${e.reference}`);
      }
      if (e.operation !== 'authorize' || e.status !== 'succeeded' || r.owned.has(`${gateway} ${e.authorization_id}`)) continue;
      const key = remediationKey(gateway, e.authorization_id!);
      const what = `${gateway}: authorization ${e.authorization_id} (key ${e.idempotency_key}, reference ${e.reference}, listed ${keyless.has(`${gateway} ${e.id}`) ? 'without' : 'with'} its key)`;
      const remediated = voided.has(`${key} ${e.authorization_id}`) || caseKeys.has(`${gateway}:${key}:remediation_failed`);
      const raised = caseKeys.has(`${gateway}:${recordId}:match_review`);
      if (raised && !keyless.has(`${gateway} ${e.id}`)) out.push(`${what} went to match_review: a record with its key is matched exactly, never scored`);
      else if (raised && remediated) out.push(`${what} was handled twice: remediated and raised as a match_review case`);
      else if (!raised && !remediated) out.push(`${what} is no payment's and was neither voided, adopted nor raised as a case within the reconciliation bound`);
    }
    for (const [key, n] of perKey) if (n > 1) out.push(`${gateway}: remediation ${key} executed ${n} times`);
  }
  for (const x of r.remediations) if (x.state === 'pending') out.push(`${x.gateway}: remediation ${x.gateway_key} still pending after the reconciliation bound`);
  return out;
}

/**
 * `gateway id` of the succeeded authorizations no payment owns that were listed without their
 * key and raised as a `match_review` case for their record (its settlement line): money a
 * person decides about, which I1 and I4 leave out as they leave out a voided one.
 */
function raisedForReview(gatewayLogs: ReadonlyMap<string, readonly SimulatorLogEntry[]>, r: NonNullable<RunFacts['reconciliation']>, keyless: ReadonlySet<string>): Set<string> {
  const caseKeys = new Set(r.cases.map((c) => c.dedupe_key));
  const out = new Set<string>();
  for (const [gateway, log] of gatewayLogs) {
    for (const e of log) {
      if (e.operation !== 'authorize' || e.status !== 'succeeded' || r.owned.has(`${gateway} ${e.authorization_id}`) || !keyless.has(`${gateway} ${e.id}`)) continue;
      if (caseKeys.has(`${gateway}:${settlementLineId(e.id)}:match_review`)) out.add(`${gateway} ${e.id}`);
    }
  }
  return out;
}

/** The payment and status a final answer reports: a payment body, or a decline's problem. */
export function reportedState(body: string): { id: string; status: string } | null {
  const b = JSON.parse(body) as Record<string, unknown>;
  if (typeof b.id === 'string' && typeof b.status === 'string') return { id: b.id, status: b.status };
  if (typeof b.payment_id === 'string' && typeof b.payment_status === 'string') return { id: b.payment_id, status: b.payment_status };
  return null;
}

/**
 * The part of a trace that explains some violations: every line naming a payment or a
 * (merchant, key) they name, with the process and fault lines (crashes, restarts, stalls,
 * fast-path loss) around them; at most `max` lines, the latest kept.
 */
export function traceFor(trace: string[], violations: Violation[], max = 60): string[] {
  const names = new Set<string>();
  for (const v of violations) {
    for (const m of v.detail.matchAll(/pay_[0-9a-z]{24}/g)) names.add(m[0]);
    const key = /^(mer_\w+) (\S+):/.exec(v.detail);
    if (key) names.add(`${key[1]}/${key[2]} `);
  }
  const marks = /CRASH|START|STALL|FAULTS STOP|fast path/;
  const lines = trace.filter((line) => marks.test(line) || [...names].some((n) => line.includes(n)));
  return lines.slice(-max);
}
