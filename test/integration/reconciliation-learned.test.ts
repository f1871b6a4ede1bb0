/**
 * What the loop's scored matcher learned survives a restart (docs/reconciliation.md, "What the
 * loop learns"), on a real PostgreSQL: a first process reconciles a gateway log of Idem's own
 * records (keyed, each naming its merchant) and stores the evidence it learned; the process
 * goes away; a second one, on the same database with a new connection pool and a new
 * reconciler, meets a settlement-file line for a new payment (no key, the reference rewritten)
 * and matches it by score with the stored weights — where the same line against the priors
 * alone goes to review.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/database.js';
import type { GatewayConnector, TransactionLogPage } from '../../src/gateways/port.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom, systemTimers, type Runtime } from '../../src/ports/clock.js';
import { seededRandom } from '../../src/ports/seeded.js';
import { classify } from '../../src/reconciliation/classify.js';
import { LOOP_MODEL } from '../../src/reconciliation/learned.js';
import { exactThenScored } from '../../src/reconciliation/loopMatcher.js';
import { modelFromCounts, PRIOR } from '../../src/reconciliation/match/model.js';
import { Reconciler } from '../../src/reconciliation/reconciler.js';
import type { GatewayRecord } from '../../src/reconciliation/records.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { authorizedPayment } from '../support/reconciledPayments.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';

const GW = 'sim-learned';
const T0 = Date.UTC(2026, 11, 2, 9);
const available = await postgresAvailable();
if (!available) {
  if (process.env.CI === 'true') throw new Error('PostgreSQL (127.0.0.1:5432) is unreachable and CI=true: this test must run');
  console.warn('SKIPPED test/integration/reconciliation-learned.test.ts: PostgreSQL is unreachable at 127.0.0.1:5432');
}

describe.skipIf(!available)('what the scored matcher learned, across a restart (PostgreSQL)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let store: SqlStore;
  let merchant: string;
  const log: GatewayRecord[] = [];
  const runtime: Runtime = { clock: { now: () => T0 + 6 * 3_600_000 }, timers: systemTimers, random: seededRandom(7) };
  const connector: GatewayConnector = {
    name: GW,
    async execute() {
      throw new Error('this test schedules no remediation');
    },
    async status() {
      return { found: false };
    },
    async transactions(_since, cursor): Promise<TransactionLogPage> {
      const from = cursor === null ? 0 : Number(cursor);
      return { ok: true, records: log.slice(from).map((record) => ({ record, raw: { id: record.id } })), rejected: [], nextCursor: String(log.length), hasMore: false };
    },
  };
  const reconciler = (s: SqlStore) => new Reconciler({ store: s, gateways: { names: [GW], connector: () => connector }, runtime, owner: 'test' });



  const paymentId = (i: number) => `pay_${i.toString(36).padStart(3, '0')}q7mz2xw4hn6pcr5d8k`;

  beforeAll(async () => {
    database = await createTestDatabase('idem_recon_learned');
    db = openPostgres(database.url, { max: 2 });
    await migrate(db);
    store = new SqlStore(db);
    merchant = (await createMerchant(store, cryptoRandom, 'learned')).id;
    // Idem's own records, keyed, in busy minutes: pairs of payments a few seconds apart with
    // close amounts, so each keyed record has other candidates the model learns are not it.
    for (let i = 0; i < 40; i++) {
      const id = paymentId(i);
      const at = T0 + Math.floor(i / 2) * 60_000 + (i % 2) * 4_000;
      const amount = 1_000 + 10 * Math.floor(i / 2) + (i % 2);
      await authorizedPayment(store, { id, merchantId: merchant, gateway: GW, amount, at });
      log.push({ id: `txn_${id}`, gateway: GW, operation: 'authorize', status: 'succeeded', amount, currency: 'EUR', at: at + 300, gatewayKey: `${id}.authorize.1`, transactionId: `txn_${id}`, authorizationId: `auth_${id}`, reference: id, merchantId: merchant });
    }
    // One line that lost its key: the loop learns in the passes that have some to score.
    const early = paymentId(50);
    await authorizedPayment(store, { id: early, merchantId: merchant, gateway: GW, amount: 2_222, at: T0 + 25 * 60_000 });
    log.push(settlementLine('stl_0000', early, 2_222, T0 + 25 * 60_000 + 60_000));
  });

  /** A settlement file's line for `id`: no key, no id Idem knows, the reference rewritten. */
  function settlementLine(lineId: string, id: string, amount: number, at: number): GatewayRecord {
    return { id: lineId, gateway: GW, operation: 'authorize', status: 'succeeded', amount, currency: 'EUR', at, transactionId: lineId, reference: `INV/${id.slice(4).toUpperCase()}`, merchantId: merchant };
  }

  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it('a second process on the same database starts from the stored weights, not the priors', async () => {
    expect(await store.loadMatchModel(LOOP_MODEL)).toBeNull();
    const first = await reconciler(store).runPass();
    expect(first.gateways[0]).toMatchObject({ fetched: 41, staged: 41 });
    const learned = await store.loadMatchModel(LOOP_MODEL);
    expect(learned).not.toBeNull();
    expect(learned!.counts).not.toEqual(PRIOR);
    // The staged records kept the merchant their gateway named.
    expect(new Set((await store.listStagedRecords(GW)).map((r) => r.merchantId))).toEqual(new Set([merchant]));

    // The process goes away; a new one opens the same database.
    await db.close();
    db = openPostgres(database.url, { max: 2 });
    store = new SqlStore(db);

    // A new payment, and its settlement-file line: no key, no ids Idem knows, the reference rewritten.
    const filed = paymentId(99);
    const at = T0 + 30 * 60_000;
    await authorizedPayment(store, { id: filed, merchantId: merchant, gateway: GW, amount: 4_321, at });
    const line = settlementLine('stl_0001', filed, 4_321, at + 90_000);
    log.push(line);

    // Against the priors alone the line is too uncertain to call.
    const facts = await store.reconciliationFacts({ references: [], authorizationIds: [], gatewayKeys: [], attemptsAt: { gateway: GW, from: at - 900_000, to: at + 900_000 } });
    expect(classify([line], facts.payments, facts.attempts, exactThenScored())[0]!.verdict).toMatchObject({ kind: 'case', class: 'match_review' });

    const second = await reconciler(store).runPass();
    expect(second.gateways[0]).toMatchObject({ fetched: 1, matched: 1, casesOpened: 0, reviewCases: 0 });
    const settled = (await store.listStagedRecords(GW)).find((r) => r.id === 'stl_0001')!;
    expect(settled).toMatchObject({ verdict: 'consistent', matchedAttemptId: `att_${filed}`, merchantId: merchant, matchEvidence: { rule: 'scored' } });
    expect(settled.matchEvidence!.probability).toBeGreaterThanOrEqual(0.999);
    // Its reference weight is the one learned before the restart, not the prior's.
    const before = modelFromCounts(learned!.counts);
    const prior = modelFromCounts(PRIOR);
    const full = 0; // the reference feature's first level: 'full'
    expect(settled.matchEvidence!.features!.reference).toMatchObject({ value: 'full' });
    expect(before.levelWeights[2]![full]).toBeGreaterThan(prior.levelWeights[2]![full]! + 1);
    // What the second process learned on top is stored in turn.
    expect((await store.loadMatchModel(LOOP_MODEL))!.updatedAt).toBeGreaterThanOrEqual(learned!.updatedAt);
  }, 60_000);
});
