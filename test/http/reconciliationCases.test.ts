import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { ReconciliationCase } from '../../src/api/routes/reconciliation.js';
import { loadConfig } from '../../src/config/config.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import type { NewCase } from '../../src/reconciliation/cases.js';
import { MemoryStore } from '../../src/store/memory/index.js';

/**
 * `/v1/reconciliation/cases` in-process: a merchant lists, reads and resolves only its own
 * cases; a case no merchant owns is nobody's on the API (the operator's, through the CLI); the
 * resolve POST is idempotent like every POST, and its event joins the payment's timeline.
 */
describe('reconciliation cases API', () => {
  let idem: Idem;
  let store: MemoryStore;
  let a: NewMerchant;
  let b: NewMerchant;
  let paymentOfA: string;

  const call = (m: NewMerchant, method: 'GET' | 'POST', url: string, key?: string, payload?: Record<string, unknown>) =>
    idem.app.inject({ method, url, headers: { authorization: `Bearer ${m.apiKey}`, ...(key ? { 'idempotency-key': key } : {}) }, ...(payload ? { payload } : {}) });
  const newCase = (id: string, merchantId: string | null, paymentId: string | null): NewCase => ({
    id,
    dedupe_key: `d-${id}`,
    merchant_id: merchantId,
    payment_id: paymentId,
    gateway: 'sim-a',
    class: 'unrequested_operation',
    team: 'support',
    evidence: { why: 'a capture made outside Idem', gateway_record: { id: 'txn_1', amount: 100 } },
    action: 'adopted',
    action_result: null,
    opened_at: Date.UTC(2026, 11, 1),
  });

  beforeAll(async () => {
    store = new MemoryStore();
    idem = await createIdem(loadConfig({}), { store, relay: false, sweeper: false, reconcile: false });
    a = await createMerchant(store, cryptoRandom, 'a');
    b = await createMerchant(store, cryptoRandom, 'b');
    const created = await call(a, 'POST', '/v1/payments', 'create-1', { amount: 100, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
    paymentOfA = (JSON.parse(created.body) as { id: string }).id;
    await store.openCase(newCase('case_a', a.id, paymentOfA));
    await store.openCase(newCase('case_b', b.id, null));
    await store.openCase(newCase('case_nobody', null, null));
  });
  afterAll(async () => {
    await idem?.close();
  });

  it('lists and reads only the merchant\u2019s own cases', async () => {
    const list = await call(a, 'GET', '/v1/reconciliation/cases?status=open');
    expect(list.statusCode, list.body).toBe(200);
    const data = (JSON.parse(list.body) as { data: unknown[] }).data;
    expect(data.map((c) => (c as { id: string }).id)).toEqual(['case_a']);
    expect(Value.Check(ReconciliationCase, data[0])).toBe(true);
    expect(data[0]).not.toHaveProperty('merchant_id');
    expect((await call(a, 'GET', '/v1/reconciliation/cases/case_a')).statusCode).toBe(200);
    for (const id of ['case_b', 'case_nobody', 'case_none']) {
      const other = await call(a, 'GET', `/v1/reconciliation/cases/${id}`);
      expect(other.statusCode).toBe(404);
      expect(JSON.parse(other.body)).toMatchObject({ code: 'CASE_NOT_FOUND' });
    }
    expect((await call(a, 'GET', '/v1/reconciliation/cases?status=closed')).statusCode).toBe(400);
  });

  it('resolves once: the key replays the answer, another key is 409, another merchant is 404; the event joins the timeline', async () => {
    const url = '/v1/reconciliation/cases/case_a/resolve';
    const first = await call(a, 'POST', url, 'resolve-1', { resolution: 'confirmed with the merchant' });
    expect(first.statusCode, first.body).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ id: 'case_a', status: 'resolved', resolution: 'confirmed with the merchant' });
    const replay = await call(a, 'POST', url, 'resolve-1', { resolution: 'confirmed with the merchant' });
    expect([replay.statusCode, replay.body, replay.headers['idempotent-replayed']]).toEqual([200, first.body, 'true']);
    const again = await call(a, 'POST', url, 'resolve-2', { resolution: 'again' });
    expect([again.statusCode, JSON.parse(again.body).code]).toEqual([409, 'CASE_NOT_OPEN']);
    const foreign = await call(b, 'POST', url, 'resolve-3', { resolution: 'not mine' });
    expect([foreign.statusCode, JSON.parse(foreign.body).code]).toEqual([404, 'CASE_NOT_FOUND']);
    expect((await call(a, 'POST', url, 'resolve-4', {})).statusCode).toBe(400);
    const events = JSON.parse((await call(a, 'GET', `/v1/payments/${paymentOfA}/events`)).body) as { data: Array<{ type: string; data: Record<string, unknown> }> };
    expect(events.data.filter((e) => e.type === 'reconciliation.case_resolved').map((e) => e.data.case_id)).toEqual(['case_a']);
    expect((await store.findCase('case_b'))!.status).toBe('open');
  });
});
