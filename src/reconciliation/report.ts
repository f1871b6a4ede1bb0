/**
 * The per-gateway reconciliation report (`idem reconcile report --gateway G`, docs/
 * reconciliation.md): what was read, what it meant, what was done, what is left for people —
 * as JSON, or as CSV with one line per finding for a settlement team's spreadsheet. Pure.
 */
import type { StagedRecord } from './store.js';
import type { CaseRow, RemediationRow } from './cases.js';

export interface GatewayReport {
  gateway: string;
  records: { total: number; unsettled: number; byVerdict: Record<string, number> };
  remediations: RemediationRow[];
  cases: CaseRow[];
}

/** Gathers one gateway's report from its staged records, remediations and cases. */
export function gatewayReport(gateway: string, records: readonly StagedRecord[], remediations: readonly RemediationRow[], cases: readonly CaseRow[]): GatewayReport {
  const byVerdict: Record<string, number> = {};
  let unsettled = 0;
  for (const r of records) {
    if (r.verdict === null) unsettled++;
    else byVerdict[r.verdict] = (byVerdict[r.verdict] ?? 0) + 1;
  }
  return { gateway, records: { total: records.length, unsettled, byVerdict }, remediations: [...remediations], cases: [...cases] };
}

const COLUMNS = ['kind', 'id', 'gateway', 'class', 'team', 'status', 'payment_id', 'merchant_id', 'amount', 'currency', 'authorization_id', 'record_id', 'action', 'result', 'at', 'why'] as const;

/**
 * One CSV line per remediation and per case (RFC 4180 quoting).
 *
 * @example
 * reportCsv(report).split('\n')[0] // → 'kind,id,gateway,class,team,status,payment_id,…'
 */
export function reportCsv(report: GatewayReport): string {
  const lines: string[][] = [[...COLUMNS]];
  for (const r of report.remediations) {
    lines.push(['remediation', String(r.id), r.gateway, r.reason, 'automatic', r.state, r.payment_id ?? '', r.merchant_id ?? '', String(r.amount), r.currency, r.authorization_id, r.record_id, r.action, r.result ?? '', new Date(r.created_at).toISOString(), '']);
  }
  for (const c of report.cases) {
    const record = c.evidence.gateway_record as { id?: string; amount?: number; currency?: string; authorizationId?: string } | null | undefined;
    lines.push([
      'case',
      c.id,
      c.gateway,
      c.class,
      c.team,
      c.status,
      c.payment_id ?? '',
      c.merchant_id ?? '',
      record?.amount === undefined ? '' : String(record.amount),
      record?.currency ?? '',
      record?.authorizationId ?? '',
      record?.id ?? '',
      c.action,
      c.action_result ?? c.resolution ?? '',
      new Date(c.opened_at).toISOString(),
      typeof c.evidence.why === 'string' ? c.evidence.why : '',
    ]);
  }
  return lines.map((l) => l.map(csvField).join(',')).join('\n') + '\n';
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
