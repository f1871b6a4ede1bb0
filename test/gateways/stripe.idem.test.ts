/**
 * Idem configured with `kind: "stripe"` (IDEM_GATEWAYS, credentials_ref) in front of the local
 * Stripe fake: a payment through Idem's own API — authorize, partial capture, refund, or a void —
 * lands in the fake under Idem's gateway keys, each executed once; a reconciliation pass long
 * after the settlement window finds every success in Stripe's log and opens no case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom, systemRuntime } from '../../src/ports/clock.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { type StripeFake, startStripeFake } from '../support/stripeFake/server.js';

describe('Idem in front of Stripe (local fake)', () => {
  let fake: StripeFake;
  let idem: Idem;
  let merchant: NewMerchant;
  let store: MemoryStore;
  /** Idem's clock runs this far ahead of the fake's (a reconciliation pass "days later"). */
  let ahead = 0;

  beforeAll(async () => {
    fake = await startStripeFake();
    process.env.IDEM_TEST_STRIPE_FAKE_KEY = fake.secretKey;
    store = new MemoryStore();
    const config = loadConfig({
      IDEM_GATEWAYS: JSON.stringify([{ name: 'stripe', kind: 'stripe', credentials_ref: 'env:IDEM_TEST_STRIPE_FAKE_KEY', base_url: fake.url, timeout_ms: 5000 }]),
    });
    const runtime = { ...systemRuntime, clock: { now: () => Date.now() + ahead } };
    idem = await createIdem(config, { store, runtime, relay: false, sweeper: false, reconcile: false });
    merchant = await createMerchant(store, cryptoRandom, 'stripe-merchant');
  });
  afterAll(async () => {
    await idem?.close();
    await fake?.close();
    delete process.env.IDEM_TEST_STRIPE_FAKE_KEY;
  });

  const post = (url: string, key: string, payload: Record<string, unknown>) =>
    idem.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': key }, payload });

  it('authorizes, captures part and refunds part, each once at Stripe under its gateway key', async () => {
    const created = await post('/v1/payments', 'st-create-1', { amount: 3000, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
    expect(created.statusCode, created.body).toBe(201);
    const payment = JSON.parse(created.body) as { id: string; status: string };
    expect(payment.status).toBe('authorized');
    const captured = await post(`/v1/payments/${payment.id}/capture`, 'st-capture-1', { amount: 2000 });
    expect(captured.statusCode, captured.body).toBe(200);
    const refunded = await post(`/v1/payments/${payment.id}/refunds`, 'st-refund-1', { amount: 500 });
    expect(refunded.statusCode, refunded.body).toBe(200);
    expect(JSON.parse(refunded.body)).toMatchObject({ amount_captured: 2000, amount_refunded: 500 });

    // Replays answer from Idem; Stripe sees nothing more.
    expect((await post(`/v1/payments/${payment.id}/capture`, 'st-capture-1', { amount: 2000 })).body).toBe(captured.body);
    expect(fake.log().map((e) => [e.operation, e.amount, e.gatewayKey])).toEqual([
      ['authorize', 3000, `${payment.id}.authorize.1`],
      ['capture', 2000, `${payment.id}.capture.1`],
      ['refund', 500, `${payment.id}.refund.1`],
    ]);
  });

  it('a declined card is a declined payment, never retried at Stripe', async () => {
    const created = await post('/v1/payments', 'st-create-2', { amount: 1000, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_chargeDeclinedInsufficientFunds' } });
    expect(created.statusCode, created.body).toBe(402);
    const body = JSON.parse(created.body) as { payment_id: string; payment_status: string; decline_code: string };
    expect(body).toMatchObject({ payment_status: 'declined', decline_code: 'insufficient_funds' });
    expect(fake.log().filter((e) => e.gatewayKey.startsWith(body.payment_id))).toEqual([expect.objectContaining({ status: 'declined' })]);
  });

  it('a void is one cancel at Stripe; a reconciliation pass after the settlement window matches it by its key and opens no case', async () => {
    const created = await post('/v1/payments', 'st-create-3', { amount: 1200, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
    expect(created.statusCode, created.body).toBe(201);
    const payment = JSON.parse(created.body) as { id: string };
    const voided = await post(`/v1/payments/${payment.id}/void`, 'st-void-3', {});
    expect(voided.statusCode, voided.body).toBe(200);
    expect(JSON.parse(voided.body)).toMatchObject({ status: 'voided' });
    expect(fake.log().filter((e) => e.gatewayKey.startsWith(payment.id)).map((e) => [e.operation, e.gatewayKey])).toEqual([
      ['authorize', `${payment.id}.authorize.1`],
      ['void', `${payment.id}.void.1`],
    ]);

    // Two days on (the settlement window is 24 h): every success Idem recorded must be in Stripe's log by now.
    ahead = 2 * 86_400_000;
    const pass = await idem.reconciler.runPass(['stripe']);
    expect(pass.gateways[0]).toMatchObject({ gateway: 'stripe', error: null, rejected: [], casesOpened: 0 });
    expect(await store.listCases({})).toEqual([]);
    // The void is a record Stripe's log gave, settled on Idem's void attempt by its gateway key.
    const facts = await store.reconciliationFacts({ references: [payment.id], authorizationIds: [], gatewayKeys: [] });
    const voidAttempt = facts.attempts.find((a) => a.operation === 'void')!;
    const staged = (await store.listStagedRecords('stripe')).filter((r) => r.reference === payment.id);
    expect(staged.map((r) => [r.operation, r.verdict, r.matchedAttemptId, r.matchEvidence?.rule])).toEqual(expect.arrayContaining([
      ['void', 'consistent', voidAttempt.id, 'gateway_key'],
    ]));
    expect(staged.find((r) => r.operation === 'void')).toMatchObject({ id: expect.stringMatching(/^evt_/), gatewayKey: `${payment.id}.void.1` });
  });
});
