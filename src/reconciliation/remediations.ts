/**
 * The remediation runner (docs/reconciliation.md, "Remediation"): claims the voids that are due
 * (leased, fenced), sends each under its derived gateway key, and records the result if its
 * fence still holds — a re-send after a crash is the same key, so the gateway executes it once.
 *
 *   claim (lease, fence 12) ─────────── another instance claims only rows whose lease has ended
 *   void under recon.void.<gw>.<auth> ─ lease renewed while the gateway takes its time
 *   finish if fence 12 still holds ──── else the row's new holder records the result
 */
import type { GatewayConnector, GatewayOperation, GatewayOperationStatus, GatewayOutcome, StatusUnknown } from '../gateways/port.js';
import type { Runtime } from '../ports/clock.js';
import { exponentialBackoff } from '../resilience/backoff.js';
import { inSpan, type Span, type Tracer } from '../ports/tracing.js';
import type { Transactional } from '../ports/transaction.js';
import type { ReconcileOps, ReconciliationStore } from './store.js';
import type { RemediationRow } from './cases.js';
import { openCase, type ReconciliationLog } from './casework.js';
import { recordReconciliationEvent } from './events.js';

/** The gateways a reconciler reads: by name, each with its connector. */
export interface ReconciledGateways {
  readonly names: string[];
  connector(name: string): GatewayConnector;
}

/** What running the due remediations did. */
export interface RemediationSummary {
  done: number;
  failed: number;
  retrying: number;
}

export interface RemediationRunnerOptions {
  store: Pick<ReconciliationStore, 'claimDueRemediations' | 'guardRemediation' | 'finishRemediation'> & Transactional<ReconcileOps>;
  gateways: ReconciledGateways;
  runtime: Runtime;
  leaseMs: number;
  tracer: Tracer;
  log?: ReconciliationLog | undefined;
}

/** Renews a lease every third of its length until the returned function is called. */
export function keepLease(runtime: Runtime, leaseMs: number, renew: () => Promise<boolean>): () => void {
  return runtime.timers.every(Math.max(1, Math.floor(leaseMs / 3)), () => {
    renew().catch(() => {});
  });
}

export class RemediationRunner {
  private readonly retryBackoff;

  constructor(private readonly o: RemediationRunnerOptions) {
    this.retryBackoff = exponentialBackoff({ baseMs: 1_000, capMs: 300_000, jitter: 'equal', random: o.runtime.random });
  }

  /**
   * Runs the remediations that are due (leased, fenced), each with its derived gateway key and
   * in a span of its own: the child of `parentOf(gateway)` when the caller has one (the pass
   * over that gateway).
   */
  async runDue(limit = 50, parentOf: (gateway: string) => Span | undefined = () => undefined): Promise<RemediationSummary> {
    const { store, runtime } = this.o;
    const out: RemediationSummary = { done: 0, failed: 0, retrying: 0 };
    const rows = await store.claimDueRemediations(runtime.clock.now(), limit, this.o.leaseMs);
    for (const row of rows) {
      const result = await inSpan(
        this.o.tracer,
        'reconciliation.remediation',
        {
          gateway: row.gateway,
          payment_id: row.payment_id ?? undefined,
          merchant_id: row.merchant_id ?? undefined,
          operation: 'void',
          'idem.remediation.action': 'void',
          'idem.remediation.reason': row.reason,
          'idem.remediation.gateway_key': row.gateway_key,
          'idem.remediation.try': row.tries + 1,
        },
        { parent: parentOf(row.gateway) },
        async (span) => {
          const r = await this.remediate(row);
          span.set({ 'idem.remediation.result': r });
          return r;
        },
      );
      out[result]++;
    }
    return out;
  }

  private async remediate(row: RemediationRow): Promise<'done' | 'failed' | 'retrying'> {
    const { store, runtime } = this.o;
    this.o.log?.warn({ gateway: row.gateway, gateway_key: row.gateway_key, authorization_id: row.authorization_id, try: row.tries + 1 }, 'reconciliation: voiding');
    // The lease is renewed while the gateway takes its time; if this process dies, it ends and
    // another instance re-sends under the same key.
    const release = keepLease(runtime, this.o.leaseMs, () => store.guardRemediation(row.id, row.fence, runtime.clock.now() + this.o.leaseMs));
    const connector = this.o.gateways.connector(row.gateway);
    const outcome = await connector
      .execute({
        operation: 'void' satisfies GatewayOperation,
        gatewayKey: row.gateway_key,
        amount: row.amount,
        currency: row.currency,
        reference: row.reference,
        authorizationId: row.authorization_id,
      })
      // A processor that answers a void for later (Adyen's `received`) tells its result by
      // notification: the lookup under the same key reads it (docs/gateways.md).
      .then(async (sent) => (sent.class === 'unknown' ? settledByLookup(sent, await connector.status(row.gateway_key).catch(() => null)) : sent))
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
      if (!(await tx.guardRemediation(row.id, row.fence, now + this.o.leaseMs))) return false;
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
        await openCase({ random: runtime.random, log: this.o.log }, tx, null, 'remediation_failed', row.payment_id, row.merchant_id, null, 'void_refused', `the gateway refused the void of ${row.authorization_id}: ${outcome.declineCode}`, at, {
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
}

/** The outcome a lookup found for a send whose outcome was unknown, else the unknown outcome. */
function settledByLookup(sent: GatewayOutcome, looked: GatewayOperationStatus | StatusUnknown | null): GatewayOutcome {
  return looked?.found === true ? looked.outcome : sent;
}
