/**
 * Continuous reconciliation (docs/reconciliation.md): each pass leases a gateway's next log
 * window, fetches it incrementally, stages the records under their own ids, classifies every
 * record not yet settled (./classify.ts) and writes each verdict exactly once; then it runs the
 * remediations that are due. Every `idem serve` runs passes on a timer (./loop.ts);
 * `idem reconcile` runs one. The pass is ./pass.ts, the remediation runner ./remediations.ts.
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
import type { GatewayConnector } from '../gateways/port.js';
import type { Runtime } from '../ports/clock.js';
import type { OnProgress } from '../ports/progress.js';
import { noopTracer, type Span, type Tracer } from '../ports/tracing.js';
import type { Transactional } from '../ports/transaction.js';
import type { ReconcileOps, ReconciliationStore } from './store.js';
import type { CaseRow } from './cases.js';
import { resolveCaseIn, type ReconciliationLog } from './casework.js';
import { LearnedModel } from './learned.js';
import { exactThenScored } from './loopMatcher.js';
import { emptySummary, GatewayPass, type PassSummary } from './pass.js';
import type { Matcher } from './records.js';
import { keepLease, RemediationRunner, type ReconciledGateways, type RemediationSummary } from './remediations.js';

export type { PassSummary } from './pass.js';
export type { RemediationSummary } from './remediations.js';

export type { ReconciledGateways } from './remediations.js';

export interface ReconcilerOptions {
  store: ReconciliationStore & Transactional<ReconcileOps>;
  gateways: ReconciledGateways;
  runtime: Runtime;
  /** Who holds a window's lease (an instance id), for the operator. */
  owner: string;
  /**
   * Default: the exact matcher, then the scored one for records that lost their keys
   * (./loopMatcher.ts), its learned evidence stored and restored through the store
   * (./learned.ts). A matcher given here is used as it is; its evidence is its owner's.
   */
  matcher?: Matcher;
  /** Spans of each pass and each remediation (docs/metadata.md, "Traces"); default none. */
  tracer?: Tracer;
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
  log?: ReconciliationLog;
}

export class Reconciler {
  private readonly leaseMs: number;
  private readonly sinceAt: number;
  private readonly pass: GatewayPass;
  private readonly remediations: RemediationRunner;
  private readonly tracer: Tracer;
  private readonly learned: LearnedModel | null;

  constructor(private readonly o: ReconcilerOptions) {
    this.leaseMs = o.leaseMs ?? 30_000;
    this.sinceAt = o.sinceAt ?? 0;
    this.tracer = o.tracer ?? noopTracer;
    this.remediations = new RemediationRunner({ store: o.store, gateways: o.gateways, runtime: o.runtime, leaseMs: this.leaseMs, tracer: this.tracer, log: o.log });
    const loop = o.matcher === undefined ? exactThenScored() : null;
    this.learned = loop === null ? null : new LearnedModel(o.store, loop, o.runtime.clock, o.log);
    this.pass = new GatewayPass({
      store: o.store,
      runtime: o.runtime,
      matcher: o.matcher ?? loop!,
      tracer: this.tracer,
      pageSize: o.pageSize ?? 500,
      maxPages: o.maxPages ?? 20,
      settlementWindowMs: o.settlementWindowMs ?? 24 * 3_600_000,
      log: o.log,
    });
  }

  /** The gateways that can be reconciled (their connector reads a transaction log). */
  reconcilable(): string[] {
    return this.o.gateways.names.filter((n) => typeof this.o.gateways.connector(n).transactions === 'function');
  }

  /**
   * One pass over `gateways` (default: every reconcilable one), then the due remediations.
   * `since` (ms) re-reads each log from that time instead of from its cursor (an audit or a
   * repeat: records already staged are kept as they were). `onProgress` hears of each page read
   * and of the records settled (`idem reconcile` draws it).
   */
  async runPass(gateways: readonly string[] = this.reconcilable(), options: { since?: number; onProgress?: OnProgress } = {}): Promise<{ gateways: PassSummary[]; remediations: RemediationSummary }> {
    const summaries: PassSummary[] = [];
    // Each gateway's pass is a span, open until the remediations run after the passes are
    // done, so a void sent for a record of that gateway is its child.
    const spans = new Map<string, Span>();
    try {
      for (const g of gateways) {
        const span = this.tracer.start('reconciliation.pass', { gateway: g });
        spans.set(g, span);
        summaries.push(await this.passOver(g, options.since, span, options.onProgress));
      }
      options.onProgress?.({ phase: 'remediations', done: 0, total: null });
      const remediations = await this.remediations.runDue(50, (gateway) => spans.get(gateway));
      return { gateways: summaries, remediations };
    } catch (err) {
      for (const span of spans.values()) span.fail(err);
      throw err;
    } finally {
      for (const span of spans.values()) span.end();
    }
  }

  /** Reads the gateway's next window (if no other pass holds it) and settles its records. */
  async reconcileGateway(gateway: string, since?: number): Promise<PassSummary> {
    const span = this.tracer.start('reconciliation.pass', { gateway });
    try {
      return await this.passOver(gateway, since, span);
    } catch (err) {
      span.fail(err);
      throw err;
    } finally {
      span.end();
    }
  }

  private async passOver(gateway: string, since: number | undefined, span: Span, onProgress?: OnProgress): Promise<PassSummary> {
    const { store, runtime } = this.o;
    const summary = emptySummary(gateway);
    const connector = this.o.gateways.connector(gateway);
    if (!hasLog(connector)) {
      summary.error = `gateway ${gateway} has no transaction log to read`;
      span.set({ 'idem.reconcile.error': summary.error });
      return summary;
    }
    const claimed = await store.claimReconcileWindow(gateway, this.o.owner, runtime.clock.now(), this.leaseMs, since ?? this.sinceAt);
    if (claimed === null) {
      span.set({ 'idem.reconcile.skipped': true });
      return { ...summary, skipped: true };
    }
    const window = since === undefined ? claimed : { ...claimed, cursor: null, sinceAt: since };
    span.set({ 'idem.reconcile.fence': window.fence, 'idem.reconcile.cursor': window.cursor ?? undefined, 'idem.reconcile.since': new Date(window.sinceAt).toISOString() });
    const release = keepLease(runtime, this.leaseMs, () => store.renewReconcileWindow(gateway, window.fence, runtime.clock.now() + this.leaseMs));
    try {
      await this.learned?.load();
      await this.pass.readWindow(gateway, connector, window, summary, span, onProgress);
      await this.learned?.save();
      return summary;
    } finally {
      release();
      span.set({
        'idem.reconcile.fetched': summary.fetched,
        'idem.reconcile.staged': summary.staged,
        'idem.reconcile.matched': summary.matched,
        'idem.reconcile.cases_opened': summary.casesOpened,
        'idem.reconcile.review_cases': summary.reviewCases,
        'idem.reconcile.remediations_scheduled': summary.remediationsScheduled,
        'idem.reconcile.adopted': summary.adopted,
        'idem.reconcile.waiting': summary.verdicts.wait ?? 0,
        'idem.reconcile.error': summary.error ?? undefined,
      });
    }
  }

  /** Runs the remediations that are due (leased, fenced), each with its derived gateway key. */
  async runRemediations(limit = 50): Promise<RemediationSummary> {
    return this.remediations.runDue(limit);
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

function hasLog(c: GatewayConnector): c is GatewayConnector & Required<Pick<GatewayConnector, 'transactions'>> {
  return typeof c.transactions === 'function';
}

