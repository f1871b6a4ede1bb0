/**
 * Pure mapping of a gateway's transaction-log page (`GET /v1/transactions`, the simulator's
 * format) onto reconciliation's records. Total: it never throws; an entry it cannot read is
 * rejected with the reason, and a page it cannot trust (an error status, a body that is not a
 * page, a cursor that went backwards) is refused whole, so nothing is ever decided on it.
 */
import { GATEWAY_OPERATIONS, type GatewayOperation, type TransactionLogPage } from '../port.js';
import type { GatewayRecord } from '../../reconciliation/records.js';
import type { HttpExchange } from './transform.js';

const CURRENCY = /^[A-Z]{3}$/;
const MAX_ID = 255;

/**
 * Reads one page of gateway `gateway`'s log, asked for from `requestedCursor`.
 *
 * @example
 * toTransactionLogPage('sim-a', { kind: 'answer', status: 200, body: { data: [entry], next_cursor: '1' } }, null)
 * // → { ok: true, records: [{ record: { id: 'txn_…', gateway: 'sim-a', … }, raw: entry }], rejected: [], nextCursor: '1', hasMore: false }
 */
export function toTransactionLogPage(gateway: string, exchange: HttpExchange, requestedCursor: string | null): TransactionLogPage {
  try {
    if (exchange.kind === 'no_answer') return { ok: false, reason: `transaction log unreachable: ${exchange.reason}` };
    if (exchange.status !== 200) {
      // The gateway's own words, when it gives some (e.g. the simulator's 410 log_expired), say what to do.
      const said = exchange.body !== null && typeof exchange.body === 'object' ? (exchange.body as Record<string, unknown>).message : undefined;
      return { ok: false, reason: `transaction log answered HTTP ${exchange.status}${typeof said === 'string' ? `: ${said.slice(0, 300)}` : ''}` };
    }
    const body = exchange.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, reason: 'transaction log answered something that is not a page' };
    const data = (body as Record<string, unknown>).data;
    if (!Array.isArray(data)) return { ok: false, reason: 'transaction log page has no data array' };
    const next = (body as Record<string, unknown>).next_cursor;
    if (next !== undefined && next !== null && typeof next !== 'string') return { ok: false, reason: 'transaction log page has a cursor that is not a string' };
    const nextCursor = typeof next === 'string' ? next : null;
    if (requestedCursor !== null && (nextCursor === null || cursorBefore(nextCursor, requestedCursor))) {
      return { ok: false, reason: `transaction log cursor went backwards (asked from ${requestedCursor}, told to go on from ${nextCursor ?? 'the start'})` };
    }
    const hasMore = (body as Record<string, unknown>).has_more === true;
    const records: Array<{ record: GatewayRecord; raw: unknown }> = [];
    const rejected: Array<{ raw: unknown; reason: string }> = [];
    for (const raw of data) {
      const r = toGatewayRecord(gateway, raw);
      if (typeof r === 'string') rejected.push({ raw, reason: r });
      else records.push({ record: r, raw });
    }
    return { ok: true, records, rejected, nextCursor, hasMore };
  } catch (err) {
    return { ok: false, reason: `unreadable transaction log page: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** One log entry as a record, or why it is not one. */
export function toGatewayRecord(gateway: string, raw: unknown): GatewayRecord | string {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'entry is not an object';
  const e = raw as Record<string, unknown>;
  const id = e.id;
  if (typeof id !== 'string' || id === '' || id.length > MAX_ID) return 'id is missing or not a string';
  const op = e.operation;
  if (typeof op !== 'string' || !(GATEWAY_OPERATIONS as readonly string[]).includes(op)) return `${id}: unknown operation ${JSON.stringify(op)}`;
  const status = e.status;
  if (status !== 'succeeded' && status !== 'declined') return `${id}: unknown status ${JSON.stringify(status)}`;
  const amount = e.amount;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 0) return `${id}: amount is not a non-negative integer`;
  const currency = e.currency;
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) return `${id}: currency is not ISO 4217`;
  const at = typeof e.created_at === 'string' ? Date.parse(e.created_at) : NaN;
  if (!Number.isFinite(at)) return `${id}: created_at is not a time`;
  const optional = (name: string): string | undefined | null => {
    const v = e[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' && v !== '' && v.length <= MAX_ID ? v : null;
  };
  const key = optional('idempotency_key');
  const authorizationId = optional('authorization_id');
  const reference = optional('reference');
  const merchantId = optional('merchant_id');
  if (key === null) return `${id}: idempotency_key is not a string`;
  if (authorizationId === null) return `${id}: authorization_id is not a string`;
  if (reference === null) return `${id}: reference is not a string`;
  if (merchantId === null) return `${id}: merchant_id is not a string`;
  if (status === 'succeeded' && authorizationId === undefined) return `${id}: a succeeded ${op} without an authorization_id`;
  return {
    id,
    gateway,
    operation: op as GatewayOperation,
    status,
    amount,
    currency,
    at,
    ...(key !== undefined ? { gatewayKey: key } : {}),
    transactionId: id,
    ...(authorizationId !== undefined ? { authorizationId } : {}),
    ...(reference !== undefined ? { reference } : {}),
    ...(merchantId !== undefined ? { merchantId } : {}),
  };
}

/** Whether cursor `a` comes before `b`: as integers when both are, else as strings. */
export function cursorBefore(a: string, b: string): boolean {
  const digits = /^\d+$/;
  if (digits.test(a) && digits.test(b)) return BigInt(a) < BigInt(b);
  return a < b;
}
