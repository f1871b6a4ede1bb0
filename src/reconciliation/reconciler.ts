/**
 * Continuous reconciliation (docs/reconciliation.md): each pass leases a gateway's next log
 * window, fetches it incrementally, stages the records under their own ids, classifies every
 * record not yet settled (./classify.ts) and writes each verdict exactly once; then it runs the
 * remediations that are due. Every `idem serve` runs passes on a timer; `idem reconcile` runs
 * one.
 *
 * Exactly once, whatever the number of instances and crashes:
 *
 *   instance A                          instance B
 *   claim window (fence 7) ───────────  claim window → null (leased): skip this gateway
 *   fetch, stage (ON CONFLICT: no-op)
 *   per record, one transaction:
 *     settleRecord (verdict IS NULL) ─  a late pass of B settling the same record finds it
 *     + remediation row (unique key)     settled: its transaction changes nothing
 *     + adoption (payment CAS) + case (unique dedupe key) + events
 *   remediations: claim (lease, fence) ─ B claims only rows whose lease has ended
 *     void with the derived gateway key: a re-send after a crash is the same key, so the
 *     gateway executes it once
 *     record the result if the fence still holds
 */
import type { GatewayConnector, GatewayOperation } from '../gateways/port.js';
import type { Random, Runtime } from '../ports/clock.js';
import type { PaymentRow } from '../payments/rows.js';
import { newId } from '../ports/ids.js';
import { pickMetadata } from '../events/metadata.js';
import type { NewPaymentEvent } from '../events/model.js';
import { canAdopt } from '../payments/states.js';
import { exponentialBackoff } from '../resilience/backoff.js';
import type { Store, StoreOps } from '../store/port.js';
import { remediationKey, teamFor, type CaseClass, type CaseRow, type RemediationRow } from './cases.js';
import { classify, type Verdict } from './classify.js';
import { recordReconciliationEvent } from './events.js';
import { exactMatcher } from './exactMatcher.js';
import type { GatewayRecord, Matcher } from './records.js';

/** The gateways a reconciler reads: by name, each with its connector. */
export interface ReconciledGateways {
  readonly names: string[];
  connector(name: string): GatewayConnector;
}

export interface ReconcilerOptions {
  store: Store;
  gateways: ReconciledGateways;
  runtime: Runtime;
  /** Who holds a window's lease (an instance id), for the operator. */
  owner: string;
  /** Default: the exact matcher. */
  matcher?: Matcher;
  /** Lease on a gateway's window and on a remediation row. Default 30 s. */
  leaseMs?: number;
  /** Records per page read from a gateway, and pages per pass. Defaults 500 and 20. */
  pageSize?: number;
  maxPages?: number;
  /** Where a gateway's first window starts (ms), when it has no cursor yet. Default 0. */
  sinceAt?: number;
  /**
   * How long after Idem recorded a success the gateway's log must show it (default 24 h);
   * later, a case for the settlement team.
   */
  settlementWindowMs?: number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

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
  casesOpened: number;
  remediationsScheduled: number;
  adopted: number;
}

/** What running the due remediations did. */
export interface RemediationSummary {
  done: number;
  failed: number;
  retrying: number;
}

/** Thrown inside a verdict's transaction when Idem's side moved since classification: roll back, look again next pass. */
class MovedOn extends Error {
  override readonly name = 'MovedOn';
}

export class Reconciler {
  private readonly matcher: Matcher;
  private readonly leaseMs: number;
  private readonly pageSize: number;
  private readonly maxPages: number;
  private readonly sinceAt: number;
  private readonly settlementWindowMs: number;
  private readonly retryBackoff;

  constructor(private readonly o: ReconcilerOptions) {
    this.matcher = o.matcher ?? exactMatcher;
    this.leaseMs = o.leaseMs ?? 30_000;
    this.pageSize = o.pageSize ?? 500;
    this.maxPages = o.maxPages ?? 20;
    this.sinceAt = o.sinceAt ?? 0;
    this.settlementWindowMs = o.settlementWindowMs ?? 24 * 3_600_000;
    this.retryBackoff = exponentialBackoff({ baseMs: 1_000, capMs: 300_000, jitter: 'equal', random: o.runtime.random });
  }

  /** The gateways that can be reconciled (their connector reads a transaction log). */
  reconcilable(): string[] {
    return this.o.gateways.names.filter((n) => typeof this.o.gateways.connector(n).transactions === 'function');
  }

  /**
   * One pass over `gateways` (default: every reconcilable one), then the due remediations.
   * `since` (ms) re-reads each log from that time instead of from its cursor (an audit or a
   * repeat: records already staged are kept as they were).
   */
  async runPass(gateways: readonly string[] = this.reconcilable(), options: { since?: number } = {}): Promise<{ gateways: PassSummary[]; remediations: RemediationSummary }> {
    const summaries: PassSummary[] = [];
    for (const g of gateways) summaries.push(await this.reconcileGateway(g, options.since));
    const remediations = await this.runRemediations();
    return { gateways: summaries, remediations };
  }

  /** Reads the gateway's next window (if no other pass holds it) and settles its records. */
  async reconcileGateway(gateway: string, since?: number): Promise<PassSummary> {
    const { store, runtime } = this.o;
    const summary: PassSummary = { gateway, skipped: false, fetched: 0, staged: 0, rejected: [], error: null, verdicts: {}, casesOpened: 0, remediationsScheduled: 0, adopted: 0 };
    const connector = this.o.gateways.connector(gateway);
    if (!hasLog(connector)) {
      summary.error = `gateway ${gateway} has no transaction log to read`;
      return summary;
    }
    const claimed = await store.claimReconcileWindow(gateway, this.o.owner, runtime.clock.now(), this.leaseMs, since ?? this.sinceAt);
    if (claimed === null) return { ...summary, skipped: true };
    const window = since === undefined ? claimed : { ...claimed, cursor: null, sinceAt: since };
    const release = this.keepLease(() => store.renewReconcileWindow(gateway, window.fence, runtime.clock.now() + this.leaseMs));
    try {
      return await this.readWindow(gateway, connector, window, summary);
    } finally {
      release();
    }
  }

  private async readWindow(
    gateway: string,
    connector: GatewayConnector & Required<Pick<GatewayConnector, 'transactions'>>,
    window: { cursor: string | null; sinceAt: number; fence: number },
    summary: PassSummary,
  ): Promise<PassSummary> {
    const { store, runtime } = this.o;

    let cursor = window.cursor;
    let moved = false;
    for (let page = 0; page < this.maxPages; page++) {
      const answer = await connector.transactions(window.sinceAt, cursor, this.pageSize);
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

    await this.settle(gateway, summary);
    await this.checkSettlementWindow(gateway, summary);

    const still = await store.closeReconcileWindow(gateway, window.fence, moved ? cursor : undefined, summary.error, runtime.clock.now());
    if (!still) this.o.log?.warn({ gateway, fence: window.fence }, 'reconciliation: window lease lost before the cursor moved; the next pass re-reads it');
    return summary;
  }

  /** Renews a lease every third of its length until the returned function is called. */
  private keepLease(renew: () => Promise<boolean>): () => void {
    const cancel = this.o.runtime.timers.every(Math.max(1, Math.floor(this.leaseMs / 3)), () => {
      renew().catch(() => {});
    });
    return cancel;
  }

  /** Classifies the gateway's unsettled records and writes each verdict in its own transaction. */
  private async settle(gateway: string, summary: PassSummary): Promise<void> {
    const { store } = this.o;
    const records = await store.unsettledRecords(gateway, 5_000);
    if (records.length === 0) return;
    const facts = await store.reconciliationFacts({
      references: unique(records.map((r) => r.reference)),
      authorizationIds: unique(records.map((r) => r.authorizationId)),
      gatewayKeys: unique(records.map((r) => r.gatewayKey)),
    });
    for (const { record, verdict } of classify(records, facts.payments, facts.attempts, this.matcher)) {
      if (verdict.kind === 'wait') {
        summary.verdicts.wait = (summary.verdicts.wait ?? 0) + 1;
        continue;
      }
      try {
        const applied = await store.transaction((tx) => this.apply(tx, record, verdict, summary));
        if (applied) summary.verdicts[verdict.kind] = (summary.verdicts[verdict.kind] ?? 0) + 1;
      } catch (err) {
        if (!(err instanceof MovedOn)) throw err;
        summary.verdicts.wait = (summary.verdicts.wait ?? 0) + 1;
      }
    }
  }

  /** Writes one verdict; false if another pass had already settled the record. */
  private async apply(tx: StoreOps, r: GatewayRecord, v: Exclude<Verdict, { kind: 'wait' }>, summary: PassSummary): Promise<boolean> {
    const now = this.o.runtime.clock.now();
    const at = new Date(now);
    const detail = 'why' in v ? v.why : v.kind === 'consistent' ? `${v.evidence.rule} → ${v.attemptId}` : null;
    if (!(await tx.settleRecord(r.gateway, r.id, v.kind, detail, now))) return false;
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
        await this.adopt(tx, r, v, at);
        summary.adopted++;
        if (v.unrequested) {
          if (await this.openCase(tx, r, 'unrequested_operation', v.paymentId, v.merchantId, v.attemptId, 'adopted', v.why, at)) summary.casesOpened++;
        }
        return true;
      }
      case 'case':
        if (await this.openCase(tx, r, v.class, v.paymentId, v.merchantId, v.attemptId, 'none', v.why, at)) summary.casesOpened++;
        return true;
    }
  }

  /**
   * The payment follows the money, by the adoption edges of docs/reconciliation.md: a failed
   * payment whose authorization the gateway did execute becomes `authorized`; an authorized one
   * whose capture the gateway executed becomes `captured` / `partially_captured`. Each with
   * its ledger entry and events; the payment is re-read and re-checked under its lock.
   */
  private async adopt(tx: StoreOps, r: GatewayRecord, v: Extract<Verdict, { kind: 'adopt' }>, at: Date): Promise<void> {
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

  private async openCase(
    tx: StoreOps,
    r: GatewayRecord | null,
    cls: CaseClass,
    paymentId: string | null,
    merchantId: string | null,
    attemptId: string | null,
    action: string,
    why: string,
    at: Date,
    extra: { gateway?: string; dedupe?: string; evidence?: Record<string, unknown>; actionResult?: string } = {},
  ): Promise<boolean> {
    const gateway = r?.gateway ?? extra.gateway!;
    const opened = await tx.openCase({
      id: newId(this.o.runtime.random, 'case'),
      dedupe_key: extra.dedupe ?? `${gateway}:${r?.id}:${cls}`,
      merchant_id: merchantId,
      payment_id: paymentId,
      gateway,
      class: cls,
      team: teamFor(cls),
      evidence: { why, gateway_record: r, idem_attempt_id: attemptId, ...extra.evidence },
      action,
      action_result: extra.actionResult ?? null,
      opened_at: at.getTime(),
    });
    if (opened === null) return false;
    await recordReconciliationEvent(
      tx,
      { type: 'reconciliation.case_opened', paymentId, merchantId, gateway, data: { case_id: opened.id, class: cls, team: opened.team, action, why } },
      at,
    );
    this.o.log?.warn({ gateway, case_id: opened.id, class: cls, payment_id: paymentId }, 'reconciliation: case opened');
    return true;
  }

  /**
   * Idem recorded a success the gateway's log does not show, long after the settlement window:
   * a case for the settlement team. Only for gateways whose log was read clean this pass.
   */
  private async checkSettlementWindow(gateway: string, summary: PassSummary): Promise<void> {
    if (summary.error !== null) return;
    const { store, runtime } = this.o;
    const now = runtime.clock.now();
    const attempts = await store.unseenSucceededAttempts(gateway, now - this.settlementWindowMs, 1_000);
    if (attempts.length === 0) return;
    for (const a of attempts) {
      const opened = await store.transaction(async (tx) => {
        const facts = await tx.reconciliationFacts({ references: [a.payment_id], authorizationIds: [], gatewayKeys: [] });
        const p = facts.payments[0];
        return this.openCase(tx, null, 'missing_at_gateway', a.payment_id, p?.merchant_id ?? null, a.id, 'none', `Idem recorded ${a.operation} ${a.gateway_key} succeeded; the gateway's log does not show it`, new Date(now), {
          gateway,
          dedupe: `${gateway}:${a.gateway_key}:missing_at_gateway`,
          evidence: { idem_attempt: { id: a.id, operation: a.operation, gateway_key: a.gateway_key, amount: a.amount, gateway_reference: a.gateway_reference } },
        });
      });
      if (opened) summary.casesOpened++;
    }
  }

  /** Runs the remediations that are due (leased, fenced), each with its derived gateway key. */
  async runRemediations(limit = 50): Promise<RemediationSummary> {
    const { store, runtime } = this.o;
    const out: RemediationSummary = { done: 0, failed: 0, retrying: 0 };
    const rows = await store.claimDueRemediations(runtime.clock.now(), limit, this.leaseMs);
    for (const row of rows) {
      const result = await this.remediate(row);
      out[result]++;
    }
    return out;
  }

  private async remediate(row: RemediationRow): Promise<'done' | 'failed' | 'retrying'> {
    const { store, runtime } = this.o;
    this.o.log?.warn({ gateway: row.gateway, gateway_key: row.gateway_key, authorization_id: row.authorization_id, try: row.tries + 1 }, 'reconciliation: voiding');
    // The lease is renewed while the gateway takes its time; if this process dies, it ends and
    // another instance re-sends under the same key.
    const release = this.keepLease(() => store.guardRemediation(row.id, row.fence, runtime.clock.now() + this.leaseMs));
    const outcome = await this.o.gateways
      .connector(row.gateway)
      .execute({
        operation: 'void' satisfies GatewayOperation,
        gatewayKey: row.gateway_key,
        amount: row.amount,
        currency: row.currency,
        reference: row.reference,
        authorizationId: row.authorization_id,
      })
      .finally(release);
    const now = runtime.clock.now();
    const at = new Date(now);
    if (outcome.class === 'not_processed' || outcome.class === 'unknown') {
      // Re-sent later under the same key: the gateway executes it at most once.
      const runAfter = now + Math.max(this.retryBackoff.delay(row.tries), outcome.class === 'not_processed' ? (outcome.retryAfterMs ?? 0) : 0);
      await store.finishRemediation(row.id, row.fence, 'pending', `${outcome.class}: ${outcome.reason}`, runAfter, now);
      this.o.log?.warn({ gateway: row.gateway, gateway_key: row.gateway_key, outcome: outcome.class, reason: outcome.reason }, 'reconciliation: void not confirmed; will re-send with the same key');
      return 'retrying';
    }
    const done = outcome.class === 'success';
    const fenced = await store.transaction(async (tx) => {
      if (!(await tx.guardRemediation(row.id, row.fence, now + this.leaseMs))) return false;
      const result = done ? outcome.transactionId : `declined: ${outcome.declineCode}`;
      await tx.finishRemediation(row.id, row.fence, done ? 'done' : 'failed', result, now, now);
      if (done) {
        const p = row.payment_id === null ? undefined : (await tx.reconciliationFacts({ references: [row.payment_id], authorizationIds: [], gatewayKeys: [] })).payments[0];
        // The pair nets to zero; it is the payment's record of what the gateway held and released.
        if (p !== undefined && p.currency === row.currency && row.amount > 0) {
          await tx.postEntry(p.id, p.currency, { kind: 'remediation_hold', amount: row.amount, authorizationId: row.authorization_id }, at);
          await tx.postEntry(p.id, p.currency, { kind: 'remediation_release', amount: row.amount, authorizationId: row.authorization_id }, at);
        }
        await recordReconciliationEvent(
          tx,
          { type: 'reconciliation.remediated', paymentId: row.payment_id, merchantId: row.merchant_id, gateway: row.gateway, data: { action: 'void', reason: row.reason, authorization_id: row.authorization_id, gateway_key: row.gateway_key, transaction_id: outcome.transactionId } },
          at,
        );
      } else {
        await recordReconciliationEvent(
          tx,
          { type: 'reconciliation.remediation_failed', paymentId: row.payment_id, merchantId: row.merchant_id, gateway: row.gateway, data: { action: 'void', authorization_id: row.authorization_id, gateway_key: row.gateway_key, decline_code: outcome.declineCode } },
          at,
        );
        await this.openCase(tx, null, 'remediation_failed', row.payment_id, row.merchant_id, null, 'void_refused', `the gateway refused the void of ${row.authorization_id}: ${outcome.declineCode}`, at, {
          gateway: row.gateway,
          dedupe: `${row.gateway}:${row.gateway_key}:remediation_failed`,
          evidence: { remediation: row },
          actionResult: outcome.declineCode,
        });
      }
      return true;
    });
    if (!fenced) {
      this.o.log?.warn({ gateway: row.gateway, gateway_key: row.gateway_key }, 'reconciliation: remediation lease lost; its new holder records the result');
      return 'retrying';
    }
    this.o.log?.warn({ gateway: row.gateway, gateway_key: row.gateway_key, authorization_id: row.authorization_id, payment_id: row.payment_id, result: outcome.class }, done ? 'reconciliation: voided' : 'reconciliation: void refused');
    return done ? 'done' : 'failed';
  }

  /** Resolves an open case as the operator; the case, or null if there is no open case with that id. */
  async resolveCase(id: string, resolution: string): Promise<CaseRow | null> {
    const { store, runtime } = this.o;
    return store.transaction(async (tx) => {
      const r = await resolveCaseIn(tx, id, resolution, runtime.clock.now());
      return typeof r === 'string' ? null : r;
    });
  }
}

/**
 * Resolves an open case inside `tx`, with its event; as merchant `merchantId` when given (a
 * case of another merchant, or of none, is then `not_found`).
 */
export async function resolveCaseIn(tx: StoreOps, id: string, resolution: string, now: number, merchantId?: string): Promise<CaseRow | 'not_found' | 'not_open'> {
  const c = await tx.findCase(id);
  if (!c || (merchantId !== undefined && c.merchant_id !== merchantId)) return 'not_found';
  const resolved = await tx.resolveCase(id, resolution, now);
  if (!resolved) return 'not_open';
  await recordReconciliationEvent(
    tx,
    { type: 'reconciliation.case_resolved', paymentId: c.payment_id, merchantId: c.merchant_id, gateway: c.gateway, data: { case_id: id, class: c.class, resolution } },
    new Date(now),
  );
  return resolved;
}

/** Runs a pass every `intervalMs` (never two at once in one process) until stopped. */
export function startReconcileLoop(reconciler: Reconciler, runtime: Runtime, intervalMs: number, log?: ReconcilerOptions['log']): { stop(): Promise<void>; runOnce(): Promise<void> } {
  let pass: Promise<void> | null = null;
  let stopped = false;
  const once = (): Promise<void> => {
    if (pass) return pass;
    pass = reconciler
      .runPass()
      .then((r) => {
        for (const g of r.gateways) if (g.error !== null) log?.error({ gateway: g.gateway, error: g.error }, 'reconciliation pass: gateway log problem');
      })
      .catch((err: unknown) => {
        // The loop keeps going: the next tick tries again.
        log?.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'reconciliation pass failed; will retry');
      })
      .finally(() => (pass = null));
    return pass;
  };
  const cancel = runtime.timers.every(intervalMs, () => {
    if (!stopped) void once();
  });
  return {
    runOnce: once,
    async stop() {
      stopped = true;
      cancel();
      await pass;
    },
  };
}

function hasLog(c: GatewayConnector): c is GatewayConnector & Required<Pick<GatewayConnector, 'transactions'>> {
  return typeof c.transactions === 'function';
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
