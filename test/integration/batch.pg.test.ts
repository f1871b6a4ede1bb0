import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/database.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { waitUntil } from '../support/payments.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';

/**
 * A round's batch statement (src/store/sql/batch.ts) takes the key's row lock before the
 * payment's, the order a transaction's guard takes them in, so a takeover's transaction and a
 * batch can't deadlock: with the key's row held elsewhere, the batch waits without holding
 * the payment.
 */
describe.skipIf(!(await postgresAvailable()))('a batch statement on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Database;
  let store: SqlStore;
  let other: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase('idem_batch');
    db = openPostgres(database.url);
    await migrate(db);
    store = new SqlStore(db);
    other = new pg.Client({ connectionString: database.url });
    await other.connect();
  });
  afterAll(async () => {
    await other?.end();
    await db?.close();
    await database?.drop();
  });

  it('waits on the key row before it locks the payment, then lands', async () => {
    const t = Date.UTC(2031, 0, 1);
    await store.insertMerchant({ id: 'mer_b', name: 'b', keyHash: 'hash_b', keyPrefix: 'sk_test' });
    const claim = await store.claimKey({ merchantId: 'mer_b', key: 'k', method: 'POST', path: '/v1/payments', fingerprint: 'f' }, t, 30_000);
    if (claim.kind !== 'owned') throw new Error('not owned');
    const at = new Date(t);
    const payment = { id: 'pay_b', merchant_id: 'mer_b', amount: 1000, currency: 'EUR', capture_method: 'manual' as const, status: 'processing' as const, token: 'tok_visa', reference: null, metadata: {}, preferred_gateway: null, gateway: 'sim-a', idempotency_key: 'k', created_at: at, updated_at: at };
    const attempt = { id: 'att_b', payment_id: 'pay_b', operation: 'authorize' as const, attempt_no: 1, gateway: 'sim-a', gateway_key: 'pay_b.authorize.1', amount: 1000, idempotency_key: 'k', created_at: at };
    const opened = (await store.openPayment({ key: { merchantId: 'mer_b', key: 'k', fence: claim.fence, now: t, leaseMs: 30_000 }, payment, attempt, runAfter: at, events: [] }))!;

    await other.query('BEGIN');
    await other.query(`SELECT 1 FROM idempotency_keys WHERE merchant_id = 'mer_b' AND key = 'k' FOR UPDATE`);
    const now = new Date(t + 1);
    const p = opened.payment;
    const batch = store.writeBatch([
      { op: 'guardKey', merchantId: 'mer_b', key: 'k', fence: claim.fence, now: t + 1, leaseMs: 30_000 },
      { op: 'recordAttempt', attempt: opened.attempt, result: { status: 'succeeded', gatewayReference: 'ref' }, now },
      { op: 'postEntry', paymentId: p.id, currency: p.currency, event: { kind: 'authorize', amount: 1000 }, now },
      { op: 'updatePayment', current: p, changes: { status: 'authorized', amount_authorized: 1000, authorization_id: 'ref' }, now },
      { op: 'completeKey', merchantId: 'mer_b', key: 'k', fence: claim.fence, response: { status: 201, contentType: 'application/json', body: '{}' }, now: t + 1, ttlMs: 3_600_000 },
    ]);
    // The batch is waiting on the key: once it shows as waiting, the payment must still be free.
    const probe = new pg.Client({ connectionString: database.url });
    await probe.connect();
    try {
      await waitUntil('the batch waits on the key’s lock', async () => {
        const { rows } = await probe.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        return rows[0].n > 0;
      });
      await probe.query('BEGIN');
      const free = await probe.query(`SELECT id FROM payments WHERE id = 'pay_b' FOR UPDATE NOWAIT`);
      expect(free.rows).toEqual([{ id: 'pay_b' }]);
      await probe.query('ROLLBACK');
    } finally {
      await probe.end();
    }
    await other.query('COMMIT');
    expect(await batch).toBe(true);
    expect(await store.findPayment('mer_b', 'pay_b')).toMatchObject({ status: 'authorized', version: 1 });
    expect(await store.readKey('mer_b', 'k')).toMatchObject({ state: 'completed' });
  });
});
