/**
 * Idem configured with `kind: "stripe"` (IDEM_GATEWAYS, credentials_ref) in front of the local
 * Stripe fake: a payment through Idem's own API — authorize, partial capture, refund — lands in
 * the fake under Idem's gateway keys, each executed once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { type StripeFake, startStripeFake } from '../support/stripeFake/server.js';

describe('Idem in front of Stripe (local fake)', () => {
  let fake: StripeFake;
  let idem: Idem;
  let merchant: NewMerchant;

  beforeAll(async () => {
    fake = await startStripeFake();
    process.env.IDEM_TEST_STRIPE_FAKE_KEY = fake.secretKey;
    const store = new MemoryStore();
    const config = loadConfig({
      IDEM_GATEWAYS: JSON.stringify([{ name: 'stripe', kind: 'stripe', credentials_ref: 'env:IDEM_TEST_STRIPE_FAKE_KEY', base_url: fake.url, timeout_ms: 5000 }]),
    });
    idem = await createIdem(config, { store, relay: false, sweeper: false, reconcile: false });
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
});
