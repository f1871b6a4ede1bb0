import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { GatewayRecord, LedgerEntry, Overview, WebhookDelivery } from '../../src/api/routes/views.js';
import { loadConfig } from '../../src/config/config.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { MemoryStore } from '../../src/store/memory/index.js';

/**
 * The dashboard's read routes in-process (docs/dashboard.md): a merchant reads its own
 * payment's ledger, webhook deliveries and gateway records, and its overview; another merchant
 * gets 404s. The operator key (IDEM_OPERATOR_KEY) reads across merchants, is scoped by
 * `Idem-Merchant`, and is refused every POST and DELETE with 403 before anything runs.
 */
const OPERATOR_KEY = 'op_test_0123456789abcdefghijklmnopqrstuvwxyz';

describe('dashboard read routes and the operator key', () => {
  let idem: Idem;
  let store: MemoryStore;
  let a: NewMerchant;
  let b: NewMerchant;
  let paymentOfA: string;
  let endpointOfA: string;

  const as = (key: string, method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string> = {}, payload?: Record<string, unknown>) =>
    idem.app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...headers }, ...(payload ? { payload } : {}) });
  const json = (body: string) => JSON.parse(body) as Record<string, unknown> & { data: Array<Record<string, unknown>> };

  beforeAll(async () => {
    store = new MemoryStore();
    idem = await createIdem(loadConfig({ IDEM_OPERATOR_KEY: OPERATOR_KEY, IDEM_WEBHOOK_ALLOW_PRIVATE: '1' }), { store, relay: false, sweeper: false, reconcile: false });
    a = await createMerchant(store, cryptoRandom, 'merchant a');
    b = await createMerchant(store, cryptoRandom, 'merchant b');
    const endpoint = await as(a.apiKey, 'POST', '/v1/webhook_endpoints', { 'idempotency-key': 'we-1' }, { url: 'http://127.0.0.1:9/hooks' });
    expect(endpoint.statusCode, endpoint.body).toBe(201);
    endpointOfA = json(endpoint.body).id as string;
    const created = await as(a.apiKey, 'POST', '/v1/payments', { 'idempotency-key': 'pay-1' }, { amount: 1250, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
    expect(created.statusCode, created.body).toBe(201);
    paymentOfA = json(created.body).id as string;
    await store.positionEvents(new Date(), 1000);
  });
  afterAll(async () => {
    await idem?.close();
  });

  it('a payment\u2019s ledger, deliveries and gateway records: the merchant\u2019s own, schema-shaped; 404 for another merchant', async () => {
    const ledger = await as(a.apiKey, 'GET', `/v1/payments/${paymentOfA}/ledger`);
    expect(ledger.statusCode, ledger.body).toBe(200);
    const entries = json(ledger.body).data;
    expect(entries.map((e) => String(e.event).split(':')[0])).toEqual(['authorize']);
    expect(entries.every((e) => Value.Check(LedgerEntry, e))).toBe(true);

    const deliveries = await as(a.apiKey, 'GET', `/v1/payments/${paymentOfA}/webhook_deliveries`);
    expect(deliveries.statusCode, deliveries.body).toBe(200);
    const rows = json(deliveries.body).data;
    expect(rows.map((d) => d.event_type)).toEqual(expect.arrayContaining(['payment.created', 'payment.authorized']));
    expect(rows.every((d) => Value.Check(WebhookDelivery, d) && d.endpoint_id === endpointOfA && d.state === 'pending')).toBe(true);
    const byEndpoint = await as(a.apiKey, 'GET', `/v1/webhook_endpoints/${endpointOfA}/deliveries?limit=2`);
    expect([byEndpoint.statusCode, json(byEndpoint.body).data.length]).toEqual([200, 2]);

    const records = await as(a.apiKey, 'GET', `/v1/payments/${paymentOfA}/gateway_records`);
    expect(records.statusCode, records.body).toBe(200);
    expect(json(records.body).data.every((r) => Value.Check(GatewayRecord, r))).toBe(true);

    for (const url of [`/v1/payments/${paymentOfA}/ledger`, `/v1/payments/${paymentOfA}/webhook_deliveries`, `/v1/payments/${paymentOfA}/gateway_records`]) {
      const other = await as(b.apiKey, 'GET', url);
      expect([other.statusCode, json(other.body).code], url).toEqual([404, 'PAYMENT_NOT_FOUND']);
      expect(other.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const foreign = await as(b.apiKey, 'GET', `/v1/webhook_endpoints/${endpointOfA}/deliveries`);
    expect([foreign.statusCode, json(foreign.body).code]).toEqual([404, 'WEBHOOK_ENDPOINT_NOT_FOUND']);
    const bad = await as(a.apiKey, 'GET', `/v1/webhook_endpoints/${endpointOfA}/deliveries?limit=500`);
    expect([bad.statusCode, json(bad.body).code]).toEqual([400, 'VALIDATION_FAILED']);
    expect((await idem.app.inject({ method: 'GET', url: `/v1/payments/${paymentOfA}/ledger` })).statusCode).toBe(401);
  });

  it('the overview counts this merchant\u2019s last hour by minute and type, and names its newest event', async () => {
    const mine = await as(a.apiKey, 'GET', '/v1/overview');
    expect(mine.statusCode, mine.body).toBe(200);
    const o = json(mine.body);
    expect(Value.Check(Overview, o)).toBe(true);
    const counts = (o.minutes as Array<{ counts: Record<string, number> }>).reduce<Record<string, number>>((acc, m) => {
      for (const [k, v] of Object.entries(m.counts)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {});
    expect(counts).toMatchObject({ 'payment.created': 1, 'payment.authorized': 1 });
    expect(o).toMatchObject({ scope: 'merchant', window_minutes: 60, open_cases: 0 });
    expect(o.last_event_id).toMatch(/^evt_/);
    const theirs = json((await as(b.apiKey, 'GET', '/v1/overview')).body);
    expect([theirs.minutes, theirs.last_event_id]).toEqual([[], null]);
  });

  it('merchants: a merchant key sees itself; the operator key sees every merchant', async () => {
    expect(json((await as(a.apiKey, 'GET', '/v1/merchants')).body)).toMatchObject({ viewer: 'merchant', data: [{ id: a.id, name: 'merchant a' }] });
    const all = json((await as(OPERATOR_KEY, 'GET', '/v1/merchants')).body);
    expect(all.viewer).toBe('operator');
    expect(all.data.map((m) => m.id).sort()).toEqual([a.id, b.id].sort());
  });

  it('the operator key reads across merchants and, with Idem-Merchant, as one merchant', async () => {
    const overview = json((await as(OPERATOR_KEY, 'GET', '/v1/overview')).body);
    expect(overview.scope).toBe('all_merchants');
    const payment = await as(OPERATOR_KEY, 'GET', `/v1/payments/${paymentOfA}`, { 'idem-merchant': a.id });
    expect([payment.statusCode, json(payment.body).id]).toEqual([200, paymentOfA]);
    const unscoped = await as(OPERATOR_KEY, 'GET', `/v1/payments/${paymentOfA}`);
    expect(unscoped.statusCode).toBe(404);
    const wrong = await as(OPERATOR_KEY, 'GET', '/v1/payments', { 'idem-merchant': 'mer_nobody' });
    expect([wrong.statusCode, json(wrong.body).code]).toEqual([404, 'MERCHANT_NOT_FOUND']);
    // A merchant key's Idem-Merchant header changes nothing: it reads its own payments only.
    const sneaky = await as(b.apiKey, 'GET', `/v1/payments/${paymentOfA}`, { 'idem-merchant': a.id });
    expect(sneaky.statusCode).toBe(404);
  });

  it('the operator key never moves money: every POST and DELETE is 403 OPERATOR_READ_ONLY and changes nothing', async () => {
    const before = json((await as(a.apiKey, 'GET', '/v1/payments')).body).data.length;
    const attempts: Array<[method: 'POST' | 'DELETE', url: string, body?: Record<string, unknown>]> = [
      ['POST', '/v1/payments', { amount: 100, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } }],
      ['POST', `/v1/payments/${paymentOfA}/capture`, {}],
      ['POST', `/v1/payments/${paymentOfA}/void`, {}],
      ['POST', `/v1/payments/${paymentOfA}/refunds`, {}],
      ['POST', `/v1/webhook_endpoints/${endpointOfA}/replay`, { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }],
      ['POST', '/v1/reconciliation/cases/case_x/resolve', { resolution: 'no' }],
      ['DELETE', `/v1/webhook_endpoints/${endpointOfA}`],
    ];
    for (const [method, url, body] of attempts) {
      const res = await as(OPERATOR_KEY, method, url, { 'idem-merchant': a.id, 'idempotency-key': `op-${url}` }, body);
      expect([res.statusCode, json(res.body).code], `${method} ${url}`).toEqual([403, 'OPERATOR_READ_ONLY']);
    }
    expect(json((await as(a.apiKey, 'GET', '/v1/payments')).body).data.length).toBe(before);
    expect((await as(a.apiKey, 'GET', `/v1/webhook_endpoints/${endpointOfA}`)).statusCode).toBe(200);
    expect((await as(a.apiKey, 'GET', `/v1/payments/${paymentOfA}`)).body).toContain('"status":"authorized"');
  });

  it('documents every new route in OpenAPI with an operationId, a tag and problem answers', async () => {
    const doc = json((await idem.app.inject({ method: 'GET', url: '/openapi.json' })).body) as unknown as { paths: Record<string, Record<string, { operationId?: string; tags?: string[]; responses: Record<string, unknown> }>> };
    const ids = {
      '/v1/merchants': 'listMerchants',
      '/v1/overview': 'getOverview',
      '/v1/payments/{id}/ledger': 'listPaymentLedgerEntries',
      '/v1/payments/{id}/webhook_deliveries': 'listPaymentWebhookDeliveries',
      '/v1/payments/{id}/gateway_records': 'listPaymentGatewayRecords',
      '/v1/webhook_endpoints/{id}/deliveries': 'listWebhookEndpointDeliveries',
    };
    for (const [path, operationId] of Object.entries(ids)) {
      const op = doc.paths[path]?.get;
      expect(op?.operationId, path).toBe(operationId);
      expect(op?.tags, path).toEqual(['dashboard']);
      expect(Object.keys(op!.responses), path).toEqual(expect.arrayContaining(['200', '401', '404', 'default']));
    }
    expect(doc.paths['/dashboard']).toBeUndefined();
  });

  it('serves the dashboard bundle offline, gzip when asked, with a policy that loads nothing from elsewhere', async () => {
    const page = await idem.app.inject({ method: 'GET', url: '/dashboard', headers: { 'accept-encoding': 'gzip' } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-encoding']).toBe('gzip');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    const html = (await idem.app.inject({ method: 'GET', url: '/dashboard' })).body;
    expect(html).toContain('/dashboard/app.js');
    expect(html).not.toMatch(/https?:\/\//);
    let total = page.rawPayload.length;
    for (const file of ['app.js', 'app.css']) {
      const res = await idem.app.inject({ method: 'GET', url: `/dashboard/${file}`, headers: { 'accept-encoding': 'gzip' } });
      expect(res.statusCode, file).toBe(200);
      total += res.rawPayload.length;
    }
    // First load: the page, its script and its stylesheet, compressed (docs/dashboard.md).
    expect(total).toBeLessThan(300 * 1024);
    const missing = await idem.app.inject({ method: 'GET', url: '/dashboard/nothing.js' });
    expect([missing.statusCode, json(missing.body).code]).toEqual([404, 'ROUTE_NOT_FOUND']);
  });
});
