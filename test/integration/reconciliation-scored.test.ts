/**
 * The reconciliation loop with the scored matcher, on a real PostgreSQL, spans captured in an
 * in-memory exporter: a gateway log with Idem's own records (keyed), one that a settlement file
 * reformatted (no key, the reference rewritten), a bare authorization between two twin
 * payments, and an authorization no payment owns. One pass: the keyed records and the
 * reformatted one are matched — the latter by score, its evidence stored — the bare one opens
 * a `match_review` case with both candidates (no void, no adoption), the orphan is voided;
 * the pass is a span with its figures, the void a child span of it; the case is resolvable.
 */
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import type { GatewayConnector, GatewayRequest, TransactionLogPage } from '../../src/gateways/port.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { otelTracer } from '../../src/observability/tracing.js';
import { cryptoRandom, systemTimers, type Runtime } from '../../src/ports/clock.js';
import { seededRandom } from '../../src/ports/seeded.js';
import { exactThenScored } from '../../src/reconciliation/loopMatcher.js';
import { PRIOR, type ModelCounts } from '../../src/reconciliation/match/model.js';
import { fromSorted, reconcileStream } from '../../src/reconciliation/match/stream.js';
import { Reconciler } from '../../src/reconciliation/reconciler.js';
import type { GatewayRecord } from '../../src/reconciliation/records.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { corpus } from '../support/reconciliationCorpus.js';
import { authorizedPayment } from '../support/reconciledPayments.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';

const GW = 'sim-scored';
const T0 = Date.UTC(2026, 11, 1, 9);

/** What a running reconciliation has learned by now: the evidence of a seeded corpus, streamed. */
async function history(): Promise<ModelCounts> {
  const c = corpus({ seed: 11, payments: 1_500 });
  let last = PRIOR;
  for await (const w of reconcileStream(fromSorted(c.gateway), fromSorted(c.idem))) if (w.scored && w.scored.model.fit.positives > 0) last = w.scored.model.counts;
  return last;
}

describe.skipIf(!(await postgresAvailable()))('the reconciliation loop with the scored matcher (PostgreSQL)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let store: SqlStore;
  let merchant: string;
  const log: GatewayRecord[] = [];
  const voids: GatewayRequest[] = [];
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const runtime: Runtime = { clock: { now: () => T0 + 3_600_000 }, timers: systemTimers, random: seededRandom(42) };
  const connector: GatewayConnector = {
    name: GW,
    async execute(request) {
      voids.push(request);
      return { class: 'success', transactionId: `txn_void_${voids.length}` };
    },
    async status() {
      return { found: false };
    },
    async transactions(_since, cursor): Promise<TransactionLogPage> {
      const from = cursor === null ? 0 : Number(cursor);
      return { ok: true, records: log.slice(from).map((record) => ({ record, raw: { id: record.id } })), rejected: [], nextCursor: String(log.length), hasMore: false };
    },
  };



  beforeAll(async () => {
    database = await createTestDatabase('idem_recon_scored');
    db = openPostgres(database.url, { max: 2 });
    await migrate(db);
    store = new SqlStore(db);
    merchant = (await createMerchant(store, cryptoRandom, 'scored')).id;
    const base = { gateway: GW, operation: 'authorize' as const, status: 'succeeded' as const, currency: 'EUR' };
    // Idem's own records, logged with its keys.
    for (let i = 0; i < 6; i++) {
      const id = `pay_keyed${i}q7mz2xw4hn6pcr5d${i}`;
      const at = T0 + i * 60_000;
      await authorizedPayment(store, { id, merchantId: merchant, gateway: GW, amount: 1_000 + 137 * i, at });
      log.push({ ...base, id: `txn_${id}`, amount: 1_000 + 137 * i, at: at + 300, gatewayKey: `${id}.authorize.1`, transactionId: `txn_${id}`, authorizationId: `auth_${id}`, reference: id });
    }
    // A settlement file's line for another of Idem's authorizations: no key, the reference rewritten.
    const filed = 'pay_3k9xab7mq2zt8vw4hn6pcr5d';
    await authorizedPayment(store, { id: filed, merchantId: merchant, gateway: GW, amount: 4_321, at: T0 + 20 * 60_000 });
    log.push({ ...base, id: 'stl_0001', amount: 4_321, at: T0 + 22 * 60_000, transactionId: 'stl_0001', reference: `INV/${filed.slice(4).toUpperCase()}` });
    // Twin payments, one bare line: nothing tells which of the two it is.
    await authorizedPayment(store, { id: 'pay_twinaaaa7mq2zt8vw4hn6pc', merchantId: merchant, gateway: GW, amount: 2_500, at: T0 + 30 * 60_000 });
    await authorizedPayment(store, { id: 'pay_twinbbbb7mq2zt8vw4hn6pc', merchantId: merchant, gateway: GW, amount: 2_500, at: T0 + 30 * 60_000 + 1_000 });
    log.push({ ...base, id: 'stl_0002', amount: 2_500, at: T0 + 31 * 60_000, transactionId: 'stl_0002' });
    // An authorization no payment owns, made under someone else's key.
    log.push({ ...base, id: 'txn_orphan', amount: 900, at: T0 + 40 * 60_000, gatewayKey: 'someone-else-1', transactionId: 'txn_orphan', authorizationId: 'auth_orphan', reference: 'order-nobody' });
  });

  afterAll(async () => {
    await provider.shutdown();
    await db?.close();
    await database?.drop();
  });

  it('matches by score what lost its keys, opens a review case for what it cannot call, voids the orphan; one span per pass, one per remediation', async () => {
    const reconciler = new Reconciler({
      store,
      gateways: { names: [GW], connector: () => connector },
      runtime,
      owner: 'test',
      matcher: exactThenScored({ prior: await history() }),
      tracer: otelTracer(provider.getTracer('recon-test')),
    });
    const { gateways, remediations } = await reconciler.runPass();
    expect(gateways[0]).toMatchObject({ gateway: GW, fetched: 9, staged: 9, matched: 7, casesOpened: 1, reviewCases: 1, remediationsScheduled: 1, adopted: 0 });
    expect(remediations).toEqual({ done: 1, failed: 0, retrying: 0 });

    const staged = new Map((await store.listStagedRecords(GW)).map((r) => [r.id, r]));
    expect(staged.get('stl_0001')).toMatchObject({ verdict: 'consistent', matchEvidence: { rule: 'scored', features: { reference: { value: 'full' } } } });
    expect(staged.get('stl_0001')!.matchEvidence!.probability).toBeGreaterThanOrEqual(0.999);
    expect(staged.get('stl_0001')!.verdictDetail).toBe('scored → att_pay_3k9xab7mq2zt8vw4hn6pcr5d');
    expect(staged.get('stl_0001')!.matchedAttemptId).toBe('att_pay_3k9xab7mq2zt8vw4hn6pcr5d');
    // Matched by score, the attempt counts as seen at the gateway: no missing_at_gateway case later.
    const unseen = (await store.unseenSucceededAttempts(GW, T0 + 48 * 3_600_000, 100)).map((a) => a.id);
    expect(unseen).not.toContain('att_pay_3k9xab7mq2zt8vw4hn6pcr5d');
    expect(unseen).not.toContain('att_pay_keyed0q7mz2xw4hn6pcr5d0');
    expect(staged.get('txn_pay_keyed0q7mz2xw4hn6pcr5d0')).toMatchObject({ verdict: 'consistent', matchEvidence: { rule: 'gateway_key', probability: 1 } });
    expect(staged.get('stl_0002')).toMatchObject({ verdict: 'case', matchEvidence: null });
    expect(staged.get('txn_orphan')).toMatchObject({ verdict: 'void', matchEvidence: null });

    // The bare line: a review case, the merchant's, with both candidates and their evidence.
    const [review, ...others] = await store.listCases({ status: 'open' });
    expect(others).toEqual([]);
    expect(review).toMatchObject({ class: 'match_review', team: 'support', merchant_id: merchant, payment_id: null, action: 'none', evidence: { gateway_record: { id: 'stl_0002' } } });
    const candidates = (review!.evidence.candidates as Array<{ attemptId: string; evidence: { rule: string } }>).map((c) => [c.attemptId, c.evidence.rule]).sort();
    expect(candidates).toEqual([
      ['att_pay_twinaaaa7mq2zt8vw4hn6pc', 'scored'],
      ['att_pay_twinbbbb7mq2zt8vw4hn6pc', 'scored'],
    ]);
    // Nothing is done on a guess: the one void is the orphan's.
    expect(voids.map((v) => v.authorizationId)).toEqual(['auth_orphan']);
    expect((await store.listRemediations(GW)).map((r) => r.authorization_id)).toEqual(['auth_orphan']);

    const spans = exporter.getFinishedSpans();
    const passes = spans.filter((s) => s.name === 'reconciliation.pass');
    expect(passes).toHaveLength(1);
    expect(passes[0]!.attributes).toMatchObject({
      gateway: GW,
      'idem.reconcile.fetched': 9,
      'idem.reconcile.matched': 7,
      'idem.reconcile.cases_opened': 1,
      'idem.reconcile.review_cases': 1,
      'idem.reconcile.remediations_scheduled': 1,
      'idem.reconcile.adopted': 0,
    });
    expect(passes[0]!.attributes['idem.reconcile.fence']).toEqual(expect.any(Number));
    const children = spans.filter((s) => s.name === 'reconciliation.remediation');
    expect(children).toHaveLength(1);
    expect(children[0]!.parentSpanContext?.spanId).toBe(passes[0]!.spanContext().spanId);
    expect(children[0]!.spanContext().traceId).toBe(passes[0]!.spanContext().traceId);
    expect(children[0]!.attributes).toMatchObject({ gateway: GW, 'idem.remediation.action': 'void', 'idem.remediation.reason': 'orphaned_authorization', 'idem.remediation.result': 'done' });

    // The case is resolved like any other; a second pass finds nothing new to do.
    expect(await reconciler.resolveCase(review!.id, 'the acquirer confirms it is pay_twinaaaa…')).toMatchObject({ status: 'resolved' });
    const again = await reconciler.runPass();
    expect(again.gateways[0]).toMatchObject({ fetched: 0, matched: 0, casesOpened: 0, remediationsScheduled: 0 });
    expect(voids).toHaveLength(1);
  }, 60_000);
});
