import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { expectedBalances, paymentBalances } from '../../src/ledger/ledger.js';
import { verifyLedger, type VerifyReport } from '../../src/ledger/verify.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import type { EventView as PaymentEventView } from '../../src/events/model.js';
import { isEventType } from '../../src/events/catalogue.js';
import type { PaymentView } from '../../src/payments/view.js';
import { cryptoRandom, systemTimers, type Runtime } from '../../src/ports/clock.js';
import { ScriptedGateway } from '../support/scriptedGateway.js';

export interface PaymentsEnv {
  db: Database;
  redisUrl?: string;
  cleanup: () => Promise<void>;
}

const LEASE_MS = 30_000;

const body = (over: Record<string, unknown> = {}) => ({
  amount: 10_000,
  currency: 'EUR',
  capture_method: 'manual',
  payment_method: { type: 'card', token: 'tok_visa' },
  ...over,
});

/**
 * The payment lifecycle (docs/payments.md, docs/errors.md) through the HTTP API in-process, against
 * whichever database `open` gives: statuses and amounts, the events timeline, the journal and
 * `verifyLedger` (with the gateways' own logs), refusals with their codes, declines, failover
 * and recovery of an unknown outcome. Two scripted gateways, `main` then `backup`.
 */
export function paymentsSuite(name: string, open: () => Promise<PaymentsEnv | null>) {
  describe(`payments (${name})`, () => {
    let env: PaymentsEnv | null = null;
    let idem: Idem;
    // Real time plus a jump the tests control: leases can be skipped past.
    let skipped = 0;
    const runtime: Runtime = { clock: { now: () => Date.now() + skipped }, timers: systemTimers, random: cryptoRandom };
    const main = new ScriptedGateway('main');
    const backup = new ScriptedGateway('backup');
    let A: NewMerchant;
    let B: NewMerchant;

    beforeAll(async () => {
      env = await open();
      if (!env) return;
      await migrate(env.db);
      const config = loadConfig({
        IDEM_GATEWAYS: JSON.stringify([
          { name: 'main', kind: 'simulator', priority: 0 },
          { name: 'backup', kind: 'simulator', priority: 1 },
        ]),
        IDEM_LEASE_MS: String(LEASE_MS),
        // The relay runs only when a test calls `runOnce`.
        IDEM_RELAY_INTERVAL_MS: '600000',
        // Each case scripts the gateways' answers and expects the attempts priority routing
        // gives; the scripted failures of earlier cases would teach the adaptive model that
        // `main` is down. The adaptive policy has its own tests (src/resilience, resilience.test.ts).
        IDEM_RESILIENCE: 'static',
        ...(env.redisUrl ? { REDIS_URL: env.redisUrl } : {}),
      });
      idem = await createIdem(config, {
        db: env.db,
        runtime,
        sweeper: false,
        connectors: new Map([
          ['main', main],
          ['backup', backup],
        ]),
      });
      A = await createMerchant(idem.store, cryptoRandom, 'A');
      B = await createMerchant(idem.store, cryptoRandom, 'B');
    });
    afterAll(async () => {
      await idem?.close();
      await env?.cleanup();
    });
    const skip = () => env === null;
    const post = (url: string, key: string, payload: unknown = {}, merchant: NewMerchant = A) =>
      idem.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': key },
        payload: payload as InjectOptions['payload'],
      });
    const get = (url: string, merchant: NewMerchant = A) =>
      idem.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${merchant.apiKey}` } });
    const ok = (res: LightMyRequestResponse, status: number): PaymentView => {
      expect(res.statusCode, res.body).toBe(status);
      return res.json() as PaymentView;
    };
    const create = async (key: string, over: Record<string, unknown> = {}) => ok(await post('/v1/payments', key, body(over)), 201);
    const view = async (id: string) => ok(await get(`/v1/payments/${id}`), 200);
    const events = async (id: string): Promise<PaymentEventView[]> => {
      const res = await get(`/v1/payments/${id}/events`);
      expect(res.statusCode, res.body).toBe(200);
      return (res.json() as { data: PaymentEventView[] }).data;
    };
    const journal = async (id: string) =>
      (
        await env!.db.query<{ event: string; account: string; amount: number }>(
          `SELECT e.event, p.account, p.amount FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id
            WHERE e.payment_id = $1 ORDER BY e.id, p.account`,
          [id],
        )
      ).rows;
    /** The payment's ledger balances, which must also be what its state says they are. */
    const balances = async (p: PaymentView) => {
      const got = paymentBalances(await idem.store.listEntries(p.id));
      expect(got, `balances of ${p.status} payment`).toEqual(expectedBalances(p));
      return got;
    };
    /** The whole ledger against Idem's state and both gateways' logs: no difference at all. */
    const verify = async (): Promise<VerifyReport> => {
      const report = await verifyLedger(idem.store, [...main.log, ...backup.log]);
      expect(report.differences).toEqual([]);
      return report;
    };
    /**
     * Row counts of everything a request could write, and every payment's version. Events
     * about no payment are left out: a gateway's learned health (`gateway.*`) is reported when
     * the model changes its mind, which traffic shared through Redis may make happen at any time.
     */
    const footprint = async () => {
      const { rows } = await env!.db.query(
        `SELECT (SELECT count(*)::int FROM payments) AS payments,
                (SELECT coalesce(sum(version), 0)::int FROM payments) AS versions,
                (SELECT count(*)::int FROM payment_attempts) AS attempts,
                (SELECT count(*)::int FROM payment_events WHERE payment_id IS NOT NULL) AS events,
                (SELECT count(*)::int FROM outbox) AS outbox,
                (SELECT count(*)::int FROM ledger_entries) AS entries,
                (SELECT count(*)::int FROM ledger_postings) AS postings,
                (SELECT count(*)::int FROM idempotency_keys) AS keys`,
      );
      return { ...rows[0], gatewayCalls: main.requests.length + backup.requests.length };
    };
    const attempts = (p: PaymentView) => p.attempts.map((a) => `${a.gateway}:${a.operation}.${a.attempt_no}:${a.amount}:${a.status}`);
    const types = (list: PaymentEventView[]) => list.map((e) => e.type);

    it('manual capture: create → capture part → refund part → refund the rest, with timeline, journal and replays', async (ctx) => {
      if (skip()) return ctx.skip();
      const created = await post('/v1/payments', 'flow-create', body());
      const p0 = ok(created, 201);
      expect(created.headers['idempotent-replayed']).toBe('false');
      const id = p0.id;
      expect(p0).toMatchObject({ status: 'authorized', amount: 10_000, amount_authorized: 10_000, amount_captured: 0, amount_refunded: 0, gateway: 'main' });
      expect(attempts(p0)).toEqual(['main:authorize.1:10000:succeeded']);
      expect(await view(id)).toEqual(p0);
      expect(await balances(p0)).toEqual({ gateway_holds: 10_000, gateway_receivable: 0 });

      const captured = await post(`/v1/payments/${id}/capture`, 'flow-capture', { amount: 6000 });
      const p1 = ok(captured, 200);
      expect(p1).toMatchObject({ status: 'partially_captured', amount_authorized: 10_000, amount_captured: 6000, amount_refunded: 0 });
      expect(await view(id)).toEqual(p1);
      expect(await balances(p1)).toEqual({ gateway_holds: 0, gateway_receivable: 6000 });

      const refunded1 = await post(`/v1/payments/${id}/refunds`, 'flow-refund-1', { amount: 2500 });
      const p2 = ok(refunded1, 200);
      expect(p2).toMatchObject({ status: 'partially_refunded', amount_captured: 6000, amount_refunded: 2500 });
      expect(await balances(p2)).toEqual({ gateway_holds: 0, gateway_receivable: 3500 });

      // No amount: all that is left.
      const refunded2 = await post(`/v1/payments/${id}/refunds`, 'flow-refund-2', {});
      const p3 = ok(refunded2, 200);
      expect(p3).toMatchObject({ status: 'refunded', amount_authorized: 10_000, amount_captured: 6000, amount_refunded: 6000, amount_voided: 0 });
      expect(await view(id)).toEqual(p3);
      expect(await balances(p3)).toEqual({ gateway_holds: 0, gateway_receivable: 0 });
      expect(attempts(p3)).toEqual([
        'main:authorize.1:10000:succeeded',
        'main:capture.1:6000:succeeded',
        'main:refund.1:2500:succeeded',
        'main:refund.2:3500:succeeded',
      ]);
      expect(p3.attempts.map((a) => a.gateway_key)).toEqual([`${id}.authorize.1`, `${id}.capture.1`, `${id}.refund.1`, `${id}.refund.2`]);

      const timeline = await events(id);
      expect(types(timeline)).toEqual([
        'payment.created', 'attempt.started', 'attempt.succeeded', 'payment.authorized',
        'payment.capturing', 'attempt.started', 'attempt.succeeded', 'payment.partially_captured',
        'payment.refunding', 'attempt.started', 'attempt.succeeded', 'payment.partially_refunded',
        'payment.refunding', 'attempt.started', 'attempt.succeeded', 'payment.refunded',
      ]);
      expect(timeline.filter((e) => e.type === 'attempt.started').map((e) => e.metadata.gateway_key)).toEqual(p3.attempts.map((a) => a.gateway_key));
      expect(timeline.filter((e) => e.type === 'attempt.succeeded').map((e) => e.metadata.attempt_id)).toEqual(p3.attempts.map((a) => a.id));
      expect(timeline[0]!.data).toMatchObject({ payment: { id, idempotency_key: 'flow-create', amount: 10_000, currency: 'EUR', status: 'processing' } });
      // Every event carries the standard metadata, its sequence and its payment (docs/events.md).
      expect(timeline.map((e) => e.sequence)).toEqual(timeline.map((_, i) => i + 1));
      for (const e of timeline) expect(isEventType(e.type), e.type).toBe(true);
      for (const e of timeline) expect(e.metadata).toMatchObject({ merchant_id: expect.any(String), payment_id: id, idempotency_key: expect.any(String) });
      expect(timeline.find((e) => e.type === 'payment.refunded')!.data).toMatchObject({ payment: { status: 'refunded', amount_refunded: 6_000 } });
      const times = timeline.map((e) => Date.parse(e.created_at));
      expect(times).toEqual([...times].sort((a, b) => a - b));

      // The journal: one balanced entry per money movement, in order.
      const [, captureAttempt, refund1, refund2] = p3.attempts;
      expect(await journal(id)).toEqual([
        { event: 'authorize', account: 'gateway_holds', amount: 10_000 },
        { event: 'authorize', account: 'holds_outstanding', amount: -10_000 },
        { event: `capture:${captureAttempt!.id}`, account: 'gateway_holds', amount: -10_000 },
        { event: `capture:${captureAttempt!.id}`, account: 'gateway_receivable', amount: 6000 },
        { event: `capture:${captureAttempt!.id}`, account: 'holds_outstanding', amount: 10_000 },
        { event: `capture:${captureAttempt!.id}`, account: 'merchant_payable', amount: -6000 },
        { event: `refund:${refund1!.id}`, account: 'gateway_receivable', amount: -2500 },
        { event: `refund:${refund1!.id}`, account: 'merchant_payable', amount: 2500 },
        { event: `refund:${refund2!.id}`, account: 'gateway_receivable', amount: -3500 },
        { event: `refund:${refund2!.id}`, account: 'merchant_payable', amount: 3500 },
      ]);
      // The gateway executed each operation once, the follow-ups on the authorization it gave.
      expect(main.callsFor(id).log.map((e) => `${e.operation}:${e.amount}:${e.status}:${e.idempotency_key}`)).toEqual([
        `authorize:10000:succeeded:${id}.authorize.1`,
        `capture:6000:succeeded:${id}.capture.1`,
        `refund:2500:succeeded:${id}.refund.1`,
        `refund:3500:succeeded:${id}.refund.2`,
      ]);
      expect(main.requests.filter((r) => r.gatewayKey.startsWith(id) && r.operation !== 'authorize').map((r) => r.authorizationId)).toEqual([
        `auth_main_${id}`,
        `auth_main_${id}`,
        `auth_main_${id}`,
      ]);
      const report = await verify();
      expect(report.inFlight).not.toContain(id);

      // Every step replays byte for byte and moves nothing.
      const before = await footprint();
      for (const [url, key, payload, first] of [
        ['/v1/payments', 'flow-create', body(), created],
        [`/v1/payments/${id}/capture`, 'flow-capture', { amount: 6000 }, captured],
        [`/v1/payments/${id}/refunds`, 'flow-refund-1', { amount: 2500 }, refunded1],
        [`/v1/payments/${id}/refunds`, 'flow-refund-2', {}, refunded2],
      ] as const) {
        const again = await post(url, key, payload);
        expect(again.statusCode).toBe(first.statusCode);
        expect(again.headers['idempotent-replayed']).toBe('true');
        expect(again.body).toBe(first.body);
      }
      expect(await footprint()).toEqual(before);
    });

    it('voids an authorized payment: the hold is released in the journal', async (ctx) => {
      if (skip()) return ctx.skip();
      const p0 = await create('void-create', { amount: 3000 });
      const voided = ok(await post(`/v1/payments/${p0.id}/void`, 'void-1'), 200);
      expect(voided).toMatchObject({ status: 'voided', amount_authorized: 3000, amount_voided: 3000, amount_captured: 0 });
      expect(attempts(voided)).toEqual(['main:authorize.1:3000:succeeded', 'main:void.1:3000:succeeded']);
      expect(await balances(voided)).toEqual({ gateway_holds: 0, gateway_receivable: 0 });
      expect(types(await events(p0.id)).slice(4)).toEqual(['payment.voiding', 'attempt.started', 'attempt.succeeded', 'payment.voided']);
      expect(await journal(p0.id)).toEqual([
        { event: 'authorize', account: 'gateway_holds', amount: 3000 },
        { event: 'authorize', account: 'holds_outstanding', amount: -3000 },
        { event: 'void', account: 'gateway_holds', amount: -3000 },
        { event: 'void', account: 'holds_outstanding', amount: 3000 },
      ]);
      expect(main.callsFor(p0.id).log.map((e) => `${e.operation}:${e.amount}`)).toEqual(['authorize:3000', 'void:3000']);
      await verify();
    });

    it('captures automatically: authorize then capture in one request, 201 captured', async (ctx) => {
      if (skip()) return ctx.skip();
      const p = await create('auto-create', { amount: 4200, capture_method: 'automatic' });
      expect(p).toMatchObject({ status: 'captured', capture_method: 'automatic', amount_authorized: 4200, amount_captured: 4200 });
      expect(attempts(p)).toEqual(['main:authorize.1:4200:succeeded', 'main:capture.1:4200:succeeded']);
      expect(await balances(p)).toEqual({ gateway_holds: 0, gateway_receivable: 4200 });
      expect(types(await events(p.id))).toEqual([
        'payment.created', 'attempt.started', 'attempt.succeeded', 'attempt.started', 'attempt.succeeded', 'payment.captured',
      ]);
      expect((await journal(p.id)).map((r) => r.event)).toEqual(['authorize', 'authorize', ...Array(4).fill(`capture:${p.attempts[1]!.id}`)]);
      expect(main.callsFor(p.id).log.map((e) => `${e.operation}:${e.amount}`)).toEqual(['authorize:4200', 'capture:4200']);
      // A captured payment refunds in full with no amount.
      const refunded = ok(await post(`/v1/payments/${p.id}/refunds`, 'auto-refund'), 200);
      expect(refunded).toMatchObject({ status: 'refunded', amount_refunded: 4200 });
      expect(await balances(refunded)).toEqual({ gateway_holds: 0, gateway_receivable: 0 });
      await verify();
    });

    it('refuses with 404 / 409 / 422 and their codes, writes nothing, and leaves the key free', async (ctx) => {
      if (skip()) return ctx.skip();
      const authorized = await create('err-authorized', { amount: 5000 });
      const voided = await create('err-voided', { amount: 1000 });
      ok(await post(`/v1/payments/${voided.id}/void`, 'err-voided-void'), 200);
      const captured = await create('err-captured', { amount: 2000 });
      ok(await post(`/v1/payments/${captured.id}/capture`, 'err-captured-capture'), 200);

      const refusals: Array<{ what: string; url: string; key: string; payload?: unknown; merchant?: NewMerchant; status: number; code: string }> = [
        { what: 'capture of a payment that does not exist', url: '/v1/payments/pay_doesnotexist0/capture', key: 'r-404', status: 404, code: 'PAYMENT_NOT_FOUND' },
        { what: "B captures A's payment", url: `/v1/payments/${authorized.id}/capture`, key: 'r-404-b-capture', merchant: B, status: 404, code: 'PAYMENT_NOT_FOUND' },
        { what: "B voids A's payment", url: `/v1/payments/${authorized.id}/void`, key: 'r-404-b-void', merchant: B, status: 404, code: 'PAYMENT_NOT_FOUND' },
        { what: "B refunds A's payment", url: `/v1/payments/${captured.id}/refunds`, key: 'r-404-b-refund', merchant: B, status: 404, code: 'PAYMENT_NOT_FOUND' },
        { what: 'capture of a voided payment', url: `/v1/payments/${voided.id}/capture`, key: 'r-409-capture', status: 409, code: 'PAYMENT_INVALID_STATE' },
        { what: 'void of a captured payment', url: `/v1/payments/${captured.id}/void`, key: 'r-409-void', status: 409, code: 'PAYMENT_INVALID_STATE' },
        { what: 'refund of an uncaptured payment', url: `/v1/payments/${authorized.id}/refunds`, key: 'r-409-refund', status: 409, code: 'PAYMENT_INVALID_STATE' },
        { what: 'capture over the authorization', url: `/v1/payments/${authorized.id}/capture`, key: 'r-422-capture', payload: { amount: 5001 }, status: 422, code: 'AMOUNT_EXCEEDS_AVAILABLE' },
        { what: 'refund over the capture', url: `/v1/payments/${captured.id}/refunds`, key: 'r-422-refund', payload: { amount: 2001 }, status: 422, code: 'AMOUNT_EXCEEDS_AVAILABLE' },
      ];
      const before = await footprint();
      for (const r of refusals) {
        const merchant = r.merchant ?? A;
        for (let i = 0; i < 2; i++) {
          // Refused again the second time too: a refusal is not stored and replayed.
          const res = await post(r.url, r.key, r.payload ?? {}, merchant);
          expect(res.statusCode, `${r.what}: ${res.body}`).toBe(r.status);
          expect(res.headers['content-type']).toContain('application/problem+json');
          expect(res.headers['idempotent-replayed']).toBeUndefined();
          expect(res.json(), r.what).toMatchObject({ status: r.status, code: r.code, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
        }
        expect(await idem.store.readKey(merchant.id, r.key), `${r.what}: key ${r.key}`).toBeNull();
      }
      expect(await footprint()).toEqual(before);

      // B cannot read A's payment either (I5).
      for (const url of [`/v1/payments/${authorized.id}`, `/v1/payments/${authorized.id}/events`]) {
        const res = await get(url, B);
        expect(res.statusCode, url).toBe(404);
        expect(res.json().code).toBe('PAYMENT_NOT_FOUND');
      }
      expect((await get('/v1/payments/pay_doesnotexist0')).json().code).toBe('PAYMENT_NOT_FOUND');
      // ... and A's payments are as they were.
      expect(await view(authorized.id)).toEqual(authorized);

      // Each key, never consumed, now runs a valid request.
      const more = await create('r-404', { amount: 700 });
      expect(more.amount).toBe(700);
      const bOwn = ok(await post('/v1/payments', 'b-create', body({ amount: 800 }), B), 201);
      expect(ok(await post(`/v1/payments/${bOwn.id}/capture`, 'r-404-b-capture', {}, B), 200).status).toBe('captured');
      expect(ok(await post(`/v1/payments/${bOwn.id}/refunds`, 'r-404-b-refund', {}, B), 200).status).toBe('refunded');
      const bOther = ok(await post('/v1/payments', 'b-create-2', body({ amount: 810 }), B), 201);
      expect(ok(await post(`/v1/payments/${bOther.id}/void`, 'r-404-b-void', {}, B), 200).status).toBe('voided');
      expect((await get(`/v1/payments/${bOwn.id}`)).statusCode).toBe(404);
      expect(ok(await post(`/v1/payments/${more.id}/capture`, 'r-409-capture'), 200).status).toBe('captured');
      const another = await create('err-another', { amount: 900 });
      expect(ok(await post(`/v1/payments/${another.id}/void`, 'r-409-void'), 200).status).toBe('voided');
      expect(ok(await post(`/v1/payments/${authorized.id}/capture`, 'r-422-capture', { amount: 5000 }), 200).status).toBe('captured');
      expect(ok(await post(`/v1/payments/${authorized.id}/refunds`, 'r-409-refund', { amount: 1000 }), 200).status).toBe('partially_refunded');
      expect(ok(await post(`/v1/payments/${captured.id}/refunds`, 'r-422-refund', { amount: 2000 }), 200).status).toBe('refunded');
      await verify();
    });

    it('keeps a payment authorized when its capture is declined, and replays the 402', async (ctx) => {
      if (skip()) return ctx.skip();
      const p0 = await create('decl-create', { amount: 7000 });
      main.script('capture', 'decline');
      const declined = await post(`/v1/payments/${p0.id}/capture`, 'decl-capture', { amount: 7000 });
      expect(declined.statusCode, declined.body).toBe(402);
      expect(declined.headers['content-type']).toContain('application/problem+json');
      expect(declined.headers['idempotent-replayed']).toBe('false');
      expect(declined.json()).toMatchObject({ code: 'PAYMENT_DECLINED', status: 402, payment_id: p0.id, decline_code: 'do_not_honor', payment_status: 'authorized' });

      const p1 = await view(p0.id);
      expect(p1).toMatchObject({ status: 'authorized', amount_authorized: 7000, amount_captured: 0 });
      expect(attempts(p1)).toEqual(['main:authorize.1:7000:succeeded', 'main:capture.1:7000:declined']);
      expect(p1.attempts[1]!.decline_code).toBe('do_not_honor');
      expect(await balances(p1)).toEqual({ gateway_holds: 7000, gateway_receivable: 0 });
      expect(types(await events(p0.id)).slice(4)).toEqual(['payment.capturing', 'attempt.started', 'attempt.declined', 'payment.authorized']);

      const calls = main.requests.length;
      const again = await post(`/v1/payments/${p0.id}/capture`, 'decl-capture', { amount: 7000 });
      expect(again.statusCode).toBe(402);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toBe(declined.body);
      expect(main.requests.length).toBe(calls);
      expect(main.unused()).toEqual({});

      // The authorization still stands: a new request captures it, as a new attempt.
      const p2 = ok(await post(`/v1/payments/${p0.id}/capture`, 'decl-capture-2'), 200);
      expect(p2).toMatchObject({ status: 'captured', amount_captured: 7000 });
      expect(attempts(p2)).toEqual(['main:authorize.1:7000:succeeded', 'main:capture.1:7000:declined', 'main:capture.2:7000:succeeded']);
      expect(await balances(p2)).toEqual({ gateway_holds: 0, gateway_receivable: 7000 });
      expect(main.callsFor(p0.id).log.map((e) => `${e.idempotency_key}:${e.status}`)).toEqual([
        `${p0.id}.authorize.1:succeeded`,
        `${p0.id}.capture.1:declined`,
        `${p0.id}.capture.2:succeeded`,
      ]);
      await verify();
    });

    it('answers 402 when an automatic capture is declined, and the authorization stays held', async (ctx) => {
      if (skip()) return ctx.skip();
      main.script('capture', 'decline');
      const first = await post('/v1/payments', 'auto-decl', body({ amount: 3300, capture_method: 'automatic' }));
      expect(first.statusCode, first.body).toBe(402);
      expect(main.unused()).toEqual({});
      const problem = first.json() as { payment_id: string };
      expect(problem).toMatchObject({ code: 'PAYMENT_DECLINED', decline_code: 'do_not_honor', payment_status: 'authorized' });
      const p = await view(problem.payment_id);
      expect(p).toMatchObject({ status: 'authorized', amount_authorized: 3300, amount_captured: 0 });
      expect(attempts(p)).toEqual(['main:authorize.1:3300:succeeded', 'main:capture.1:3300:declined']);
      expect(await balances(p)).toEqual({ gateway_holds: 3300, gateway_receivable: 0 });
      const again = await post('/v1/payments', 'auto-decl', body({ amount: 3300, capture_method: 'automatic' }));
      expect([again.statusCode, again.headers['idempotent-replayed'], again.body]).toEqual([402, 'true', first.body]);
      await verify();
    });

    it('retries a not-processed authorization, then fails over to the next gateway', async (ctx) => {
      if (skip()) return ctx.skip();
      main.script('authorize', 'not_processed', 'not_processed');
      const p = await create('fo-create', { amount: 5500 });
      expect(p).toMatchObject({ status: 'authorized', gateway: 'backup', amount_authorized: 5500 });
      expect(main.unused()).toEqual({});
      expect(attempts(p)).toEqual([
        'main:authorize.1:5500:not_processed',
        'main:authorize.2:5500:not_processed',
        'backup:authorize.3:5500:succeeded',
      ]);
      expect(main.callsFor(p.id)).toEqual({
        requests: [`${p.id}.authorize.1:not_processed`, `${p.id}.authorize.2:not_processed`],
        // Each key is looked up before the next one is used: a copy of it may have executed.
        lookups: [`${p.id}.authorize.1`, `${p.id}.authorize.2`],
        log: [],
      });
      expect(backup.callsFor(p.id).log.map((e) => `${e.operation}:${e.idempotency_key}`)).toEqual([`authorize:${p.id}.authorize.3`]);

      const timeline = await events(p.id);
      expect(types(timeline)).toEqual([
        'payment.created',
        'attempt.started',
        'attempt.not_processed',
        'attempt.started',
        'attempt.retry_scheduled',
        'attempt.not_processed',
        'attempt.started',
        'payment.failover',
        'attempt.succeeded',
        'payment.authorized',
      ]);
      expect(timeline.find((e) => e.type === 'payment.failover')!.data).toMatchObject({ from: 'main', to: 'backup' });
      expect(timeline.filter((e) => e.type === 'attempt.started').map((e) => e.metadata.gateway)).toEqual(['main', 'main', 'backup']);

      // What follows the authorization goes where it stands.
      const captured = ok(await post(`/v1/payments/${p.id}/capture`, 'fo-capture'), 200);
      expect(attempts(captured).at(-1)).toBe('backup:capture.1:5500:succeeded');
      expect(backup.requests.at(-1)).toMatchObject({ operation: 'capture', authorizationId: `auth_backup_${p.id}` });
      expect(main.callsFor(p.id).requests).toHaveLength(2);
      expect(await balances(captured)).toEqual({ gateway_holds: 0, gateway_receivable: 5500 });
      await verify();
    });

    it('looks a "not processed" key up before leaving it: a twin copy that executed is adopted, not repeated', async (ctx) => {
      if (skip()) return ctx.skip();
      // A proxy delivered the request twice: one copy executed, the other was refused.
      main.script('authorize', 'not_processed_twin_executed');
      const p = await create('twin-create', { amount: 4100 });
      expect(p).toMatchObject({ status: 'authorized', gateway: 'main', amount_authorized: 4100 });
      expect(main.unused()).toEqual({});
      expect(attempts(p)).toEqual(['main:authorize.1:4100:succeeded']);
      expect(main.callsFor(p.id).lookups).toEqual([`${p.id}.authorize.1`]);
      expect(main.callsFor(p.id).log).toHaveLength(1);
      expect(backup.callsFor(p.id)).toEqual({ requests: [], lookups: [], log: [] });
      await verify();
    });

    it('keeps a "not processed" key open when its lookup goes unanswered, and never fails over from it', async (ctx) => {
      if (skip()) return ctx.skip();
      main.script('authorize', 'not_processed');
      main.silentLookups = 1;
      const first = await post('/v1/payments', 'twin-silent', body({ amount: 4200 }));
      expect(first.statusCode, first.body).toBe(202);
      const p0 = first.json() as PaymentView;
      expect(attempts(p0)).toEqual(['main:authorize.1:4200:unknown']);
      expect(backup.callsFor(p0.id).requests).toEqual([]);
      // Recovery asks again; the key was never executed, so the payment moves on from there.
      skipped += LEASE_MS + 1000;
      await idem.relay!.runOnce();
      const p1 = await view(p0.id);
      expect(p1.status).toBe('authorized');
      expect(main.callsFor(p0.id).log.length + backup.callsFor(p0.id).log.length).toBe(1);
      await verify();
    });

    it('answers 202 on an unknown outcome, keeps the key open, and recovery finishes it with one execution', async (ctx) => {
      if (skip()) return ctx.skip();
      // The charge happens at the gateway, but its answer is lost.
      main.script('authorize', 'unknown_after');
      const first = await post('/v1/payments', 'unk-create', body({ amount: 6100 }));
      expect(first.statusCode, first.body).toBe(202);
      expect(first.headers['idempotent-replayed']).toBe('false');
      const p0 = first.json() as PaymentView;
      expect(p0).toMatchObject({ status: 'processing', amount_authorized: 0 });
      expect(attempts(p0)).toEqual(['main:authorize.1:6100:unknown']);
      expect(main.unused()).toEqual({});

      // Not stored: the key is still in progress, bound to the payment, with no response.
      const open = await idem.store.readKey(A.id, 'unk-create');
      expect(open).toMatchObject({ state: 'in_progress', resourceId: p0.id, response: null });
      const during = await verifyLedger(idem.store, [...main.log, ...backup.log]);
      expect(during.differences).toEqual([]);
      expect(during.inFlight).toContain(p0.id);

      // The lease ends; recovery (the relay) takes the key over and asks the gateway.
      skipped += LEASE_MS + 1000;
      expect(await idem.relay!.runOnce()).toBeGreaterThanOrEqual(1);
      const p1 = await view(p0.id);
      expect(p1).toMatchObject({ status: 'authorized', amount_authorized: 6100, gateway: 'main' });
      expect(attempts(p1)).toEqual(['main:authorize.1:6100:succeeded']);
      expect(await idem.store.readKey(A.id, 'unk-create')).toMatchObject({ state: 'completed' });

      // The client's retry gets the final answer, replayed, and so does every later one.
      const retry = await post('/v1/payments', 'unk-create', body({ amount: 6100 }));
      expect(retry.statusCode, retry.body).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.json()).toEqual(p1);
      const again = await post('/v1/payments', 'unk-create', body({ amount: 6100 }));
      expect(again.body).toBe(retry.body);

      // Exactly one execution of that gateway key, and no failover while the outcome was unknown.
      expect(main.callsFor(p0.id).log.map((e) => `${e.operation}:${e.idempotency_key}`)).toEqual([`authorize:${p0.id}.authorize.1`]);
      // Asked about, or re-sent, only ever under the first attempt's key.
      expect(new Set(main.callsFor(p0.id).requests.map((r) => r.split(':')[0]))).toEqual(new Set([`${p0.id}.authorize.1`]));
      expect(backup.callsFor(p0.id)).toEqual({ requests: [], lookups: [], log: [] });
      const timeline = types(await events(p0.id));
      expect(timeline).toEqual(['payment.created', 'attempt.started', 'attempt.unknown', 'attempt.succeeded', 'payment.authorized']);
      expect(await balances(p1)).toEqual({ gateway_holds: 6100, gateway_receivable: 0 });
      expect((await verify()).inFlight).toEqual([]);
    });

    it('re-sends a capture whose outcome is unknown with the same gateway key, and replays the final 200', async (ctx) => {
      if (skip()) return ctx.skip();
      const p0 = await create('unk2-create', { amount: 2400 });
      // The request never reached the processor, but Idem cannot tell.
      main.script('capture', 'unknown_before');
      const first = await post(`/v1/payments/${p0.id}/capture`, 'unk2-capture', { amount: 2000 });
      expect(first.statusCode, first.body).toBe(202);
      expect(first.json()).toMatchObject({ status: 'capturing', amount_captured: 0 });
      expect(main.unused()).toEqual({});
      expect(await idem.store.readKey(A.id, 'unk2-capture')).toMatchObject({ state: 'in_progress', response: null });

      skipped += LEASE_MS + 1000;
      expect(await idem.relay!.runOnce()).toBeGreaterThanOrEqual(1);
      const retry = await post(`/v1/payments/${p0.id}/capture`, 'unk2-capture', { amount: 2000 });
      expect(retry.statusCode, retry.body).toBe(200);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      const p1 = retry.json() as PaymentView;
      expect(p1).toMatchObject({ status: 'partially_captured', amount_captured: 2000 });
      expect(attempts(p1)).toEqual(['main:authorize.1:2400:succeeded', 'main:capture.1:2000:succeeded']);
      // Re-sent under the same key (whether or not asked about first): executed once.
      const calls = main.callsFor(p0.id);
      expect(calls.requests).toEqual([`${p0.id}.authorize.1:success`, `${p0.id}.capture.1:unknown`, `${p0.id}.capture.1:success`]);
      expect(calls.log.map((e) => `${e.operation}:${e.amount}:${e.idempotency_key}`)).toEqual([
        `authorize:2400:${p0.id}.authorize.1`,
        `capture:2000:${p0.id}.capture.1`,
      ]);
      expect(await balances(p1)).toEqual({ gateway_holds: 0, gateway_receivable: 2000 });
      expect((await verify()).inFlight).toEqual([]);
    });
  });
}
