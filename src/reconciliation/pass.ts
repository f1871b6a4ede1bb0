/**
 * One reconciliation pass over one gateway's window (docs/reconciliation.md, "The loop"): read
 * the log's pages and stage their records, classify every record not yet settled against
 * Idem's side (./classify.ts), and write each verdict once: those that are only a verdict in
 * one statement for the pass, each other — with its remediation row, adoption, case and
 * events — in its own transaction; then the settlement-window check.
 *
 *   verdicts that are only a verdict: one statement (settleRecords, verdict IS NULL per row)
 *   every other record, one transaction:
 *     settleRecord (verdict IS NULL) ─  a late pass settling the same record finds it settled:
 *     + remediation row (unique key)     its transaction changes nothing
 *     + adoption (payment CAS) + case (unique dedupe key) + events
 */
import type { GatewayConnector } from '../gateways/port.js';
import type { Random, Runtime } from '../ports/clock.js';
import type { PaymentRow } from '../payments/rows.js';
import { newId } from '../ports/ids.js';
import { pickMetadata } from '../events/metadata.js';
import type { NewPaymentEvent } from '../events/model.js';
import { canAdopt } from '../payments/states.js';
import type { Transactional } from '../ports/transaction.js';
import type { ReconcileOps, ReconciliationStore, SettledMatch } from './store.js';
import type { OnProgress } from '../ports/progress.js';
import { inSpan, type Span, type Tracer } from '../ports/tracing.js';
import { remediationKey } from './cases.js';
import { openCase, type CaseworkContext, type ReconciliationLog } from './casework.js';
import { classify, type Verdict } from './classify.js';
import { recordReconciliationEvent } from './events.js';
import { DEFAULT_MATCH_SETTINGS, type MatchSettings } from './match/features.js';
import type { GatewayRecord, Matcher } from './records.js';

/** What one pass did for one gateway. */
export interface PassSummary {
  gateway: string;
  /** Another instance held the gateway's window. */
  skipped: boolean;
  fetched: number;
  staged: number;
  /** Entries of the gateway's log that were not records, with the reason. */
  rejected: string[];
  /** Why the log could not be read (down, garbage, a cursor that went backwards); null if it could. */
  error: string | null;
  /** Settled verdicts by kind, `wait` for those left to a later pass. */
  verdicts: Partial<Record<Verdict['kind'], number>>;
  /** Records settled on a match with one of Idem's operations (by an exact key or by score). */
  matched: number;
  casesOpened: number;
  /** Of the cases opened, `match_review`: records the scored matcher could not call. */
  reviewCases: number;
  remediationsScheduled: number;
  adopted: number;
}

/** A summary with nothing done yet. */
export function emptySummary(gateway: string): PassSummary {
  return { gateway, skipped: false, fetched: 0, staged: 0, rejected: [], error: null, verdicts: {}, matched: 0, casesOpened: 0, reviewCases: 0, remediationsScheduled: 0, adopted: 0 };
}

/** Thrown inside a verdict's transaction when Idem's side moved since classification: roll back, look again next pass. */
class MovedOn extends Error {
  override readonly name = 'MovedOn';
}

export interface GatewayPassOptions {
  store: ReconciliationStore & Transactional<ReconcileOps>;
  runtime: Runtime;
  matcher: Matcher;
  /** The scored matcher's settings (its time window bounds the Idem attempts read for keyless records). */
  matchSettings?: Partial<MatchSettings> | undefined;
  pageSize: number;
  maxPages: number;
  settlementWindowMs: number;
  tracer: Tracer;
  log?: ReconciliationLog | undefined;
}

/** The pass's steps after the window is claimed: read and stage, settle, check, close. */
export class GatewayPass {
  private readonly casework: CaseworkContext;

  constructor(private readonly o: GatewayPassOptions) {
    this.casework = { random: o.runtime.random, log: o.log };
  }

  async readWindow(
    gateway: string,
    connector: GatewayConnector & Required<Pick<GatewayConnector, 'transactions'>>,
    window: { cursor: string | null; sinceAt: number; fence: number },
    summary: PassSummary,
    span: Span,
    onProgress?: OnProgress,
  ): Promise<PassSummary> {
    const { store, runtime } = this.o;

    let cursor = window.cursor;
    let moved = false;
    for (let page = 0; page < this.o.maxPages; page++) {
      const answer = await connector.transactions(window.sinceAt, cursor, this.o.pageSize);
      if (!answer.ok) {
        summary.error = answer.reason;
        this.o.log?.error({ gateway, cursor, reason: answer.reason }, 'reconciliation: gateway log unreadable; nothing decided on it');
        break;
      }
      for (const r of answer.rejected) {
        summary.rejected.push(r.reason);
        this.o.log?.error({ gateway, reason: r.reason }, 'reconciliation: malformed gateway record ignored');
      }
      summary.fetched += answer.records.length;
      onProgress?.({ phase: `${gateway}: reading the log`, done: summary.fetched, total: null });
      summary.staged += await store.stageRecords(
        answer.records.map((r) => r.record),
        answer.records.map((r) => r.raw),
        window.fence,
        runtime.clock.now(),
      );
      if (answer.nextCursor !== null && answer.nextCursor !== cursor) {
        cursor = answer.nextCursor;
        moved = true;
      }
      if (!answer.hasMore || answer.records.length + answer.rejected.length === 0) break;
    }
    if (summary.rejected.length > 0 && summary.error === null) summary.error = `${summary.rejected.length} malformed record(s) ignored`;

    await this.settle(gateway, summary, span, onProgress);
    await this.checkSettlementWindow(gateway, summary);

    const still = await store.closeReconcileWindow(gateway, window.fence, moved ? cursor : undefined, summary.error, runtime.clock.now());
    if (!still) this.o.log?.warn({ gateway, fence: window.fence }, 'reconciliation: window lease lost before the cursor moved; the next pass re-reads it');
    return summary;
  }

  /** Classifies the gateway's unsettled records and writes their verdicts (see the header). */
  private async settle(gateway: string, summary: PassSummary, span: Span, onProgress?: OnProgress): Promise<void> {
    const { store } = this.o;
    const records = await store.unsettledRecords(gateway, 5_000);
    if (records.length === 0) return;
    // Records that lost their keys are matched by score against Idem's attempts at the gateway
    // around their time (the matching window on both sides), which no key names.
    const keyless = records.filter((r) => r.gatewayKey === undefined && r.status === 'succeeded');
    const windowMs = { ...DEFAULT_MATCH_SETTINGS, ...this.o.matchSettings }.windowMs;
    const facts = await store.reconciliationFacts({
      references: unique(records.map((r) => r.reference)),
      authorizationIds: unique(records.map((r) => r.authorizationId)),
      gatewayKeys: unique(records.map((r) => r.gatewayKey)),
      attemptsAt:
        keyless.length === 0
          ? undefined
          : { gateway, from: Math.min(...keyless.map((r) => r.at)) - windowMs, to: Math.max(...keyless.map((r) => r.at)) + windowMs },
    });
    // A keyless void of an authorization reconciliation voided is its own remediation, seen
    // without its key: settled as such, never a case for an operation made elsewhere.
    const bareVoids = records.filter((r) => r.operation === 'void' && r.gatewayKey === undefined && r.authorizationId !== undefined);
    const remediated = new Set(
      bareVoids.length === 0 ? [] : (await store.findRemediations(bareVoids.map((r) => remediationKey(gateway, r.authorizationId!)))).map((x) => `${x.gateway}\u0000${x.authorization_id}`),
    );
    const classified = classify(records, facts.payments, facts.attempts, this.o.matcher, remediated);
    // Verdicts that write nothing but themselves (most of them: Idem's own operations, seen
    // as recorded) are settled in one statement; each of the others in its own transaction.
    const alone = classified.filter(({ verdict }) => SETTLES_ALONE.has(verdict.kind));
    if (alone.length > 0) {
      const settled = new Set(
        await store.settleRecords(
          gateway,
          alone.map(({ record, verdict, match }) => ({ recordId: record.id, verdict: verdict.kind, detail: verdictDetail(verdict), match: match ?? null })),
          this.o.runtime.clock.now(),
        ),
      );
      for (const { record, verdict, match } of alone) {
        if (!settled.has(record.id)) continue;
        summary.verdicts[verdict.kind] = (summary.verdicts[verdict.kind] ?? 0) + 1;
        if (match !== undefined) summary.matched++;
      }
    }
    for (const [i, { record, verdict, match }] of classified.entries()) {
      if (i % 100 === 0) onProgress?.({ phase: `${gateway}: settling`, done: i, total: classified.length });
      if (SETTLES_ALONE.has(verdict.kind)) continue;
      if (verdict.kind === 'wait') {
        summary.verdicts.wait = (summary.verdicts.wait ?? 0) + 1;
        continue;
      }
      try {
        const applied = await store.transaction((tx) => this.apply(tx, record, verdict, match, summary, span));
        if (applied) {
          summary.verdicts[verdict.kind] = (summary.verdicts[verdict.kind] ?? 0) + 1;
          if (match !== undefined) summary.matched++;
        }
      } catch (err) {
        if (!(err instanceof MovedOn)) throw err;
        summary.verdicts.wait = (summary.verdicts.wait ?? 0) + 1;
      }
    }
  }

  /** Writes one verdict; false if another pass had already settled the record. */
  private async apply(tx: ReconcileOps, r: GatewayRecord, v: Exclude<Verdict, { kind: 'wait' }>, match: SettledMatch | undefined, summary: PassSummary, span: Span): Promise<boolean> {
    const now = this.o.runtime.clock.now();
    const at = new Date(now);
    if (!(await tx.settleRecord(r.gateway, r.id, v.kind, verdictDetail(v), now, match ?? null))) return false;
    switch (v.kind) {
      case 'consistent':
      case 'no_effect':
      case 'own_remediation':
      case 'known':
        return true;
      case 'void': {
        const key = remediationKey(r.gateway, v.authorizationId);
        const written = await tx.insertRemediation({
          gateway: r.gateway,
          action: 'void',
          reason: v.reason,
          gateway_key: key,
          authorization_id: v.authorizationId,
          record_id: r.id,
          amount: r.amount,
          currency: r.currency,
          reference: r.reference ?? v.paymentId ?? v.authorizationId,
          payment_id: v.paymentId,
          merchant_id: v.merchantId,
          run_after: now,
          created_at: now,
        });
        if (written) {
          summary.remediationsScheduled++;
          await recordReconciliationEvent(
            tx,
            { type: 'reconciliation.remediation_scheduled', paymentId: v.paymentId, merchantId: v.merchantId, gateway: r.gateway, data: { action: 'void', reason: v.reason, authorization_id: v.authorizationId, gateway_key: key, record_id: r.id, why: v.why } },
            at,
          );
          this.o.log?.warn({ gateway: r.gateway, payment_id: v.paymentId, authorization_id: v.authorizationId, gateway_key: key, reason: v.reason }, 'reconciliation: void scheduled');
        }
        return true;
      }
      case 'adopt': {
        await inSpan(
          this.o.tracer,
          'reconciliation.remediation',
          { gateway: r.gateway, payment_id: v.paymentId, merchant_id: v.merchantId, operation: v.operation, 'idem.remediation.action': 'adopt', 'idem.reconcile.record_id': r.id },
          { parent: span },
          async (child) => {
            await this.adopt(tx, r, v, at);
            child.set({ 'idem.remediation.result': 'adopted' });
          },
        );
        summary.adopted++;
        if (v.unrequested) {
          if (await openCase(this.casework, tx, r, 'unrequested_operation', v.paymentId, v.merchantId, v.attemptId, 'adopted', v.why, at)) summary.casesOpened++;
        }
        return true;
      }
      case 'case': {
        const found: Record<string, unknown> = {};
        if (match !== undefined) found.match = match.evidence;
        if (v.candidates !== undefined) found.candidates = v.candidates;
        if (await openCase(this.casework, tx, r, v.class, v.paymentId, v.merchantId, v.attemptId, 'none', v.why, at, { evidence: found })) {
          summary.casesOpened++;
          if (v.class === 'match_review') summary.reviewCases++;
        }
        return true;
      }
    }
  }

  /**
   * The payment follows the money, by the adoption edges of docs/reconciliation.md: a failed
   * payment whose authorization the gateway did execute becomes `authorized`; an authorized one
   * whose capture the gateway executed becomes `captured` / `partially_captured`. Each with
   * its ledger entry and events; the payment is re-read and re-checked under its lock.
   */
  private async adopt(tx: ReconcileOps, r: GatewayRecord, v: Extract<Verdict, { kind: 'adopt' }>, at: Date): Promise<void> {
    const p = await tx.findPayment(v.merchantId, v.paymentId, true);
    if (!p) throw new MovedOn(`payment ${v.paymentId} is gone`);
    if (v.operation === 'authorize') {
      if (!canAdopt(p.status, 'authorized') || p.authorization_id !== null) throw new MovedOn(`payment ${p.id} is ${p.status}`);
      await tx.updatePayment(p, { status: 'authorized', authorization_id: r.authorizationId!, amount_authorized: r.amount, gateway: r.gateway, decline_code: null }, at);
      await tx.postEntry(p.id, p.currency, { kind: 'authorize', amount: r.amount }, at);
      await tx.insertEvent(adoptedEvent(this.o.runtime.random, p, 'payment.authorized', r.gateway, at));
    } else {
      if (p.status !== 'authorized' || p.authorization_id !== r.authorizationId || r.amount > p.amount_authorized - p.amount_captured) {
        throw new MovedOn(`payment ${p.id} is ${p.status}`);
      }
      let attemptId = v.attemptId;
      if (attemptId === null) {
        // Idem never asked for it: the payment's attempts show it, under a key of its own.
        const attempt = await tx.insertAttempt(
          {
            id: newId(this.o.runtime.random, 'att'),
            payment_id: p.id,
            operation: 'capture',
            attempt_no: (await tx.lastAttemptNo(p.id, 'capture')) + 1,
            gateway: r.gateway,
            gateway_key: `recon.adopt.${r.gateway}.${r.id}`,
            amount: r.amount,
            idempotency_key: null,
            created_at: at,
          },
          at,
        );
        await tx.recordAttempt(attempt, { status: 'succeeded', gatewayReference: r.id }, at);
        attemptId = attempt.id;
      }
      const captured = p.amount_captured + r.amount;
      const status = captured >= p.amount_authorized ? 'captured' : 'partially_captured';
      if (!canAdopt(p.status, status)) throw new MovedOn(`payment ${p.id} is ${p.status}`);
      await tx.postEntry(p.id, p.currency, { kind: 'capture', authorized: p.amount_authorized, captured: r.amount, attemptId }, at);
      await tx.updatePayment(p, { status, amount_captured: captured, amount_requested: null }, at);
      await tx.insertEvent(adoptedEvent(this.o.runtime.random, p, `payment.${status}`, r.gateway, at));
    }
    await recordReconciliationEvent(
      tx,
      { type: 'reconciliation.adopted', paymentId: p.id, merchantId: p.merchant_id, gateway: r.gateway, data: { operation: v.operation, record_id: r.id, amount: r.amount, gateway_key: r.gatewayKey ?? null, unrequested: v.unrequested, why: v.why } },
      at,
    );
    this.o.log?.warn({ gateway: r.gateway, payment_id: p.id, operation: v.operation, record_id: r.id }, 'reconciliation: adopted the gateway\'s result');
  }

  /**
   * Idem recorded a success the gateway's log does not show, long after the settlement window:
   * a case for the settlement team. Only for gateways whose log was read clean this pass.
   */
  private async checkSettlementWindow(gateway: string, summary: PassSummary): Promise<void> {
    if (summary.error !== null) return;
    const { store, runtime } = this.o;
    const now = runtime.clock.now();
    const attempts = await store.unseenSucceededAttempts(gateway, now - this.o.settlementWindowMs, 1_000);
    if (attempts.length === 0) return;
    for (const a of attempts) {
      const opened = await store.transaction(async (tx) => {
        const facts = await tx.reconciliationFacts({ references: [a.payment_id], authorizationIds: [], gatewayKeys: [] });
        const p = facts.payments[0];
        return openCase(this.casework, tx, null, 'missing_at_gateway', a.payment_id, p?.merchant_id ?? null, a.id, 'none', `Idem recorded ${a.operation} ${a.gateway_key} succeeded; the gateway's log does not show it`, new Date(now), {
          gateway,
          dedupe: `${gateway}:${a.gateway_key}:missing_at_gateway`,
          evidence: { idem_attempt: { id: a.id, operation: a.operation, gateway_key: a.gateway_key, amount: a.amount, gateway_reference: a.gateway_reference } },
        });
      });
      if (opened) summary.casesOpened++;
    }
  }
}

/** Verdicts whose whole write is the record's own: settled together (`settleRecords`). */
const SETTLES_ALONE: ReadonlySet<Verdict['kind']> = new Set(['consistent', 'no_effect', 'own_remediation', 'known']);

/** What a settled record says of its verdict: the reason, or for a match its rule and attempt. */
function verdictDetail(v: Verdict): string | null {
  return 'why' in v ? v.why : v.kind === 'consistent' ? `${v.evidence.rule} → ${v.attemptId}` : null;
}

function unique(values: ReadonlyArray<string | undefined>): string[] {
  return [...new Set(values.filter((v): v is string => v !== undefined))];
}

/** The payment's own state-change event for a state reconciliation adopted from the gateway. */
function adoptedEvent(random: Random, p: PaymentRow, type: string, gateway: string, at: Date): NewPaymentEvent {
  return {
    id: newId(random, 'evt'),
    type,
    merchantId: p.merchant_id,
    paymentId: p.id,
    data: { adopted: true, gateway },
    metadata: pickMetadata({ merchant_id: p.merchant_id, payment_id: p.id, gateway }),
    createdAt: at,
  };
}
