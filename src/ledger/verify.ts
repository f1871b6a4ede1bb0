import { isInFlight } from '../payments/states.js';
import type { LedgerStore } from '../store/port.js';
import { expectedBalances } from './ledger.js';

/** One executed operation in a gateway's own transaction log (the simulator's format). */
export interface GatewayLogEntry {
  id: string;
  idempotency_key: string;
  operation: 'authorize' | 'capture' | 'void' | 'refund';
  amount: number;
  currency: string;
  reference: string;
  status: 'succeeded' | 'declined';
}

export interface VerifyReport {
  /** One readable line per difference found; empty when everything agrees. */
  differences: string[];
  /** Payments still in flight (processing, capturing, voiding, refunding). */
  inFlight: string[];
  checked: { entries: number; payments: number; gatewayOperations: number | null };
}

/**
 * Checks the whole ledger (docs/architecture.md; invariants I1 and I4 in docs/testing.md),
 * reading the books through the storage port: every entry balances, the
 * books balance per currency, each payment's balances match its state, and — given the
 * gateways' logs — each payment's money matches what the gateways executed: at most one
 * successful authorization, captures, voids and refunds as recorded, no operation Idem does
 * not know about, and no gateway key executed twice.
 */
export async function verifyLedger(store: Pick<LedgerStore, 'summarizeBooks'>, gatewayLogs: GatewayLogEntry[] | null): Promise<VerifyReport> {
  const differences: string[] = [];

  const books = await store.summarizeBooks();
  for (const r of books.unbalancedEntries) differences.push(`entry ${r.event} of ${r.paymentId} does not balance (sum ${r.total})`);
  for (const r of books.currencyTotals) if (r.total !== 0) differences.push(`the books do not balance in ${r.currency} (sum ${r.total})`);
  const { payments, entries } = books;
  const inFlight: string[] = [];
  for (const p of payments) {
    if (isInFlight(p.status)) inFlight.push(p.id);
    const want = expectedBalances(p);
    if (p.holds !== want.gateway_holds) differences.push(`${p.id} (${p.status}): gateway_holds is ${p.holds}, its state says ${want.gateway_holds}`);
    if (p.receivable !== want.gateway_receivable) {
      differences.push(`${p.id} (${p.status}): gateway_receivable is ${p.receivable}, its state says ${want.gateway_receivable}`);
    }
    if (p.amount_captured > p.amount_authorized) differences.push(`${p.id}: captured ${p.amount_captured} > authorized ${p.amount_authorized}`);
    if (p.amount_refunded > p.amount_captured) differences.push(`${p.id}: refunded ${p.amount_refunded} > captured ${p.amount_captured}`);
  }

  if (gatewayLogs !== null) {
    const keys = new Map<string, number>();
    const byPayment = new Map<string, GatewayLogEntry[]>();
    for (const e of gatewayLogs) {
      keys.set(e.idempotency_key, (keys.get(e.idempotency_key) ?? 0) + 1);
      if (e.status !== 'succeeded') continue;
      let list = byPayment.get(e.reference);
      if (!list) byPayment.set(e.reference, (list = []));
      list.push(e);
    }
    for (const [key, n] of keys) if (n > 1) differences.push(`gateway key ${key} was executed ${n} times`);
    const known = new Set(payments.map((p) => p.id));
    for (const ref of byPayment.keys()) if (!known.has(ref)) differences.push(`a gateway executed operations for ${ref}, which Idem does not know`);
    for (const p of payments) {
      if (isInFlight(p.status)) continue; // the gateway may be ahead of us until it settles
      const ops = byPayment.get(p.id) ?? [];
      const sum = (op: GatewayLogEntry['operation']) => ops.filter((e) => e.operation === op).reduce((s, e) => s + e.amount, 0);
      const count = (op: GatewayLogEntry['operation']) => ops.filter((e) => e.operation === op).length;
      if (count('authorize') > 1) differences.push(`${p.id}: ${count('authorize')} successful authorizations at the gateways`);
      if (sum('authorize') !== p.amount_authorized) differences.push(`${p.id}: gateways authorized ${sum('authorize')}, Idem recorded ${p.amount_authorized}`);
      if (sum('capture') !== p.amount_captured) differences.push(`${p.id}: gateways captured ${sum('capture')}, Idem recorded ${p.amount_captured}`);
      if (sum('capture') > p.amount) differences.push(`${p.id}: gateways captured ${sum('capture')}, more than the amount ${p.amount}`);
      if (sum('refund') !== p.amount_refunded) differences.push(`${p.id}: gateways refunded ${sum('refund')}, Idem recorded ${p.amount_refunded}`);
      if ((count('void') > 0) !== (p.status === 'voided')) differences.push(`${p.id}: ${count('void')} voids at the gateways, Idem says ${p.status}`);
    }
  }

  return {
    differences,
    inFlight,
    checked: { entries, payments: payments.length, gatewayOperations: gatewayLogs?.length ?? null },
  };
}

/** Reads a gateway's whole transaction log over its HTTP API (`GET /v1/transactions`). */
export async function fetchGatewayLog(baseUrl: string): Promise<GatewayLogEntry[]> {
  const res = await fetch(`${baseUrl.replace(/\/+$/, '')}/v1/transactions?since=1970-01-01T00:00:00.000Z`);
  if (!res.ok) throw new Error(`GET ${baseUrl}/v1/transactions answered ${res.status}`);
  const body = (await res.json()) as { data: GatewayLogEntry[] };
  return body.data;
}
