/**
 * Adyen's Settlement details report (CSV, Adyen's documented columns) as gateway records for
 * reconciliation (docs/gateways.md, "Reconciliation source"): what Adyen settled, with gross
 * and net so the matcher sees fees. Pure and total: a row it cannot read is rejected with the
 * reason, never guessed.
 */
import type { GatewayRecord } from '../../reconciliation/records.js';
import { operationOfKey } from './notifications.js';

/** The columns Idem reads; a report without one of them is refused whole. */
export const SETTLEMENT_COLUMNS = [
  'Merchant Account',
  'Psp Reference',
  'Merchant Reference',
  'Creation Date',
  'Type',
  'Modification Reference',
  'Gross Currency',
  'Gross Debit (GC)',
  'Gross Credit (GC)',
  'Net Currency',
  'Net Debit (NC)',
  'Net Credit (NC)',
  'Modification Merchant Reference',
] as const;

/** A settled row: the record, and its net amount in the net currency (gross minus fees). */
export interface SettlementRecord {
  record: GatewayRecord;
  net: { amount: number; currency: string };
}

export type SettlementReport =
  | { ok: true; records: SettlementRecord[]; rejected: Array<{ line: number; reason: string }> }
  | { ok: false; reason: string };

/** Row types that are money Idem moved; the rest (fees, payouts, chargebacks) are Adyen's own. */
const TYPES: Record<string, { operation: 'capture' | 'refund'; column: 'Gross Credit (GC)' | 'Gross Debit (GC)' }> = {
  Settled: { operation: 'capture', column: 'Gross Credit (GC)' },
  Refunded: { operation: 'refund', column: 'Gross Debit (GC)' },
};

/**
 * Reads one Settlement details report for gateway `gateway`.
 *
 * @example
 * parseSettlementReport('adyen', csv) // → { ok: true, records: [{ record: { operation: 'capture', amount: 1000, … }, net: { amount: 973, currency: 'EUR' } }], rejected: [] }
 */
export function parseSettlementReport(gateway: string, csv: string): SettlementReport {
  const lines = csvRows(csv);
  const header = lines[0];
  if (header === undefined) return { ok: false, reason: 'the report is empty' };
  const index = new Map(header.map((name, i) => [name.trim(), i]));
  const missing = SETTLEMENT_COLUMNS.filter((c) => !index.has(c));
  if (missing.length > 0) return { ok: false, reason: `the report has no column ${missing.map((m) => `"${m}"`).join(', ')}` };
  const records: SettlementRecord[] = [];
  const rejected: Array<{ line: number; reason: string }> = [];
  for (const [n, cells] of lines.slice(1).entries()) {
    if (cells.length === 1 && cells[0] === '') continue;
    const get = (c: (typeof SETTLEMENT_COLUMNS)[number]) => (cells[index.get(c)!] ?? '').trim();
    const type = TYPES[get('Type')];
    if (type === undefined) continue; // fees, payouts, chargebacks: not an operation Idem sends
    const currency = get('Gross Currency');
    const amount = minorUnits(get(type.column), currency);
    const netCurrency = get('Net Currency');
    const net = minorUnits(type.operation === 'capture' ? get('Net Credit (NC)') : get('Net Debit (NC)'), netCurrency);
    const at = Date.parse(get('Creation Date').replace(' ', 'T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(get('Creation Date')) ? '' : 'Z'));
    const psp = get('Psp Reference');
    const modification = get('Modification Reference');
    const reason =
      amount === null ? `line ${n + 2}: ${type.column} is not an amount in ${currency || 'a currency'}` : net === null ? `line ${n + 2}: the net amount is not an amount` : !Number.isFinite(at) ? `line ${n + 2}: Creation Date does not parse` : psp === '' ? `line ${n + 2}: no Psp Reference` : null;
    if (reason !== null) {
      rejected.push({ line: n + 2, reason });
      continue;
    }
    const key = get('Modification Merchant Reference');
    const record: GatewayRecord = {
      // `<pspReference>:…` as a notification's record: the same operation reported twice (docs/reconciliation.md, "Twins").
      id: `${modification || psp}:settlement:${type.operation}`,
      gateway,
      operation: type.operation,
      status: 'succeeded',
      amount: amount!,
      currency,
      at,
      transactionId: modification || psp,
      authorizationId: psp,
      reference: get('Merchant Reference').replace(/\.authorize\.[0-9]+$/, ''),
    };
    if (operationOfKey(key) !== null) record.gatewayKey = key;
    records.push({ record, net: { amount: net!, currency: netCurrency } });
  }
  return { ok: true, records, rejected };
}

/** "10.50" in EUR → 1050; the currency's own number of decimals (JPY none, BHD three). */
function minorUnits(text: string, currency: string): number | null {
  if (!/^[A-Z]{3}$/.test(currency) || !/^\d+(\.\d+)?$/.test(text)) return null;
  let digits: number;
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return null;
  }
  const [whole, fraction = ''] = text.split('.');
  if (fraction.length > digits) return null;
  const value = Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, '0') || '0');
  return Number.isSafeInteger(value) ? value : null;
}

/** RFC 4180 rows: quoted fields, doubled quotes, CRLF or LF. */
function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(field), (field = '');
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field), rows.push(row), (row = []), (field = '');
    } else field += ch;
  }
  if (field !== '' || row.length > 0) row.push(field), rows.push(row);
  return rows;
}
