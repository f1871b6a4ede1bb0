/**
 * The gateways' own transaction logs held to Idem's promise (docs/testing.md, invariants I1 and
 * I4), pure: the one check behind `idem ledger verify`, the simulator's invariants, the pipeline
 * crash tests and the demo's proof.
 *
 *   gateway logs ──┐
 *                  ├─► gatewayLogDifferences ─► [{ invariant: 'I1' | 'I4', paymentId, detail }]
 *   Idem's facts ──┘   (per payment: amount, and when known its state and recorded amounts)
 */
import { GATEWAY_OPERATIONS, type GatewayOperation } from '../gateways/port.js';
import { isInFlight } from '../payments/states.js';
import { REMEDIATION_KEY_PREFIX } from '../reconciliation/cases.js';

/** One executed operation in a gateway's own transaction log (the simulator's format). */
export interface GatewayLogEntry {
  id: string;
  idempotency_key: string;
  operation: GatewayOperation;
  amount: number;
  currency: string;
  /** Idem's payment id. */
  reference: string;
  status: 'succeeded' | 'declined';
  /** The authorization created (authorize) or acted on, when the log says. */
  authorization_id?: string | null;
}

/**
 * What Idem knows about one payment. With `amount` alone only the logs are checked against each
 * other (I1); with `status` and the recorded amounts too, the logs are also held to Idem's
 * record once the payment is no longer in flight (I4).
 */
export interface PaymentFacts {
  id: string;
  amount: number;
  status?: string;
  amount_authorized?: number;
  amount_captured?: number;
  amount_refunded?: number;
}

/** One disagreement, with the invariant it breaks and the payment it concerns (if known). */
export interface GatewayLogDifference {
  /** I1: executed more than once, or more than was possible; I4: disagrees with Idem's record. */
  invariant: 'I1' | 'I4';
  paymentId: string | null;
  detail: string;
}

/** Logs as one list, or per gateway name (the name then appears in the differences). */
export type GatewayLogs = readonly GatewayLogEntry[] | ReadonlyMap<string, readonly GatewayLogEntry[]>;

/**
 * Compares the gateways' logs with Idem's payments. I1, from the logs alone: no gateway key
 * executed twice (across all gateways), at most one successful authorization per payment,
 * captured ≤ authorized and ≤ the payment's amount, refunded ≤ captured, never both voided and
 * captured, no operation for a payment Idem does not have. I4, per payment that is not in
 * flight (the gateway may be ahead of Idem until it settles): the gateways authorized, captured
 * and refunded what Idem recorded, and voided exactly when Idem says `voided`.
 *
 * An authorization that reconciliation voided (docs/reconciliation.md: a void under a
 * `recon.void.` key, which only an orphaned or duplicate authorization gets) is not the
 * payment's: it and its void are left out, so a remediated duplicate is no difference.
 *
 * `payments === null`: Idem's side is not at hand; only the checks from the logs alone run, and
 * no reference counts as unknown.
 *
 * @example
 * gatewayLogDifferences([auth, sameKeyAgain], [{ id: 'pay_1', amount: 1000 }])
 * // → [{ invariant: 'I1', paymentId: null, detail: 'gateway key pay_1.authorize.1 executed 2 times' }]
 */
export function gatewayLogDifferences(logs: GatewayLogs, payments: Iterable<PaymentFacts> | null): GatewayLogDifference[] {
  const out: GatewayLogDifference[] = [];
  const i1 = (paymentId: string | null, detail: string) => out.push({ invariant: 'I1', paymentId, detail });
  const i4 = (paymentId: string, detail: string) => out.push({ invariant: 'I4', paymentId, detail });

  const facts = payments === null ? null : new Map([...payments].map((p) => [p.id, p]));
  const executions = new Map<string, number>();
  const succeeded = new Map<string, GatewayLogEntry[]>();
  const unknown = new Set<string>();
  const perGateway = Array.isArray(logs) ? [[null, logs] as const] : [...(logs as ReadonlyMap<string, readonly GatewayLogEntry[]>)];
  const remediated = new Set<string>();
  for (const [gateway, entries] of perGateway) {
    for (const e of entries) {
      // Only a void under the key derived from the very authorization it released: a
      // remediation that reached another authorization is no remediation (docs/reconciliation.md).
      if (
        e.status === 'succeeded' &&
        e.operation === 'void' &&
        typeof e.authorization_id === 'string' &&
        e.idempotency_key.startsWith(REMEDIATION_KEY_PREFIX) &&
        e.idempotency_key.endsWith(`.${e.authorization_id}`)
      ) {
        remediated.add(`${gateway} ${e.authorization_id}`);
      }
    }
  }
  for (const [gateway, entries] of perGateway) {
    for (const e of entries) {
      executions.set(e.idempotency_key, (executions.get(e.idempotency_key) ?? 0) + 1);
      if (e.status !== 'succeeded') continue;
      if (typeof e.authorization_id === 'string' && remediated.has(`${gateway} ${e.authorization_id}`) && (e.operation === 'authorize' || e.operation === 'void')) continue;
      if (facts !== null && !facts.has(e.reference) && !unknown.has(`${gateway} ${e.reference}`)) {
        unknown.add(`${gateway} ${e.reference}`);
        i1(e.reference, `${gateway ?? 'a gateway'} executed ${e.operation} for ${e.reference}, which Idem does not know`);
      }
      let list = succeeded.get(e.reference);
      if (!list) succeeded.set(e.reference, (list = []));
      list.push(e);
    }
  }
  for (const [key, n] of executions) if (n > 1) i1(null, `gateway key ${key} executed ${n} times`);

  for (const [id, entries] of succeeded) {
    const total = totals(entries);
    const p = facts?.get(id);
    if (total.authorize.count > 1) i1(id, `${id}: ${total.authorize.count} successful authorizations across the gateways`);
    if (total.capture.sum > total.authorize.sum) i1(id, `${id}: gateways captured ${total.capture.sum} > authorized ${total.authorize.sum}`);
    if (p !== undefined && total.capture.sum > p.amount) i1(id, `${id}: gateways captured ${total.capture.sum} > amount ${p.amount}`);
    if (total.refund.sum > total.capture.sum) i1(id, `${id}: gateways refunded ${total.refund.sum} > captured ${total.capture.sum}`);
    if (total.void.count > 0 && total.capture.sum > 0) i1(id, `${id}: both voided and captured at the gateways`);
  }

  for (const p of facts?.values() ?? []) {
    if (p.status === undefined || isInFlight(p.status)) continue;
    const total = totals(succeeded.get(p.id) ?? []);
    const recorded = (what: string, gateways: number, idem: number | undefined) => {
      if (idem !== undefined && gateways !== idem) i4(p.id, `${p.id}: gateways ${what} ${gateways}, Idem recorded ${idem}`);
    };
    recorded('authorized', total.authorize.sum, p.amount_authorized);
    recorded('captured', total.capture.sum, p.amount_captured);
    recorded('refunded', total.refund.sum, p.amount_refunded);
    if (total.void.count > 0 !== (p.status === 'voided')) i4(p.id, `${p.id}: ${total.void.count} voids at the gateways, Idem says ${p.status}`);
  }
  return out;
}

/** Successful operations of one payment, counted and summed per operation. */
function totals(entries: readonly GatewayLogEntry[]): Record<GatewayOperation, { count: number; sum: number }> {
  const t = Object.fromEntries(GATEWAY_OPERATIONS.map((op) => [op, { count: 0, sum: 0 }])) as Record<GatewayOperation, { count: number; sum: number }>;
  for (const e of entries) {
    t[e.operation].count++;
    t[e.operation].sum += e.amount;
  }
  return t;
}
