/**
 * Failover across real protocols (docs/gateways.md, "Failover across processors"): the Stripe
 * fake first, the Adyen fake second, both on loopback sockets, Idem in between with its relay.
 * 300 payments go through create, capture and refund while both processors lose answers after
 * executing; a third of the way in, Stripe goes down and new authorizations move to Adyen; it
 * comes back before the end. Every payment ends final; neither processor's own log shows an
 * operation executed twice under Idem's keys, nor a payment authorized twice anywhere (I1); each
 * payment's amounts match what the two logs say executed; 0 Adyen requests break the published
 * document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { AdyenFake } from '../support/adyenFake.js';
import { type StripeFake, startStripeFake } from '../support/stripeFake/server.js';

const PAYMENTS = 300;
const CONCURRENCY = 10;

describe('failover: Stripe (fake) primary, Adyen (fake) secondary', () => {
  const adyen = new AdyenFake();
  let stripe: StripeFake;
  let idem: Idem;
  let store: MemoryStore;
  let merchant: NewMerchant;
  let base: string;

  beforeAll(async () => {
    const adyenUrl = await adyen.start();
    stripe = await startStripeFake();
    process.env.IDEM_TEST_FAILOVER_STRIPE = stripe.secretKey;
    process.env.IDEM_TEST_FAILOVER_ADYEN = JSON.stringify({ api_key: adyen.apiKey, hmac_key: adyen.hmacKey, merchant_account: adyen.merchantAccount });
    store = new MemoryStore();
    const config = loadConfig({
      IDEM_GATEWAYS: JSON.stringify([
        // The fake's search index does not lag: an authorization whose connection closed before
        // the fake read it (Stripe going down) is believed not found after 2 s, not Stripe's 60 s.
        { name: 'stripe', kind: 'stripe', credentials_ref: 'env:IDEM_TEST_FAILOVER_STRIPE', base_url: stripe.url, timeout_ms: 3000, search_settle_ms: 2000, priority: 0 },
        { name: 'adyen', kind: 'adyen', credentials_ref: 'env:IDEM_TEST_FAILOVER_ADYEN', base_url: adyenUrl, timeout_ms: 3000, priority: 1 },
      ]),
      IDEM_RELAY_INTERVAL_MS: '50',
      IDEM_LEASE_MS: '1000',
      PORT: '0',
    });
    idem = await createIdem(config, { store, sweeper: false, reconcile: false });
    merchant = await createMerchant(store, cryptoRandom, 'failover');
    base = await idem.listen();
    adyen.notifyTo(`${base}/v1/gateways/adyen/notifications`);
  });
  afterAll(async () => {
    await idem?.close();
    await adyen.stop();
    await stripe?.close();
    delete process.env.IDEM_TEST_FAILOVER_STRIPE;
    delete process.env.IDEM_TEST_FAILOVER_ADYEN;
  });

  /** Posts until the answer is final: 202 (in flight) and 409 (held too long) are retried with the same key, as a client would. */
  async function settle(path: string, key: string, body: unknown, want: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 60_000;
    for (let i = 0; ; i++) {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const answer = (await res.json()) as Record<string, unknown>;
      if (res.status === want) return answer;
      if ((res.status !== 202 && res.status !== 409) || Date.now() > deadline) throw new Error(`${path} under ${key}: HTTP ${res.status} ${JSON.stringify(answer)}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** i, 1000)));
    }
  }

  async function onePayment(n: number): Promise<string> {
    const created = await settle('/v1/payments', `fo-create-${n}`, { amount: 1000 + n, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } }, 201);
    const id = created.id as string;
    await settle(`/v1/payments/${id}/capture`, `fo-capture-${n}`, {}, 200);
    await settle(`/v1/payments/${id}/refunds`, `fo-refund-${n}`, { amount: 400 }, 200);
    return id;
  }

  it(`${PAYMENTS} payments, lost answers on both, Stripe down mid-traffic: all final, I1 in both logs`, async () => {
    const ids: string[] = [];
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < PAYMENTS) {
        const n = next++;
        // Faults on a schedule of payment numbers: lost answers on both sides, Stripe's outage.
        if (n % 20 === 5) adyen.inject('lose_answer');
        if (n % 20 === 10) stripe.setFaults({ loseAnswers: true });
        if (n % 20 === 11) stripe.setFaults({ loseAnswers: false });
        if (n === 100) await stripe.outage(true);
        if (n === 220) await stripe.outage(false);
        ids.push(await onePayment(n));
        if (ids.length % 50 === 0) console.log(`failover: ${ids.length} payments final after ${Math.round(performance.now() - started)} ms`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    stripe.setFaults({ loseAnswers: false });
    await adyen.settled();

    const payments = await Promise.all(ids.map(async (id) => (await store.findPayment(merchant.id, id))!));
    expect(payments.filter((p) => p.status !== 'partially_refunded').map((p) => `${p.id} ${p.status}`)).toEqual([]);
    const byGateway: Record<string, number> = {};
    for (const p of payments) byGateway[p.gateway ?? 'none'] = (byGateway[p.gateway ?? 'none'] ?? 0) + 1;
    console.log(`failover: authorized by ${JSON.stringify(byGateway)}`);
    // Stripe, first in the list, authorized some; how many depends on what the health model
    // learned from its lost answers and its outage (under a CPU hog, once, 20 of 300 were
    // Stripe's: the model kept new authorizations on Adyen outside the outage too — a loaded
    // machine loses more answers in each fault window). The outage covers 120 payments, which
    // only Adyen could authorize.
    expect(byGateway.stripe ?? 0).toBeGreaterThan(0);
    expect(byGateway.adyen ?? 0).toBeGreaterThan(50);

    // I1 in each processor's own log: no gateway key executed twice.
    const stripeLog = stripe.log();
    const twice = (keys: string[]) => keys.filter((k, i) => keys.indexOf(k) !== i);
    expect(twice(stripeLog.map((e) => e.gatewayKey))).toEqual([]);
    expect(twice(adyen.log.map((e) => e.idempotency_key))).toEqual([]);
    // Per payment, across both logs: one successful authorization, and what executed is what Idem recorded.
    const executed = [
      ...stripeLog.filter((e) => e.status === 'succeeded').map((e) => ({ key: e.gatewayKey, operation: e.operation, amount: e.amount })),
      ...adyen.log.filter((e) => e.status === 'succeeded').map((e) => ({ key: e.idempotency_key, operation: e.operation, amount: e.amount })),
    ];
    for (const p of payments) {
      const mine = executed.filter((e) => e.key.startsWith(`${p.id}.`));
      const authorizations = mine.filter((e) => e.operation === 'authorize').length;
      if (authorizations !== 1) {
        // Say how it happened: the payment's attempts as Idem recorded them, and what each log holds.
        const attempts = (await store.listAttempts(p.id)).map((a) => `${a.attempt_no} ${a.operation} ${a.gateway} ${a.gateway_key} ${a.status}`);
        const requests = stripe.requests().filter((r) => r.idempotencyKey?.startsWith(`${p.id}.`) ?? false);
        console.error(`failover: ${p.id} authorized ${authorizations} times`, { attempts, executed: mine, stripeRequests: requests });
      }
      const sum = (op: string) => mine.filter((e) => e.operation === op).reduce((s, e) => s + e.amount, 0);
      expect({ id: p.id, authorizations, captured: sum('capture'), refunded: sum('refund') }).toEqual({
        id: p.id,
        authorizations: 1,
        captured: p.amount_captured,
        refunded: p.amount_refunded,
      });
    }
    // The ledger against both processors' own logs (I4).
    const stripeEntries = stripeLog.map((e) => ({ id: e.objectId, idempotency_key: e.gatewayKey, operation: e.operation, amount: e.amount, currency: e.currency.toUpperCase(), reference: e.gatewayKey.replace(/\.[a-z]+\.[0-9]+$/, ''), status: e.status }));
    expect((await verifyLedger(store, [...stripeEntries, ...adyen.log])).differences).toEqual([]);
    expect(adyen.violations, 'Adyen requests that break the published document').toEqual([]);
  }, 400_000);
});
