import { isInFlight } from '../payments/states.js';
import type { OnProgress } from '../ports/progress.js';
import { type GatewayLogEntry, gatewayLogDifferences } from './gatewayLog.js';
import { expectedBalances } from './ledger.js';
import type { LedgerStore } from './store.js';

export type { GatewayLogEntry } from './gatewayLog.js';

export interface VerifyReport {
  /** One readable line per difference found; empty when everything agrees. */
  differences: string[];
  /** Payments still in flight (processing, capturing, voiding, refunding). */
  inFlight: string[];
  checked: { entries: number; payments: number; gatewayOperations: number | null };
}

/**
 * Checks the whole ledger (docs/payments.md "Ledger"; invariants I1 and I4 in docs/testing.md),
 * reading the books through the storage port: every entry balances, the books balance per
 * currency, each payment's balances match its state, and — given the gateways' logs — each
 * payment's money matches what the gateways executed, by the one gateway-log check in
 * `./gatewayLog.ts`.
 */
export async function verifyLedger(store: Pick<LedgerStore, 'summarizeBooks'>, gatewayLogs: GatewayLogEntry[] | null, onProgress?: OnProgress): Promise<VerifyReport> {
  const differences: string[] = [];

  onProgress?.({ phase: 'summarizing the books', done: 0, total: null });
  const books = await store.summarizeBooks();
  for (const r of books.unbalancedEntries) differences.push(`entry ${r.event} of ${r.paymentId} does not balance (sum ${r.total})`);
  for (const r of books.currencyTotals) if (r.total !== 0) differences.push(`the books do not balance in ${r.currency} (sum ${r.total})`);
  const { payments, entries } = books;
  const inFlight: string[] = [];
  for (const [i, p] of payments.entries()) {
    if (i % 1_000 === 0) onProgress?.({ phase: 'checking payments', done: i, total: payments.length });
    if (isInFlight(p.status)) inFlight.push(p.id);
    const want = expectedBalances(p);
    if (p.holds !== want.gateway_holds) differences.push(`${p.id} (${p.status}): gateway_holds is ${p.holds}, its state says ${want.gateway_holds}`);
    if (p.receivable !== want.gateway_receivable) {
      differences.push(`${p.id} (${p.status}): gateway_receivable is ${p.receivable}, its state says ${want.gateway_receivable}`);
    }
    if (p.amount_captured > p.amount_authorized) differences.push(`${p.id}: captured ${p.amount_captured} > authorized ${p.amount_authorized}`);
    if (p.amount_refunded > p.amount_captured) differences.push(`${p.id}: refunded ${p.amount_refunded} > captured ${p.amount_captured}`);
  }

  onProgress?.({ phase: 'checking payments', done: payments.length, total: payments.length });
  if (gatewayLogs !== null) differences.push(...gatewayLogDifferences(gatewayLogs, payments).map((d) => d.detail));

  return {
    differences,
    inFlight,
    checked: { entries, payments: payments.length, gatewayOperations: gatewayLogs?.length ?? null },
  };
}

/**
 * Reads a gateway's whole transaction log over its HTTP API (`GET /v1/transactions`), page by
 * page; `onProgress` hears the entries read so far after each page.
 */
export async function fetchGatewayLog(baseUrl: string, onProgress?: OnProgress): Promise<GatewayLogEntry[]> {
  const base = `${baseUrl.replace(/\/+$/, '')}/v1/transactions`;
  const out: GatewayLogEntry[] = [];
  let query = 'since=1970-01-01T00:00:00.000Z&limit=10000';
  for (;;) {
    const res = await fetch(`${base}?${query}`);
    if (!res.ok) throw new Error(`GET ${base} answered ${res.status}`);
    const body = (await res.json()) as { data: GatewayLogEntry[]; next_cursor?: string; has_more?: boolean };
    out.push(...body.data);
    onProgress?.({ phase: `reading ${baseUrl}'s log`, done: out.length, total: null });
    if (body.has_more !== true || body.next_cursor === undefined) return out;
    query = `cursor=${encodeURIComponent(body.next_cursor)}&limit=10000`;
  }
}
