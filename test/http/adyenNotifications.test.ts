/**
 * Idem with an Adyen gateway (the local fake, real sockets both ways) over the in-memory store:
 * a capture answered `received` stays `capturing` until its CAPTURE notification arrives at
 * `POST /v1/gateways/adyen/notifications`; an authorisation whose answer was lost is settled by
 * its AUTHORISATION notification with no second authorisation; duplicates and reordering are
 * harmless; and a bad signature, an unknown reference, an oversized or malformed notification
 * each get a clear answer, change nothing and are logged without secrets.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import type { Store } from '../../src/store/port.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';
import { AdyenFake, type NotificationItem } from '../support/adyenFake.js';
import { waitUntil } from '../support/payments.js';

describe('Adyen through Idem: received, then settled by notification', () => {
  const fake = new AdyenFake();
  const logLines: string[] = [];
  let idem: Idem;
  let store: MemoryStore;
  let merchant: NewMerchant;
  let base: string;
  const credentials = () => JSON.stringify({ api_key: fake.apiKey, hmac_key: fake.hmacKey, merchant_account: fake.merchantAccount });

  beforeAll(async () => {
    const adyenUrl = await fake.start();
    process.env.IDEM_TEST_ADYEN_CREDENTIALS = credentials();
    store = new MemoryStore();
    const config = loadConfig({
      IDEM_GATEWAYS: JSON.stringify([{ name: 'adyen', kind: 'adyen', credentials_ref: 'env:IDEM_TEST_ADYEN_CREDENTIALS', base_url: adyenUrl, timeout_ms: 2000, priority: 0 }]),
      IDEM_RELAY_INTERVAL_MS: '50',
      IDEM_LEASE_MS: '1000',
      IDEM_RESILIENCE: 'static',
      PORT: '0',
      HOST: '127.0.0.1',
    });
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (logLines.push(chunk.toString('utf8')), done()) });
    idem = await createIdem(config, { store, sweeper: false, logger: { level: 'info' }, logDestination: sink });
    merchant = await createMerchant(store, cryptoRandom, 'adyen-merchant');
    base = await idem.listen();
    fake.notifyTo(`${base}/v1/gateways/adyen/notifications`);
  });
  afterAll(async () => {
    await idem?.close();
    await fake.stop();
    delete process.env.IDEM_TEST_ADYEN_CREDENTIALS;
  });

  const post = async (path: string, key: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const payment = async (id: string) => (await store.findPayment(merchant.id, id))!;
  const notify = (body: string) => fetch(`${base}/v1/gateways/adyen/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const wrap = (item: NotificationItem) => JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] });

  it('a capture answered "received" stays capturing until its notification, which settles it once even when sent twice', async () => {
    fake.notificationMode = 'auto';
    const created = await post('/v1/payments', 'adyen-create-1', { amount: 2000, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    fake.notificationMode = 'hold';
    const capture = await post(`/v1/payments/${id}/capture`, 'adyen-capture-1', { amount: 1500 });
    expect(capture.status).toBe(202);
    expect((await payment(id)).status).toBe('capturing');
    expect(fake.held.map((n) => n.eventCode)).toEqual(['CAPTURE']);
    await fake.release({ twice: true });
    expect(fake.delivered.slice(-2).map((d) => [d.status, d.body])).toEqual([[200, '[accepted]'], [200, '[accepted]']]);
    await waitUntil('the CAPTURE notification settles the capture', async () => (await payment(id)).status === 'partially_captured');
    expect((await payment(id)).amount_captured).toBe(1500);
    // The key replays the final answer.
    const again = await post(`/v1/payments/${id}/capture`, 'adyen-capture-1', { amount: 1500 });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('partially_captured');
  });

  it('an authorisation whose answer was lost is settled by its AUTHORISATION notification: one authorisation only', async () => {
    fake.notificationMode = 'auto';
    fake.inject('lose_answer');
    const created = await post('/v1/payments', 'adyen-create-lost', { amount: 3100, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    await waitUntil('the lost authorisation is settled', async () => (await payment(id)).status === 'authorized');
    const auths = fake.log.filter((e) => e.reference === id && e.operation === 'authorize');
    expect(auths).toHaveLength(1);
    // Settled by the notification: the authorisation was sent once, never re-sent nor sent elsewhere.
    expect(fake.arrivals.filter((r) => r.path === '/v71/payments' && r.key?.startsWith(`${id}.`))).toHaveLength(1);
    expect((await payment(id)).authorization_id).toBe(auths[0]!.id);
  });

  it('refunds and voids settle the same way, out of order or not; the ledger matches the fake\u2019s own log', async () => {
    fake.notificationMode = 'auto';
    const a = (await post('/v1/payments', 'adyen-create-2', { amount: 1000, currency: 'EUR', capture_method: 'automatic', payment_method: { type: 'card', token: 'tok_visa' } })).body.id as string;
    await waitUntil('automatic capture settles', async () => (await payment(a)).status === 'captured');
    const b = (await post('/v1/payments', 'adyen-create-3', { amount: 700, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } })).body.id as string;
    fake.notificationMode = 'hold';
    expect((await post(`/v1/payments/${a}/refunds`, 'adyen-refund-1', { amount: 400 })).status).toBe(202);
    expect((await post(`/v1/payments/${b}/void`, 'adyen-void-1', {})).status).toBe(202);
    await fake.release({ reverse: true });
    await waitUntil('refund and void settle', async () => (await payment(a)).status === 'partially_refunded' && (await payment(b)).status === 'voided');
    const report = await verifyLedger(store, fake.log);
    expect(report.differences).toEqual([]);
    expect(fake.violations, 'requests that break Adyen\u2019s published document').toEqual([]);
  });

  it('an authorisation no payment owns reaches reconciliation through its notification and is voided once', async () => {
    fake.notificationMode = 'auto';
    const elsewhere = await fetch(`${fake.baseUrl}/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fake.apiKey, 'idempotency-key': 'order-elsewhere-1' },
      body: JSON.stringify({ amount: { value: 4200, currency: 'EUR' }, merchantAccount: fake.merchantAccount, reference: 'order-elsewhere-1', paymentMethod: { type: 'scheme', storedPaymentMethodId: 'tok_visa' }, returnUrl: 'https://shop.example/return' }),
    });
    const psp = ((await elsewhere.json()) as { pspReference: string }).pspReference;
    await fake.settled();
    const pass = await idem.reconciler.runPass(['adyen'], { since: 0 });
    expect(pass.gateways[0]).toMatchObject({ gateway: 'adyen', error: null, remediationsScheduled: 1 });
    await waitUntil('the orphaned authorisation is voided and its CANCELLATION notification stored', async () => {
      await idem.reconciler.runRemediations();
      const remediations = await store.listRemediations('adyen');
      return remediations.some((r) => r.authorization_id === psp && r.state === 'done');
    });
    expect(fake.log.filter((e) => e.operation === 'void' && e.authorization_id === psp)).toHaveLength(1);
  });

  it('refuses a bad signature, malformed and oversized notifications, storing nothing; an unknown reference is stored for reconciliation only', async () => {
    const item = fake.signed({ pspReference: 'QFQTPCQ8HXSKGK82', merchantAccountCode: fake.merchantAccount, merchantReference: 'pay_nobody.capture.1', amount: { value: 100, currency: 'EUR' }, eventCode: 'CAPTURE', eventDate: new Date().toISOString(), success: 'true', originalReference: 'ZZZZZZZZZZZZZZZZ' });
    const forged = fake.signed({ ...item, additionalData: undefined } as unknown as NotificationItem, 'AB'.repeat(32));
    const before = await idem.app.inject({ method: 'GET', url: '/healthz' });
    expect(before.statusCode).toBe(200);

    const bad = await notify(wrap(forged));
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { code: string }).code).toBe('NOTIFICATION_SIGNATURE_INVALID');
    const tampered = await notify(wrap({ ...item, amount: { value: 99999, currency: 'EUR' } }));
    expect(tampered.status).toBe(401);

    const malformed = await notify('{"notificationItems":[{"NotificationRequestItem":{"pspReference":"X"}}]}');
    expect(malformed.status).toBe(400);
    const malformedBody = (await malformed.json()) as { code: string; detail: string };
    expect(malformedBody.code).toBe('VALIDATION_FAILED');
    expect(malformedBody.detail).toMatch(/merchantAccountCode|malformed/);
    const notJson = await notify('not json');
    expect(notJson.status).toBe(400);
    const oversized = await notify(wrap({ ...item, reason: 'x'.repeat(70 * 1024) }));
    expect(oversized.status).toBe(400);
    expect(((await oversized.json()) as { code: string }).code).toBe('VALIDATION_FAILED');
    const nowhere = await fetch(`${base}/v1/gateways/nowhere/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: wrap(item) });
    expect(nowhere.status).toBe(404);
    expect(((await nowhere.json()) as { code: string }).code).toBe('GATEWAY_NOT_FOUND');

    const unknown = await notify(wrap(item));
    expect(unknown.status).toBe(200);
    expect(await unknown.text()).toBe('[accepted]');
    // Stored for reconciliation, settling nothing: no payment has that id.
    expect(await store.findPayment(merchant.id, 'pay_nobody')).toBeNull();
    const page = await idem.gateways.connector('adyen').transactions!(0, null, 1000);
    expect(page.ok && page.records.some((r) => r.record.transactionId === 'QFQTPCQ8HXSKGK82' && r.record.gatewayKey === 'pay_nobody.capture.1')).toBe(true);
    // The refused ones left nothing behind: the one stored is the signed one, once.
    expect(page.ok && page.records.filter((r) => r.record.transactionId === 'QFQTPCQ8HXSKGK82').map((r) => r.record.amount)).toEqual([100]);

    const logs = logLines.join('');
    expect(logs).toContain('notification refused: its HMAC signature does not verify');
    expect(logs).toContain('notification for no attempt Idem recorded');
    for (const secret of [fake.hmacKey, fake.apiKey, String((item.additionalData as { hmacSignature: string }).hmacSignature)]) expect(logs).not.toContain(secret);
  });
});

// A notification wakes the relay: the attempt settles now, not at the relay's next scheduled
// look. The relay is set to sleep ten minutes between looks and the attempt's row to fall due
// only a minute after its `received` answer, so a settlement inside the wait proves the wake-up.
// On the in-memory store, and on PostgreSQL (its outbox UPDATE, and the wake-up over LISTEN/NOTIFY).
const hasPostgres = await postgresAvailable();
describe.each([['in memory'], ['on PostgreSQL']] as const)('Adyen through Idem (%s): a notification wakes the pass that settles its attempt', (where) => {
  const fake = new AdyenFake();
  let idem: Idem;
  let store: Store;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | null = null;
  let merchant: NewMerchant;
  let base: string;

  beforeAll(async () => {
    if (where === 'on PostgreSQL' && !hasPostgres) return;
    if (where === 'on PostgreSQL') database = await createTestDatabase('idem_adyen_wake');
    const adyenUrl = await fake.start();
    process.env.IDEM_TEST_ADYEN_CREDENTIALS_WAKE = JSON.stringify({ api_key: fake.apiKey, hmac_key: fake.hmacKey, merchant_account: fake.merchantAccount });
    const config = loadConfig({
      ...(database ? { DATABASE_URL: database.url } : {}),
      IDEM_GATEWAYS: JSON.stringify([{ name: 'adyen', kind: 'adyen', credentials_ref: 'env:IDEM_TEST_ADYEN_CREDENTIALS_WAKE', base_url: adyenUrl, timeout_ms: 2000, priority: 0 }]),
      IDEM_RELAY_INTERVAL_MS: '600000',
      IDEM_IDLE_MAX_MS: '600000',
      IDEM_LEASE_MS: '60000',
      IDEM_RECONCILE_INTERVAL_MS: '0',
      IDEM_RESILIENCE: 'static',
      PORT: '0',
      HOST: '127.0.0.1',
    });
    idem = await createIdem(config, { ...(database ? {} : { store: new MemoryStore() }), sweeper: false });
    store = idem.store;
    merchant = await createMerchant(store, cryptoRandom, 'adyen-wake');
    base = await idem.listen();
    fake.notifyTo(`${base}/v1/gateways/adyen/notifications`);
  });
  afterAll(async () => {
    await idem?.close();
    await fake.stop();
    await database?.drop();
    delete process.env.IDEM_TEST_ADYEN_CREDENTIALS_WAKE;
  });

  const post = async (path: string, key: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const relayPasses = async () => (await idem.metrics.passes.get()).values.filter((v) => v.labels.pass === 'outbox.relay').reduce((n, v) => n + v.value, 0);

  it.skipIf(where === 'on PostgreSQL' && !hasPostgres)('the CAPTURE notification settles the capture within one relay pass, the capture sent once', { timeout: 60_000 }, async () => {
    fake.notificationMode = 'auto';
    const created = await post('/v1/payments', 'wake-create-1', { amount: 2500, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    fake.notificationMode = 'hold';
    expect((await post(`/v1/payments/${id}/capture`, 'wake-capture-1', { amount: 2500 })).status).toBe(202);
    // The relay's first pass (at start) is done and it sleeps: nothing moves the capture.
    await waitUntil('the relay ran its first pass', async () => (await relayPasses()) >= 1);
    const before = await relayPasses();
    expect((await store.findPayment(merchant.id, id))!.status).toBe('capturing');
    await fake.release();
    await waitUntil('the capture is settled by its notification', async () => (await store.findPayment(merchant.id, id))!.status === 'captured');
    // Woken, not scheduled: one pass (maybe two, a wake-up during a pass runs one more) settled it.
    expect((await relayPasses()) - before).toBeGreaterThanOrEqual(1);
    expect((await relayPasses()) - before).toBeLessThanOrEqual(2);
    // Settled by the stored notification, not by a re-send: Adyen saw the capture once.
    expect(fake.arrivals.filter((r) => r.key === `${id}.capture.1`)).toHaveLength(1);
  });
});
