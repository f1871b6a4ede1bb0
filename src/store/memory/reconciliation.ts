import type { AttemptRow, PaymentRow } from '../../payments/rows.js';
import type { CaseRow, CaseStatus, NewCase, NewRemediation, RemediationRow } from '../../reconciliation/cases.js';
import type { ModelCounts } from '../../reconciliation/match/model.js';
import type { GatewayRecord, MatchEvidence } from '../../reconciliation/records.js';
import type { FactsQuery, ReconcileWindow, ReconciliationFacts, ReconciliationStore, RecordVerdict, SettledMatch, StagedRecord, StoredMatchModel } from '../../reconciliation/store.js';
import { bytes, cmp, foreign, int8, jsonb } from './engine.js';
import type { MemoryState } from './state.js';

/**
 * Reconciliation's cursors, staged records, remediations and cases on the in-memory tables.
 * Methods are `async` only to fit the port: each runs to the end without yielding, so under the
 * store's mutex nothing interleaves with it.
 */
export class MemoryReconciliation implements ReconciliationStore {
  constructor(private readonly s: MemoryState) {}

  async claimReconcileWindow(gateway: string, owner: string, now: number, leaseMs: number, sinceAt: number): Promise<ReconcileWindow | null> {
    const c = this.s.reconCursors.get(gateway) ?? {
      gateway,
      cursor: null,
      since_at: sinceAt,
      lease_until: null,
      fence: 0,
      owner: null,
      passes: 0,
      last_error: null,
      updated_at: now,
    };
    if (!this.s.reconCursors.has(gateway)) this.s.reconCursors.set(gateway, c);
    if (c.lease_until !== null && c.lease_until > now) return null;
    const leased = { ...c, lease_until: now + leaseMs, owner, fence: this.s.nextFence() };
    this.s.reconCursors.set(gateway, leased);
    return { gateway, cursor: leased.cursor, sinceAt: leased.since_at, fence: leased.fence };
  }

  async renewReconcileWindow(gateway: string, fence: number, leaseUntil: number): Promise<boolean> {
    const c = this.s.reconCursors.get(gateway);
    if (!c || c.fence !== fence || c.lease_until === null) return false;
    this.s.reconCursors.set(gateway, { ...c, lease_until: leaseUntil });
    return true;
  }

  async closeReconcileWindow(gateway: string, fence: number, cursor: string | null | undefined, error: string | null, now: number): Promise<boolean> {
    const c = this.s.reconCursors.get(gateway);
    if (!c || c.fence !== fence) return false;
    this.s.reconCursors.set(gateway, {
      ...c,
      cursor: cursor === undefined ? c.cursor : cursor,
      last_error: error,
      lease_until: null,
      owner: null,
      passes: c.passes + 1,
      updated_at: now,
    });
    return true;
  }

  async listReconcileCursors(): Promise<Array<{ gateway: string; cursor: string | null; passes: number; lastError: string | null; updatedAt: number }>> {
    return this.s.reconCursors
      .values()
      .sort((a, b) => bytes(a.gateway, b.gateway))
      .map((c) => ({ gateway: c.gateway, cursor: c.cursor, passes: c.passes, lastError: c.last_error, updatedAt: c.updated_at }));
  }

  async stageRecords(records: readonly GatewayRecord[], raws: readonly unknown[], fence: number, now: number): Promise<number> {
    let n = 0;
    records.forEach((r, i) => {
      int8('amount', r.amount);
      const id = `${r.gateway}\u0000${r.id}`;
      if (this.s.reconRecords.has(id)) return;
      this.s.reconRecords.set(id, { ...structuredClone(r), verdict: null, verdictDetail: null, matchedAttemptId: null, matchEvidence: null, raw: jsonb(raws[i] ?? null), fetched_at: now, fetched_fence: fence, settled_at: null });
      n++;
    });
    return n;
  }

  async unsettledRecords(gateway: string, limit: number): Promise<StagedRecord[]> {
    return this.sorted(this.s.reconRecords.values().filter((r) => r.gateway === gateway && r.verdict === null)).slice(0, Math.max(0, limit));
  }

  async listStagedRecords(gateway: string | null, from?: number, to?: number): Promise<StagedRecord[]> {
    return this.sorted(
      this.s.reconRecords
        .values()
        .filter((r) => (gateway === null || r.gateway === gateway) && (from === undefined || r.at >= from) && (to === undefined || r.at < to)),
    );
  }

  async settleRecord(gateway: string, recordId: string, verdict: string, detail: string | null, now: number, match: SettledMatch | null = null): Promise<boolean> {
    return this.settleOne(gateway, recordId, verdict, detail, now, match);
  }

  async settleRecords(gateway: string, verdicts: readonly RecordVerdict[], now: number): Promise<string[]> {
    return verdicts.filter((v) => this.settleOne(gateway, v.recordId, v.verdict, v.detail, now, v.match)).map((v) => v.recordId);
  }

  private settleOne(gateway: string, recordId: string, verdict: string, detail: string | null, now: number, match: SettledMatch | null): boolean {
    const id = `${gateway}\u0000${recordId}`;
    const r = this.s.reconRecords.get(id);
    if (!r || r.verdict !== null) return false;
    this.s.reconRecords.set(id, { ...r, verdict, verdictDetail: detail, matchedAttemptId: match?.attemptId ?? null, matchEvidence: match === null ? null : (jsonb(match.evidence) as MatchEvidence), settled_at: now });
    return true;
  }

  async reconciliationFacts(q: FactsQuery): Promise<ReconciliationFacts> {
    const refs = new Set(q.references);
    const auths = new Set(q.authorizationIds);
    const keys = new Set(q.gatewayKeys);
    const around = q.attemptsAt;
    const byKey = new Set(
      this.s.attempts
        .values()
        .filter((a) => keys.has(a.gateway_key) || (around !== undefined && a.gateway === around.gateway && a.created_at.getTime() >= around.from && a.created_at.getTime() <= around.to))
        .map((a) => a.payment_id),
    );
    const payments: PaymentRow[] = this.s.payments
      .values()
      .filter((p) => refs.has(p.id) || (p.authorization_id !== null && auths.has(p.authorization_id)) || byKey.has(p.id))
      .sort((a, b) => bytes(a.id, b.id))
      .map((p) => structuredClone(p));
    const ids = new Set(payments.map((p) => p.id));
    const attempts: AttemptRow[] = this.s.attempts
      .values()
      .filter((a) => ids.has(a.payment_id))
      .sort((a, b) => bytes(a.payment_id, b.payment_id) || a.created_at.getTime() - b.created_at.getTime() || bytes(a.operation, b.operation) || a.attempt_no - b.attempt_no)
      .map(({ error: _error, ...a }) => structuredClone(a));
    return { payments, attempts };
  }

  async unseenSucceededAttempts(gateway: string, before: number, limit: number): Promise<AttemptRow[]> {
    return this.s.attempts
      .values()
      .filter((a) => a.gateway === gateway && a.status === 'succeeded' && a.completed_at !== null && a.completed_at.getTime() < before)
      .filter((a) => {
        const seen = this.s.reconRecords.values().some((r) => r.gateway === gateway && (r.gatewayKey === a.gateway_key || r.id === a.gateway_reference || r.matchedAttemptId === a.id));
        const named = this.s.cases.values().some((c) => c.dedupe_key === `${gateway}:${a.gateway_key}:missing_at_gateway`);
        return !seen && !named;
      })
      .sort((a, b) => a.completed_at!.getTime() - b.completed_at!.getTime() || bytes(a.id, b.id))
      .slice(0, Math.max(0, limit))
      .map(({ error: _error, ...a }) => structuredClone(a));
  }

  async insertRemediation(r: NewRemediation): Promise<boolean> {
    if (this.s.remediations.values().some((x) => x.gateway_key === r.gateway_key)) return false;
    int8('amount', r.amount);
    if (r.payment_id !== null) foreign(this.s.payments.has(r.payment_id), 'reconciliation_remediations_payment_id_fkey', `payment ${r.payment_id}`);
    if (r.merchant_id !== null) foreign(this.s.merchants.has(r.merchant_id), 'reconciliation_remediations_merchant_id_fkey', `merchant ${r.merchant_id}`);
    const id = this.s.nextRemediationId();
    const { run_after, ...rest } = r;
    this.s.remediations.set(id, { ...rest, id, state: 'pending', tries: 0, fence: 0, result: null, done_at: null, run_after, lease_until: null });
    return true;
  }

  async findRemediations(gatewayKeys: readonly string[]): Promise<RemediationRow[]> {
    const keys = new Set(gatewayKeys);
    return this.remediationsWhere((r) => keys.has(r.gateway_key));
  }

  async listRemediations(gateway: string | null): Promise<RemediationRow[]> {
    return this.remediationsWhere((r) => gateway === null || r.gateway === gateway);
  }

  async claimDueRemediations(now: number, limit: number, leaseMs: number): Promise<RemediationRow[]> {
    const due = this.s.remediations
      .values()
      .filter((r) => r.state === 'pending' && r.run_after <= now && (r.lease_until === null || r.lease_until <= now))
      .sort((a, b) => a.run_after - b.run_after || a.id - b.id)
      .slice(0, Math.max(0, limit));
    return due
      .map((r) => {
        const leased = { ...r, lease_until: now + leaseMs, fence: this.s.nextFence(), tries: r.tries + 1 };
        this.s.remediations.set(r.id, leased);
        return publicRemediation({ ...leased, tries: r.tries });
      })
      .sort((a, b) => a.id - b.id);
  }

  async finishRemediation(id: number, fence: number, state: 'done' | 'failed' | 'pending', result: string | null, runAfter: number, now: number): Promise<boolean> {
    const r = this.s.remediations.get(id);
    if (!r || r.fence !== fence || r.state !== 'pending') return false;
    this.s.remediations.set(id, { ...r, state, result, run_after: runAfter, lease_until: null, done_at: state === 'pending' ? null : now });
    return true;
  }

  async guardRemediation(id: number, fence: number, leaseUntil: number): Promise<boolean> {
    const r = this.s.remediations.get(id);
    if (!r || r.fence !== fence || r.state !== 'pending') return false;
    this.s.remediations.set(id, { ...r, lease_until: leaseUntil });
    return true;
  }

  async openCase(c: NewCase): Promise<CaseRow | null> {
    if (this.s.cases.values().some((x) => x.dedupe_key === c.dedupe_key)) return null;
    if (c.payment_id !== null) foreign(this.s.payments.has(c.payment_id), 'reconciliation_cases_payment_id_fkey', `payment ${c.payment_id}`);
    if (c.merchant_id !== null) foreign(this.s.merchants.has(c.merchant_id), 'reconciliation_cases_merchant_id_fkey', `merchant ${c.merchant_id}`);
    const row: CaseRow = { ...structuredClone(c), evidence: jsonb(c.evidence), status: 'open', resolution: null, resolved_at: null };
    this.s.cases.set(c.id, row);
    return structuredClone(row);
  }

  async listCases(filter: { merchantId?: string; status?: CaseStatus; gateway?: string }): Promise<CaseRow[]> {
    return this.s.cases
      .values()
      .filter(
        (c) =>
          (filter.merchantId === undefined || c.merchant_id === filter.merchantId) &&
          (filter.status === undefined || c.status === filter.status) &&
          (filter.gateway === undefined || c.gateway === filter.gateway),
      )
      .sort((a, b) => a.opened_at - b.opened_at || cmp(a.id, b.id))
      .map((c) => structuredClone(c));
  }

  async findCase(id: string): Promise<CaseRow | null> {
    const c = this.s.cases.get(id);
    return c ? structuredClone(c) : null;
  }

  async resolveCase(id: string, resolution: string, now: number): Promise<CaseRow | null> {
    const c = this.s.cases.get(id);
    if (!c || c.status !== 'open') return null;
    const row: CaseRow = { ...c, status: 'resolved', resolution, resolved_at: now };
    this.s.cases.set(id, row);
    return structuredClone(row);
  }

  async loadMatchModel(name: string): Promise<StoredMatchModel | null> {
    const m = this.s.matchModels.get(name);
    return m ? structuredClone(m) : null;
  }

  async saveMatchModel(name: string, counts: ModelCounts, now: number): Promise<void> {
    this.s.matchModels.set(name, { counts: jsonb(counts) as ModelCounts, updatedAt: now });
  }

  private sorted(rows: Array<StagedRecord & object>): StagedRecord[] {
    return rows
      .sort((a, b) => a.at - b.at || bytes(a.gateway, b.gateway) || bytes(a.id, b.id))
      .map((r) => {
        const out: StagedRecord = {
          id: r.id,
          gateway: r.gateway,
          operation: r.operation,
          status: r.status,
          amount: r.amount,
          currency: r.currency,
          at: r.at,
          ...(r.gatewayKey !== undefined ? { gatewayKey: r.gatewayKey } : {}),
          transactionId: r.id,
          ...(r.authorizationId !== undefined ? { authorizationId: r.authorizationId } : {}),
          ...(r.reference !== undefined ? { reference: r.reference } : {}),
          ...(r.merchantId !== undefined ? { merchantId: r.merchantId } : {}),
          verdict: r.verdict,
          verdictDetail: r.verdictDetail,
          matchedAttemptId: r.matchedAttemptId,
          matchEvidence: r.matchEvidence === null ? null : structuredClone(r.matchEvidence),
        };
        return out;
      });
  }

  private remediationsWhere(pred: (r: RemediationRow) => boolean): RemediationRow[] {
    return this.s.remediations
      .values()
      .filter(pred)
      .sort((a, b) => a.id - b.id)
      .map(publicRemediation);
  }
}

function publicRemediation(r: RemediationRow & { run_after?: number; lease_until?: number | null }): RemediationRow {
  const { run_after: _r, lease_until: _l, ...rest } = r;
  return structuredClone(rest);
}
