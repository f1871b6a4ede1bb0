import type { Queryable } from '../db/database.js';
import { isInFlight, type PaymentStatus } from '../payments/states.js';
import { type GatewayLogEntry, gatewayLogDifferences } from './gatewayLog.js';
import { expectedBalances } from './ledger.js';

export type { GatewayLogEntry } from './gatewayLog.js';

export interface VerifyReport {
  /** One readable line per difference found; empty when everything agrees. */
  differences: string[];
  /** Payments still in flight (processing, capturing, voiding, refunding). */
  inFlight: string[];
  checked: { entries: number; payments: number; gatewayOperations: number | null };
}

/**
 * Checks the whole ledger (docs/payments.md "Ledger"; invariants I1 and I4 in docs/testing.md):
 * every entry balances, the books balance per currency, each payment's balances match its
 * state, and — given the gateways' logs — each payment's money matches what the gateways
 * executed, by the one gateway-log check in `./gatewayLog.ts`.
 */
export async function verifyLedger(db: Queryable, gatewayLogs: GatewayLogEntry[] | null): Promise<VerifyReport> {
  const differences: string[] = [];

  const unbalanced = await db.query<{ payment_id: string; event: string; total: number }>(
    `SELECT e.payment_id, e.event, coalesce(sum(p.amount), 0)::bigint AS total
       FROM ledger_entries e LEFT JOIN ledger_postings p ON p.entry_id = e.id
      GROUP BY e.id, e.payment_id, e.event HAVING coalesce(sum(p.amount), 0) <> 0 OR count(p.entry_id) = 0`,
  );
  for (const r of unbalanced.rows) differences.push(`entry ${r.event} of ${r.payment_id} does not balance (sum ${r.total})`);

  const books = await db.query<{ currency: string; total: number }>(
    `SELECT e.currency, sum(p.amount)::bigint AS total FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
      GROUP BY e.currency HAVING sum(p.amount) <> 0`,
  );
  for (const r of books.rows) differences.push(`the books do not balance in ${r.currency} (sum ${r.total})`);

  const { rows: payments } = await db.query<{
    id: string;
    status: PaymentStatus;
    amount: number;
    amount_authorized: number;
    amount_captured: number;
    amount_refunded: number;
    amount_voided: number;
    holds: number;
    receivable: number;
  }>(
    `SELECT p.id, p.status, p.amount, p.amount_authorized, p.amount_captured, p.amount_refunded, p.amount_voided,
            coalesce(sum(lp.amount) FILTER (WHERE lp.account = 'gateway_holds'), 0)::bigint AS holds,
            coalesce(sum(lp.amount) FILTER (WHERE lp.account = 'gateway_receivable'), 0)::bigint AS receivable
       FROM payments p
       LEFT JOIN ledger_entries le ON le.payment_id = p.id
       LEFT JOIN ledger_postings lp ON lp.entry_id = le.id
      GROUP BY p.id ORDER BY p.id`,
  );
  const entries = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_entries')).rows[0]!.n;
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

  if (gatewayLogs !== null) differences.push(...gatewayLogDifferences(gatewayLogs, payments).map((d) => d.detail));

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
