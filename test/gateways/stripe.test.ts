/**
 * The Stripe connector over real sockets against the local Stripe fake: what the connector
 * contract does not cover — Stripe's idempotency semantics (a saved 500, a key reused with
 * other parameters, a key in use), rate limits, search lag, metadata, the reconciliation source
 * (voids included).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config.js';
import { Secret } from '../../src/gateways/credentials.js';
import { type GatewayConnector, type GatewayRequest, gatewayKey } from '../../src/gateways/port.js';
import { createStripeConnector, type StripeConnectorOptions } from '../../src/gateways/stripe/connector.js';
import { toVoidRecords } from '../../src/gateways/stripe/transactions.js';
import { systemClock } from '../../src/ports/clock.js';
import { type StripeFake, startStripeFake } from '../support/stripeFake/server.js';

let fake: StripeFake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function setup(options: Partial<StripeConnectorOptions> = {}): Promise<{ fake: StripeFake; stripe: GatewayConnector; bugs: string[] }> {
  fake = await startStripeFake();
  const bugs: string[] = [];
  const stripe = createStripeConnector({ name: 'stripe', secret: new Secret(fake.secretKey), baseUrl: fake.url, timeoutMs: 2_000, clock: systemClock, onBug: (_g, r) => bugs.push(r), ...options });
  return { fake, stripe, bugs };
}

const authorize = (payment: string, amount = 1000): GatewayRequest => ({ operation: 'authorize', gatewayKey: gatewayKey(payment, 'authorize', 1), amount, currency: 'EUR', reference: payment, token: 'tok_visa' });

/** Asks until the lookup is no longer unknown; bounded, says what it waited for. */
async function settledStatus(stripe: GatewayConnector, key: string) {
  for (let i = 0; i < 200; i++) {
    const looked = await stripe.status(key);
    if (looked.found !== 'unknown') return looked;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`status(${key}) stayed unknown after 200 asks`);
}

describe('Stripe connector on the local fake', () => {
  it('sends the gateway key as Idempotency-Key and Idem ids as metadata', async () => {
    const { fake, stripe } = await setup();
    const request = authorize('pay_meta');
    const outcome = await stripe.execute(request, undefined, { metadata: { attempt_id: 'att_1', payment_id: 'pay_meta' } });
    expect(outcome).toMatchObject({ class: 'success' });
    expect(fake.requests().find((r) => r.method === 'POST')).toMatchObject({ path: '/v1/payment_intents', idempotencyKey: request.gatewayKey });
    const pi = await settledStatus(stripe, request.gatewayKey);
    expect(pi).toMatchObject({ found: true });
    const [entry] = fake.log();
    expect(entry).toMatchObject({ gatewayKey: request.gatewayKey, operation: 'authorize' });
  });

  it('a 500 saved under the key: re-sending replays it, the lookup resolves it, nothing runs twice', async () => {
    const { fake, stripe } = await setup();
    const request = authorize('pay_500');
    fake.setFaults({ error500: 'after' });
    expect(await stripe.execute(request)).toEqual({ class: 'unknown', reason: 'stripe_500_api_error (saved under the key; resolved by lookup)' });
    fake.setFaults({ error500: false });
    // Stripe keeps the 500 under the key: a re-send cannot tell.
    expect(await stripe.execute(request)).toMatchObject({ class: 'unknown' });
    expect(await stripe.status(request.gatewayKey)).toMatchObject({ found: true, outcome: { class: 'success' } });
    expect(fake.log()).toHaveLength(1);
  });

  it('a 500 saved before anything ran: the lookup says not found once the search index has settled', async () => {
    const { fake, stripe } = await setup({ searchSettleMs: 200 });
    const request = authorize('pay_500b');
    fake.setFaults({ error500: 'before' });
    expect(await stripe.execute(request)).toMatchObject({ class: 'unknown' });
    expect(await stripe.status(request.gatewayKey)).toMatchObject({ found: 'unknown', reason: expect.stringContaining('index lags') });
    expect(await settledStatus(stripe, request.gatewayKey)).toEqual({ found: false });
    expect(fake.log()).toEqual([]);
  });

  it('search lag: unknown (never not-found) until the index shows the PaymentIntent', async () => {
    const { fake, stripe } = await setup({ searchSettleMs: 10_000 });
    const request = authorize('pay_lag');
    fake.setFaults({ loseAnswers: true, searchLagMs: 1500 });
    expect(await stripe.execute(request)).toMatchObject({ class: 'unknown' });
    fake.setFaults({ loseAnswers: false });
    expect(await stripe.status(request.gatewayKey)).toMatchObject({ found: 'unknown' });
    expect(await settledStatus(stripe, request.gatewayKey)).toMatchObject({ found: true, outcome: { class: 'success' } });
    expect(fake.log()).toHaveLength(1);
  });

  it('the same key with other parameters: idempotency_error → unknown, reported as a bug, nothing executed', async () => {
    const { fake, stripe, bugs } = await setup();
    const request = authorize('pay_reuse', 1000);
    expect(await stripe.execute(request)).toMatchObject({ class: 'success' });
    const reused = await stripe.execute({ ...request, amount: 2000 });
    expect(reused).toMatchObject({ class: 'unknown', reason: expect.stringContaining('idempotency_error') });
    expect(bugs).toEqual([expect.stringContaining(request.gatewayKey)]);
    expect(fake.log()).toHaveLength(1);
  });

  it('a key still running: 409 → unknown for the second sender, one execution', async () => {
    const { fake, stripe } = await setup();
    fake.setFaults({ latencyMs: 300 });
    const request = authorize('pay_409');
    const [a, b] = await Promise.all([stripe.execute(request), stripe.execute(request)]);
    expect([a.class, b.class].sort()).toEqual(['success', 'unknown']);
    expect(fake.log()).toHaveLength(1);
  });

  /** A raw server that destroys the first request's connection, then does `then` (close itself, or answer). */
  async function closesFirst(then: 'close' | 'answer'): Promise<{ url: string; arrived: () => number; keys: string[]; stop: () => void }> {
    let arrived = 0;
    const keys: string[] = [];
    const server = createServer((req, res) => {
      arrived += 1;
      keys.push(String(req.headers['idempotency-key']));
      if (arrived === 1) {
        if (then === 'close') server.close();
        req.socket.destroy();
        return;
      }
      // What Stripe replays under the key: the PaymentIntent the first request made.
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'pi_closed', object: 'payment_intent', status: 'requires_capture', amount: 1000, currency: 'eur', metadata: {} }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrived: () => arrived, keys, stop: () => server.close() };
  }
  const onRawServer = (url: string) =>
    createStripeConnector({ name: 'stripe', secret: new Secret('sk_test_idemfake0000000000000000'), baseUrl: url, timeoutMs: 2_000, clock: systemClock });

  it('the connection closes after the request arrived and Stripe then refuses connections: unknown, never "not processed"', async () => {
    // The failover test saw a double authorization from this: stripe-node sent again on its own
    // after ECONNRESET, the second send was refused, and "refused" read as never sent.
    const raw = await closesFirst('close');
    const outcome = await onRawServer(raw.url).execute(authorize('pay_closed'));
    expect({ outcome, arrived: raw.arrived() }).toEqual({ outcome: { class: 'unknown', reason: 'stripe_connection_error_ECONNRESET' }, arrived: 1 });
  });

  it('the connection closes and Stripe is still there: sent once more under the same key, and that answer is the answer', async () => {
    const raw = await closesFirst('answer');
    const outcome = await onRawServer(raw.url).execute(authorize('pay_reset'));
    raw.stop();
    expect({ outcome, arrived: raw.arrived(), keys: raw.keys }).toEqual({
      outcome: { class: 'success', transactionId: 'pi_closed', authorizationId: 'pi_closed' },
      arrived: 2,
      keys: [gatewayKey('pay_reset', 'authorize', 1), gatewayKey('pay_reset', 'authorize', 1)],
    });
  });

  it('429: not processed with Retry-After, nothing executed', async () => {
    const { fake, stripe } = await setup();
    fake.setFaults({ rateLimit: true, retryAfterSeconds: 2 });
    expect(await stripe.execute(authorize('pay_429'))).toEqual({ class: 'not_processed', reason: 'rate_limit', retryAfterMs: 2000 });
    expect(fake.log()).toEqual([]);
  });

  it('a wrong key is refused by Stripe (not processed); a credential that is no Stripe key stops start-up', async () => {
    fake = await startStripeFake();
    const wrong = createStripeConnector({ name: 'stripe', secret: new Secret('sk_test_wrong'), baseUrl: fake.url, timeoutMs: 2_000, clock: systemClock });
    expect(await wrong.execute(authorize('pay_401'))).toMatchObject({ class: 'not_processed' });
    const pasted = 'pk_test_publishable_not_secret';
    try {
      createStripeConnector({ name: 'stripe-eu', secret: new Secret(pasted), timeoutMs: 2_000, clock: systemClock });
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/^gateway "stripe-eu": the credential is not a Stripe secret key/);
      expect((err as Error).message).not.toContain(pasted);
    }
  });

  it('reconciliation: Charges and balance transactions since a cursor — authorizations, captures (gross, fee, net), refunds', async () => {
    const { stripe } = await setup();
    const since = Date.now() - 1000;
    const payment = 'pay_recon';
    const auth = await stripe.execute(authorize(payment, 5000));
    const pi = auth.class === 'success' ? auth.authorizationId! : '';
    const capture = await stripe.execute({ operation: 'capture', gatewayKey: gatewayKey(payment, 'capture', 1), amount: 4000, currency: 'EUR', reference: payment, authorizationId: pi });
    await stripe.execute({ operation: 'refund', gatewayKey: gatewayKey(payment, 'refund', 1), amount: 1500, currency: 'EUR', reference: payment, authorizationId: pi });

    // Page by page (two entries at a time) until the log says there is no more.
    const records = [];
    const raws = [];
    let cursor: string | null = null;
    for (let pages = 0; ; pages++) {
      expect(pages, 'pages read before has_more went false').toBeLessThan(10);
      const page = await stripe.transactions!(since, cursor, 2);
      expect(page).toMatchObject({ ok: true, rejected: [] });
      if (!page.ok) return;
      records.push(...page.records.map((r) => r.record));
      raws.push(...page.records.map((r) => r.raw));
      cursor = page.nextCursor;
      if (!page.hasMore) break;
    }
    const fee = Math.round(4000 * 0.029) + 30;
    // Within one second the two lists' order is Stripe's to choose: compared as a set.
    expect(records).toHaveLength(3);
    expect(records).toEqual(expect.arrayContaining([
      expect.objectContaining({ gateway: 'stripe', operation: 'authorize', status: 'succeeded', amount: 5000, gatewayKey: gatewayKey(payment, 'authorize', 1), authorizationId: pi, reference: payment }),
      expect.objectContaining({
        gateway: 'stripe',
        operation: 'capture',
        status: 'succeeded',
        amount: 4000,
        currency: 'EUR',
        gatewayKey: gatewayKey(payment, 'capture', 1),
        authorizationId: pi,
        reference: payment,
        transactionId: capture.class === 'success' ? capture.transactionId : '',
      }),
      expect.objectContaining({ operation: 'refund', amount: 1500, gatewayKey: gatewayKey(payment, 'refund', 1), authorizationId: pi }),
    ]));
    expect(raws).toContainEqual(expect.objectContaining({ amount: 4000, fee, net: 4000 - fee }));
    // Nothing new since: the cursor stays; something new comes after it.
    const idle = await stripe.transactions!(since, cursor, 10);
    expect(idle).toMatchObject({ ok: true, records: [], nextCursor: cursor, hasMore: false });
    await stripe.execute(authorize('pay_recon2', 700));
    const next = await stripe.transactions!(since, cursor, 10);
    expect(next.ok && next.records.map((r) => [r.record.operation, r.record.amount])).toEqual([['authorize', 700]]);
    expect(await stripe.transactions!(since, 'garbage', 10)).toMatchObject({ ok: false });
  });

  it('reconciliation: a void (a canceled PaymentIntent) is a record under the void\'s gateway key, read from payment_intent.canceled events', async () => {
    const { fake, stripe } = await setup();
    const since = Date.now() - 1000;
    const payment = 'pay_void';
    const auth = await stripe.execute(authorize(payment, 2500));
    const pi = auth.class === 'success' ? auth.authorizationId! : '';
    const voidKey = gatewayKey(payment, 'void', 1);
    expect(await stripe.execute({ operation: 'void', gatewayKey: voidKey, amount: 2500, currency: 'EUR', reference: payment, authorizationId: pi })).toMatchObject({ class: 'success' });

    const page = await stripe.transactions!(since, null, 10);
    expect(page).toMatchObject({ ok: true, rejected: [], hasMore: false });
    if (!page.ok) return;
    expect(page.records.map((r) => r.record)).toEqual(expect.arrayContaining([
      expect.objectContaining({ operation: 'authorize', gatewayKey: gatewayKey(payment, 'authorize', 1), authorizationId: pi }),
      expect.objectContaining({ id: expect.stringMatching(/^evt_/), gateway: 'stripe', operation: 'void', status: 'succeeded', amount: 2500, currency: 'EUR', gatewayKey: voidKey, authorizationId: pi, reference: payment }),
    ]));
    expect(page.records).toHaveLength(2);
    expect(page.nextCursor).toMatch(/^bt:-;ch:ch_\w+;ev:evt_\w+$/);
    expect(fake.requests().filter((r) => r.path === '/v1/events')).not.toHaveLength(0);
    // Read forward: nothing new after the cursor; a cursor from before events were read starts its events at sinceMs.
    expect(await stripe.transactions!(since, page.nextCursor, 10)).toMatchObject({ ok: true, records: [], hasMore: false });
    const old = await stripe.transactions!(since, page.nextCursor!.replace(/;ev:.*$/, ''), 10);
    expect(old.ok && old.records.map((r) => [r.record.operation, r.record.gatewayKey])).toEqual([['void', voidKey]]);
  });

  it('reconciliation: a cancel no request of Idem\'s made (Stripe\'s own, on expiry) is a keyless void; an unreadable event is rejected', () => {
    const pi = { id: 'pi_expired', amount: 900, currency: 'eur', metadata: { idem_payment_id: 'pay_x' }, cancellation_reason: 'automatic' };
    const read = toVoidRecords('stripe', [
      { id: 'evt_1', object: 'event', type: 'payment_intent.canceled', created: 1_700_000_000, data: { object: pi }, request: { id: null, idempotency_key: null } },
      { id: 'evt_2', object: 'event', type: 'payment_intent.canceled', created: 1_700_000_001, data: { object: { id: 'pi_broken' } }, request: null },
      { id: 'evt_3', object: 'event', type: 'charge.succeeded', created: 1_700_000_002, data: { object: {} }, request: null },
    ]);
    expect(read.records.map((r) => r.record)).toEqual([{ id: 'evt_1', gateway: 'stripe', operation: 'void', status: 'succeeded', amount: 900, currency: 'EUR', at: 1_700_000_000_000, authorizationId: 'pi_expired', reference: 'pay_x' }]);
    expect(read.rejected).toEqual([expect.objectContaining({ raw: expect.objectContaining({ id: 'evt_2' }) })]);
  });
});
