import type { Queryable } from '../../db/database.js';
import type { GatewayOperation } from '../../gateways/port.js';
import type { AttemptRow, PaymentRow } from '../../payments/rows.js';
import type { CaseRow, CaseStatus, NewCase, NewRemediation, RemediationRow } from '../../reconciliation/cases.js';
import { evidencePairs, type ModelCounts } from '../../reconciliation/match/model.js';
import type { GatewayRecord, MatchEvidence } from '../../reconciliation/records.js';
import type { FactsQuery, ReconcileWindow, ReconciliationFacts, ReconciliationStore, RecordVerdict, SettledMatch, StagedRecord, StoredMatchModel } from '../../reconciliation/store.js';

interface RecordSqlRow {
  gateway: string;
  record_id: string;
  operation: GatewayOperation;
  status: 'succeeded' | 'declined';
  amount: number;
  currency: string;
  executed_at: Date;
  gateway_key: string | null;
  authorization_id: string | null;
  reference: string | null;
  merchant_id: string | null;
  verdict: string | null;
  verdict_detail: string | null;
  matched_attempt_id: string | null;
  match_evidence: MatchEvidence | null;
}

function toStaged(r: RecordSqlRow): StagedRecord {
  return {
    id: r.record_id,
    gateway: r.gateway,
    operation: r.operation,
    status: r.status,
    amount: r.amount,
    currency: r.currency,
    at: r.executed_at.getTime(),
    ...(r.gateway_key !== null ? { gatewayKey: r.gateway_key } : {}),
    transactionId: r.record_id,
    ...(r.authorization_id !== null ? { authorizationId: r.authorization_id } : {}),
    ...(r.reference !== null ? { reference: r.reference } : {}),
    ...(r.merchant_id !== null ? { merchantId: r.merchant_id } : {}),
    verdict: r.verdict,
    verdictDetail: r.verdict_detail,
    matchedAttemptId: r.matched_attempt_id,
    matchEvidence: r.match_evidence,
  };
}

type RemediationSqlRow = Omit<RemediationRow, 'created_at' | 'done_at'> & { created_at: Date; done_at: Date | null };

function toRemediation(r: RemediationSqlRow): RemediationRow {
  return {
    id: r.id,
    gateway: r.gateway,
    action: r.action,
    reason: r.reason,
    gateway_key: r.gateway_key,
    authorization_id: r.authorization_id,
    record_id: r.record_id,
    amount: r.amount,
    currency: r.currency,
    reference: r.reference,
    payment_id: r.payment_id,
    merchant_id: r.merchant_id,
    state: r.state,
    tries: r.tries,
    fence: r.fence,
    result: r.result,
    created_at: r.created_at.getTime(),
    done_at: r.done_at ? r.done_at.getTime() : null,
  };
}

type CaseSqlRow = Omit<CaseRow, 'opened_at' | 'resolved_at'> & { opened_at: Date; resolved_at: Date | null };

function toCase(r: CaseSqlRow): CaseRow {
  return {
    id: r.id,
    dedupe_key: r.dedupe_key,
    merchant_id: r.merchant_id,
    payment_id: r.payment_id,
    gateway: r.gateway,
    class: r.class,
    team: r.team,
    status: r.status,
    evidence: r.evidence,
    action: r.action,
    action_result: r.action_result,
    resolution: r.resolution,
    opened_at: r.opened_at.getTime(),
    resolved_at: r.resolved_at ? r.resolved_at.getTime() : null,
  };
}

const REMEDIATION_COLUMNS = `id, gateway, action, reason, gateway_key, authorization_id, record_id, amount, currency, reference,
  payment_id, merchant_id, state, tries, fence, result, created_at, done_at`;

/** Reconciliation's cursors, staged records, remediation work rows and cases in SQL. */
export class SqlReconciliation implements ReconciliationStore {
  constructor(private readonly q: Queryable) {}

  async claimReconcileWindow(gateway: string, owner: string, now: number, leaseMs: number, sinceAt: number): Promise<ReconcileWindow | null> {
    await this.q.query(
      `INSERT INTO reconciliation_cursors (gateway, since_at, updated_at) VALUES ($1, $2, $3) ON CONFLICT (gateway) DO NOTHING`,
      [gateway, new Date(sinceAt), new Date(now)],
    );
    // Compare-and-set on a free lease: of two passes, one gets the window, the other nothing.
    const { rows } = await this.q.query<{ cursor: string | null; since_at: Date; fence: number }>(
      `UPDATE reconciliation_cursors
          SET lease_until = $3, owner = $4, fence = nextval('idempotency_fence_seq')
        WHERE gateway = $1 AND (lease_until IS NULL OR lease_until <= $2)
        RETURNING cursor, since_at, fence`,
      [gateway, new Date(now), new Date(now + leaseMs), owner],
    );
    const r = rows[0];
    return r ? { gateway, cursor: r.cursor, sinceAt: r.since_at.getTime(), fence: r.fence } : null;
  }

  async renewReconcileWindow(gateway: string, fence: number, leaseUntil: number): Promise<boolean> {
    const { rowCount } = await this.q.query(`UPDATE reconciliation_cursors SET lease_until = $3 WHERE gateway = $1 AND fence = $2 AND lease_until IS NOT NULL`, [
      gateway,
      fence,
      new Date(leaseUntil),
    ]);
    return rowCount === 1;
  }

  async closeReconcileWindow(gateway: string, fence: number, cursor: string | null | undefined, error: string | null, now: number): Promise<boolean> {
    const { rowCount } = await this.q.query(
      `UPDATE reconciliation_cursors
          SET cursor = CASE WHEN $3 THEN $4 ELSE cursor END, last_error = $5, lease_until = NULL, owner = NULL,
              passes = passes + 1, updated_at = $6
        WHERE gateway = $1 AND fence = $2`,
      [gateway, fence, cursor !== undefined, cursor ?? null, error, new Date(now)],
    );
    return rowCount === 1;
  }

  async listReconcileCursors(): Promise<Array<{ gateway: string; cursor: string | null; passes: number; lastError: string | null; updatedAt: number }>> {
    const { rows } = await this.q.query<{ gateway: string; cursor: string | null; passes: number; last_error: string | null; updated_at: Date }>(
      `SELECT gateway, cursor, passes, last_error, updated_at FROM reconciliation_cursors ORDER BY gateway`,
    );
    return rows.map((r) => ({ gateway: r.gateway, cursor: r.cursor, passes: r.passes, lastError: r.last_error, updatedAt: r.updated_at.getTime() }));
  }

  async stageRecords(records: readonly GatewayRecord[], raws: readonly unknown[], fence: number, now: number): Promise<number> {
    if (records.length === 0) return 0;
    const { rows } = await this.q.query<{ n: number }>(
      `WITH staged AS (
         INSERT INTO reconciliation_records (gateway, record_id, operation, status, amount, currency, executed_at, gateway_key,
                                             authorization_id, reference, merchant_id, raw, fetched_at, fetched_fence)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[], $8::text[],
                              $9::text[], $10::text[], $11::text[], $12::jsonb[]) AS r, (SELECT $13::timestamptz, $14::bigint) AS t
         ON CONFLICT (gateway, record_id) DO NOTHING
         RETURNING 1
       )
       SELECT count(*)::int AS n FROM staged`,
      [
        records.map((r) => r.gateway),
        records.map((r) => r.id),
        records.map((r) => r.operation),
        records.map((r) => r.status),
        records.map((r) => r.amount),
        records.map((r) => r.currency),
        records.map((r) => new Date(r.at)),
        records.map((r) => r.gatewayKey ?? null),
        records.map((r) => r.authorizationId ?? null),
        records.map((r) => r.reference ?? null),
        records.map((r) => r.merchantId ?? null),
        raws.map((raw) => JSON.stringify(raw ?? null)),
        new Date(now),
        fence,
      ],
    );
    return rows[0]?.n ?? 0;
  }

  async unsettledRecords(gateway: string, limit: number): Promise<StagedRecord[]> {
    const { rows } = await this.q.query<RecordSqlRow>(
      `SELECT * FROM reconciliation_records WHERE gateway = $1 AND verdict IS NULL ORDER BY executed_at, record_id LIMIT $2`,
      [gateway, limit],
    );
    return rows.map(toStaged);
  }

  async listStagedRecords(gateway: string | null, from?: number, to?: number): Promise<StagedRecord[]> {
    const { rows } = await this.q.query<RecordSqlRow>(
      `SELECT * FROM reconciliation_records
        WHERE ($1::text IS NULL OR gateway = $1) AND ($2::timestamptz IS NULL OR executed_at >= $2) AND ($3::timestamptz IS NULL OR executed_at < $3)
        ORDER BY executed_at, gateway, record_id`,
      [gateway, from === undefined ? null : new Date(from), to === undefined ? null : new Date(to)],
    );
    return rows.map(toStaged);
  }

  async settleRecord(gateway: string, recordId: string, verdict: string, detail: string | null, now: number, match: SettledMatch | null = null): Promise<boolean> {
    const { rowCount } = await this.q.query(
      `UPDATE reconciliation_records SET verdict = $3, verdict_detail = $4, settled_at = $5, matched_attempt_id = $6, match_evidence = $7
        WHERE gateway = $1 AND record_id = $2 AND verdict IS NULL`,
      [gateway, recordId, verdict, detail, new Date(now), match?.attemptId ?? null, match === null ? null : JSON.stringify(match.evidence)],
    );
    return rowCount === 1;
  }

  async settleRecords(gateway: string, verdicts: readonly RecordVerdict[], now: number): Promise<string[]> {
    if (verdicts.length === 0) return [];
    const { rows } = await this.q.query<{ record_id: string }>(
      `UPDATE reconciliation_records r
          SET verdict = u.verdict, verdict_detail = u.detail, settled_at = $2, matched_attempt_id = u.attempt_id, match_evidence = u.evidence::jsonb
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u (record_id, verdict, detail, attempt_id, evidence)
        WHERE r.gateway = $1 AND r.record_id = u.record_id AND r.verdict IS NULL
        RETURNING r.record_id`,
      [
        gateway,
        new Date(now),
        verdicts.map((v) => v.recordId),
        verdicts.map((v) => v.verdict),
        verdicts.map((v) => v.detail),
        verdicts.map((v) => v.match?.attemptId ?? null),
        verdicts.map((v) => (v.match === null ? null : JSON.stringify(v.match.evidence))),
      ],
    );
    return rows.map((r) => r.record_id);
  }

  async reconciliationFacts(q: FactsQuery): Promise<ReconciliationFacts> {
    const around = q.attemptsAt;
    const { rows: payments } = await this.q.query<PaymentRow>(
      `SELECT * FROM payments
        WHERE id = ANY($1::text[]) OR authorization_id = ANY($2::text[])
           OR id IN (SELECT payment_id FROM payment_attempts WHERE gateway_key = ANY($3::text[]))
           OR id IN (SELECT payment_id FROM payment_attempts WHERE gateway = $4::text AND created_at >= $5::timestamptz AND created_at <= $6::timestamptz)
        ORDER BY id`,
      [[...q.references], [...q.authorizationIds], [...q.gatewayKeys], around?.gateway ?? null, around ? new Date(around.from) : null, around ? new Date(around.to) : null],
    );
    if (payments.length === 0) return { payments, attempts: [] };
    const { rows: attempts } = await this.q.query<AttemptRow>(
      `SELECT * FROM payment_attempts WHERE payment_id = ANY($1::text[]) ORDER BY payment_id, created_at, operation, attempt_no`,
      [payments.map((p) => p.id)],
    );
    return { payments, attempts };
  }

  async unseenSucceededAttempts(gateway: string, before: number, limit: number): Promise<AttemptRow[]> {
    const { rows } = await this.q.query<AttemptRow>(
      `SELECT a.* FROM payment_attempts a
        WHERE a.gateway = $1 AND a.status = 'succeeded' AND a.completed_at < $2
          AND NOT EXISTS (SELECT 1 FROM reconciliation_records r WHERE r.gateway_key = a.gateway_key AND r.gateway = a.gateway)
          AND NOT EXISTS (SELECT 1 FROM reconciliation_records r WHERE r.gateway = a.gateway AND r.record_id = a.gateway_reference)
          AND NOT EXISTS (SELECT 1 FROM reconciliation_records r WHERE r.gateway = a.gateway AND r.matched_attempt_id = a.id)
          AND NOT EXISTS (SELECT 1 FROM reconciliation_cases c WHERE c.dedupe_key = a.gateway || ':' || a.gateway_key || ':missing_at_gateway')
        ORDER BY a.completed_at, a.id LIMIT $3`,
      [gateway, new Date(before), limit],
    );
    return rows;
  }

  async insertRemediation(r: NewRemediation): Promise<boolean> {
    const { rowCount } = await this.q.query(
      `INSERT INTO reconciliation_remediations (gateway, action, reason, gateway_key, authorization_id, record_id, amount, currency,
                                                reference, payment_id, merchant_id, run_after, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (gateway_key) DO NOTHING`,
      [r.gateway, r.action, r.reason, r.gateway_key, r.authorization_id, r.record_id, r.amount, r.currency, r.reference, r.payment_id,
       r.merchant_id, new Date(r.run_after), new Date(r.created_at)],
    );
    return rowCount === 1;
  }

  async findRemediations(gatewayKeys: readonly string[]): Promise<RemediationRow[]> {
    if (gatewayKeys.length === 0) return [];
    const { rows } = await this.q.query<RemediationSqlRow>(
      `SELECT ${REMEDIATION_COLUMNS} FROM reconciliation_remediations WHERE gateway_key = ANY($1::text[]) ORDER BY id`,
      [[...gatewayKeys]],
    );
    return rows.map(toRemediation);
  }

  async listRemediations(gateway: string | null): Promise<RemediationRow[]> {
    const { rows } = await this.q.query<RemediationSqlRow>(
      `SELECT ${REMEDIATION_COLUMNS} FROM reconciliation_remediations WHERE $1::text IS NULL OR gateway = $1 ORDER BY id`,
      [gateway],
    );
    return rows.map(toRemediation);
  }

  async claimDueRemediations(now: number, limit: number, leaseMs: number): Promise<RemediationRow[]> {
    const { rows } = await this.q.query<RemediationSqlRow>(
      `WITH due AS (
         SELECT id FROM reconciliation_remediations
          WHERE state = 'pending' AND run_after <= $1 AND (lease_until IS NULL OR lease_until <= $1)
          ORDER BY run_after, id
          LIMIT $2
          FOR UPDATE SKIP LOCKED
       )
       UPDATE reconciliation_remediations r SET lease_until = $3, fence = nextval('idempotency_fence_seq'), tries = r.tries + 1
         FROM due WHERE r.id = due.id
       RETURNING r.id, r.gateway, r.action, r.reason, r.gateway_key, r.authorization_id, r.record_id, r.amount, r.currency, r.reference,
                 r.payment_id, r.merchant_id, r.state, r.tries - 1 AS tries, r.fence, r.result, r.created_at, r.done_at`,
      [new Date(now), limit, new Date(now + leaseMs)],
    );
    return rows.map(toRemediation).sort((a, b) => a.id - b.id);
  }

  async finishRemediation(id: number, fence: number, state: 'done' | 'failed' | 'pending', result: string | null, runAfter: number, now: number): Promise<boolean> {
    const { rowCount } = await this.q.query(
      `UPDATE reconciliation_remediations
          SET state = $3, result = $4, run_after = $5, lease_until = NULL, done_at = CASE WHEN $3 = 'pending' THEN NULL ELSE $6::timestamptz END
        WHERE id = $1 AND fence = $2 AND state = 'pending'`,
      [id, fence, state, result, new Date(runAfter), new Date(now)],
    );
    return rowCount === 1;
  }

  async guardRemediation(id: number, fence: number, leaseUntil: number): Promise<boolean> {
    const { rowCount } = await this.q.query(
      `UPDATE reconciliation_remediations SET lease_until = $3 WHERE id = $1 AND fence = $2 AND state = 'pending'`,
      [id, fence, new Date(leaseUntil)],
    );
    return rowCount === 1;
  }

  async openCase(c: NewCase): Promise<CaseRow | null> {
    const { rows } = await this.q.query<CaseSqlRow>(
      `INSERT INTO reconciliation_cases (id, dedupe_key, merchant_id, payment_id, gateway, class, team, status, evidence, action, action_result, opened_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10, $11)
       ON CONFLICT (dedupe_key) DO NOTHING
       RETURNING *`,
      [c.id, c.dedupe_key, c.merchant_id, c.payment_id, c.gateway, c.class, c.team, JSON.stringify(c.evidence), c.action, c.action_result, new Date(c.opened_at)],
    );
    return rows[0] ? toCase(rows[0]) : null;
  }

  async listCases(filter: { merchantId?: string; status?: CaseStatus; gateway?: string }): Promise<CaseRow[]> {
    const { rows } = await this.q.query<CaseSqlRow>(
      `SELECT * FROM reconciliation_cases
        WHERE ($1::text IS NULL OR merchant_id = $1) AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR gateway = $3)
        ORDER BY opened_at, id`,
      [filter.merchantId ?? null, filter.status ?? null, filter.gateway ?? null],
    );
    return rows.map(toCase);
  }

  async findCase(id: string): Promise<CaseRow | null> {
    const { rows } = await this.q.query<CaseSqlRow>(`SELECT * FROM reconciliation_cases WHERE id = $1`, [id]);
    return rows[0] ? toCase(rows[0]) : null;
  }

  async resolveCase(id: string, resolution: string, now: number): Promise<CaseRow | null> {
    const { rows } = await this.q.query<CaseSqlRow>(
      `UPDATE reconciliation_cases SET status = 'resolved', resolution = $2, resolved_at = $3 WHERE id = $1 AND status = 'open' RETURNING *`,
      [id, resolution, new Date(now)],
    );
    return rows[0] ? toCase(rows[0]) : null;
  }

  async loadMatchModel(name: string): Promise<StoredMatchModel | null> {
    const { rows } = await this.q.query<{ counts: ModelCounts; updated_at: Date }>(`SELECT counts, updated_at FROM reconciliation_models WHERE name = $1`, [name]);
    const r = rows[0];
    return r ? { counts: r.counts, updatedAt: r.updated_at.getTime() } : null;
  }

  async saveMatchModel(name: string, counts: ModelCounts, now: number): Promise<void> {
    await this.q.query(
      `INSERT INTO reconciliation_models (name, counts, evidence_pairs, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO UPDATE SET counts = EXCLUDED.counts, evidence_pairs = EXCLUDED.evidence_pairs, updated_at = EXCLUDED.updated_at`,
      [name, JSON.stringify(counts), evidencePairs(counts), new Date(now)],
    );
  }
}
