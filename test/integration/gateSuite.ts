import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { replayKey } from '../../src/store/redis/keys.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom, systemTimers, type Runtime } from '../../src/ports/clock.js';
import { ControlledGateway } from '../support/controlledGateway.js';

const body = (over: Record<string, unknown> = {}) => ({
  amount: 1000,
  currency: 'EUR',
  capture_method: 'manual',
  payment_method: { type: 'card', token: 'tok_visa' },
  ...over,
});

/**
 * The gate's contract (docs/idempotency.md) through the HTTP API in-process, against whichever
 * database `open` gives: the same suite runs on PostgreSQL and on embedded PGlite.
 */
export function gateSuite(name: string, open: () => Promise<{ db: Database; redisUrl?: string; cleanup: () => Promise<void> } | null>) {
  describe(`idempotency gate (${name})`, () => {
    let env: { db: Database; redisUrl?: string; cleanup: () => Promise<void> } | null = null;
    let idem: Idem;
    // Real time plus a jump the tests control: timers still fire, leases and expiry can be skipped ahead.
    let skipped = 0;
    const runtime: Runtime = { clock: { now: () => Date.now() + skipped }, timers: systemTimers, random: cryptoRandom };
    const gateway = new ControlledGateway('sim-a');
    let keyA = '';
    let keyB = '';

    beforeAll(async () => {
      env = await open();
      if (!env) return;
      await migrate(env.db);
      // IDEM_RESILIENCE static: the cases hold and fail `sim-a` on purpose and expect every
      // payment to reach it; the adaptive model would learn it is down and route around it.
      const config = loadConfig({ IDEM_HOLD_TIMEOUT_MS: '400', IDEM_RESILIENCE: 'static', ...(env.redisUrl ? { REDIS_URL: env.redisUrl } : {}) });
      idem = await createIdem(config, { db: env.db, runtime, sweeper: false, connectors: new Map([['sim-a', gateway]]) });
      keyA = (await createMerchant(new SqlStore(env.db), cryptoRandom, 'A')).apiKey;
      keyB = (await createMerchant(new SqlStore(env.db), cryptoRandom, 'B')).apiKey;
    });
    afterAll(async () => {
      await idem?.close();
      await env?.cleanup();
    });

    const post = (key: string | undefined, payload: unknown, apiKey = keyA, url = '/v1/payments') =>
      idem.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${apiKey}`, ...(key === undefined ? {} : { 'idempotency-key': key }) },
        payload: payload as InjectOptions['payload'],
      });
    const skip = () => env === null;

    it('executes a first request once and replays it byte for byte', async (ctx) => {
      if (skip()) return ctx.skip();
      const first = await post('order-1', body());
      expect(first.statusCode).toBe(201);
      expect(first.headers['idempotent-replayed']).toBe('false');
      const again = await post('order-1', { payment_method: { token: 'tok_visa', type: 'card' }, capture_method: 'manual', currency: 'EUR', amount: 1000 });
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toBe(first.body);
      const { rows } = await env!.db.query('SELECT id FROM payments WHERE idempotency_key = $1', ['order-1']);
      expect(rows).toHaveLength(1);
    });

    it('stores a decline as final and replays the 402', async (ctx) => {
      if (skip()) return ctx.skip();
      const first = await post('order-declined', body({ payment_method: { type: 'card', token: 'tok_decline_insufficient_funds' } }));
      expect(first.statusCode).toBe(402);
      expect(first.json()).toMatchObject({ code: 'PAYMENT_DECLINED', decline_code: 'insufficient_funds' });
      const again = await post('order-declined', body({ payment_method: { type: 'card', token: 'tok_decline_insufficient_funds' } }));
      expect(again.statusCode).toBe(402);
      expect(again.body).toBe(first.body);
      expect(again.headers['content-type']).toContain('application/problem+json');
    });

    it('requires a well-formed key, and such refusals do not consume it', async (ctx) => {
      if (skip()) return ctx.skip();
      expect((await post(undefined, body())).json().code).toBe('IDEM_KEY_MISSING');
      expect((await post('', body())).json().code).toBe('IDEM_KEY_INVALID');
      expect((await post('k'.repeat(256), body())).json().code).toBe('IDEM_KEY_INVALID');
      expect((await post('bad\u0007key', body())).statusCode).toBe(400);
      const invalid = await post('order-2', body({ amount: -5 }));
      expect(invalid.statusCode).toBe(400);
      expect(invalid.json().code).toBe('VALIDATION_FAILED');
      const unknownField = await post('order-2', body({ tip: 5 }));
      expect(unknownField.json().code).toBe('VALIDATION_FAILED');
      const unauth = await post('order-2', body(), 'sk_not_a_key');
      expect(unauth.statusCode).toBe(401);
      expect(unauth.json().code).toBe('AUTH_REQUIRED');
      // The key was never claimed: the same key now runs with a different (valid) body.
      const ok = await post('order-2', body({ amount: 2000 }));
      expect(ok.statusCode).toBe(201);
      expect(ok.json().amount).toBe(2000);
    });

    it('refuses a card number anywhere, stores nothing and keeps the key free', async (ctx) => {
      if (skip()) return ctx.skip();
      const refused = await post('order-pan', body({ reference: 'card 4111 1111 1111 1111' }));
      expect(refused.statusCode).toBe(400);
      expect(refused.json().code).toBe('CARD_DATA_REFUSED');
      expect((await post('order-pan', body({ metadata: { n: '5555555555554444' } }))).json().code).toBe('CARD_DATA_REFUSED');
      expect((await post('4012888888881881', body())).json().code).toBe('CARD_DATA_REFUSED');
      const dump = await env!.db.query<{ t: string }>(
        `SELECT coalesce(string_agg(k::text, ' '), '') AS t FROM idempotency_keys k
          UNION ALL SELECT coalesce(string_agg(p::text, ' '), '') FROM payments p`,
      );
      expect(dump.rows.map((r) => r.t).join(' ')).not.toMatch(/4111 ?1111|5555555555554444|4012888888881881/);
      expect((await post('order-pan', body())).statusCode).toBe(201);
    });

    it('answers 422 IDEM_KEY_REUSED for another body, and nothing runs', async (ctx) => {
      if (skip()) return ctx.skip();
      await post('order-3', body());
      const before = gateway.calls;
      const other = await post('order-3', body({ amount: 1001 }));
      expect(other.statusCode).toBe(422);
      expect(other.json().code).toBe('IDEM_KEY_REUSED');
      expect(gateway.calls).toBe(before);
    });

    it('answers 422 IDEM_KEY_REUSED for the same key on another route', async (ctx) => {
      if (skip()) return ctx.skip();
      const merchant = (await env!.db.query<{ merchant_id: string }>('SELECT merchant_id FROM payments WHERE idempotency_key = $1', ['order-3'])).rows[0]!.merchant_id;
      const { fingerprint } = await import('../../src/idempotency/fingerprint.js');
      const path = '/v1/payments/pay_x/capture';
      await expect(
        idem.gate.execute({ merchantId: merchant, key: 'order-3', method: 'POST', path, fingerprint: fingerprint('POST', path, body()) }, async () => {
          throw new Error('must not run');
        }),
      ).rejects.toMatchObject({ code: 'IDEM_KEY_REUSED' });
    });

    it('scopes keys by merchant: B with A’s key string runs on its own', async (ctx) => {
      if (skip()) return ctx.skip();
      const a = await post('shared-key', body({ amount: 1111 }));
      const b = await post('shared-key', body({ amount: 2222 }), keyB);
      expect(a.statusCode).toBe(201);
      expect(b.statusCode).toBe(201);
      expect(b.headers['idempotent-replayed']).toBe('false');
      expect(b.json().id).not.toBe(a.json().id);
      expect(b.json().amount).toBe(2222);
      // Neither sees the other's payment.
      const cross = await idem.app.inject({ method: 'GET', url: `/v1/payments/${a.json().id}`, headers: { authorization: `Bearer ${keyB}` } });
      expect(cross.statusCode).toBe(404);
      expect(cross.json().code).toBe('PAYMENT_NOT_FOUND');
      const list = await idem.app.inject({ method: 'GET', url: '/v1/payments?limit=100', headers: { authorization: `Bearer ${keyB}` } });
      expect(list.json().data.map((p: { id: string }) => p.id)).toEqual([b.json().id]);
    });

    it('holds a duplicate until the first finishes, then gives it the first’s response', async (ctx) => {
      if (skip()) return ctx.skip();
      gateway.hold();
      const first = post('order-held', body());
      await gateway.waiting(1);
      const dup = post('order-held', body());
      await new Promise((r) => setTimeout(r, 100));
      gateway.release();
      const [r1, r2] = await Promise.all([first, dup]);
      expect(r1.statusCode).toBe(201);
      expect(r2.body).toBe(r1.body);
      expect([r1.headers['idempotent-replayed'], r2.headers['idempotent-replayed']].sort()).toEqual(['false', 'true']);
      expect(gateway.executed.size).toBeGreaterThan(0);
    });

    it('answers 409 IDEM_IN_PROGRESS with Retry-After once the hold times out', async (ctx) => {
      if (skip()) return ctx.skip();
      gateway.hold();
      const first = post('order-slow', body());
      await gateway.waiting(1);
      const dup = await post('order-slow', body());
      expect(dup.statusCode).toBe(409);
      expect(dup.json().code).toBe('IDEM_IN_PROGRESS');
      expect(Number(dup.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      gateway.release();
      expect((await first).statusCode).toBe(201);
      const after = await post('order-slow', body());
      expect(after.headers['idempotent-replayed']).toBe('true');
    });

    it('keeps completed keys for key_ttl, then sweeps them and the key is new again', async (ctx) => {
      if (skip()) return ctx.skip();
      const first = await post('order-ttl', body());
      const merchant = (await env!.db.query<{ merchant_id: string }>('SELECT merchant_id FROM payments WHERE id = $1', [first.json().id])).rows[0]!.merchant_id;
      skipped += 23 * 3600_000;
      expect((await post('order-ttl', body())).body).toBe(first.body);
      expect(await idem.store.readKey(merchant, 'order-ttl')).not.toBeNull();
      skipped += 2 * 3600_000;
      // The Redis entry expires by Redis's own clock, which this test cannot skip ahead.
      if (idem.redis) await idem.redis.del(replayKey(merchant, 'order-ttl'));
      const swept = await idem.store.sweepKeys(runtime.clock.now(), 1000);
      expect(swept).toBeGreaterThan(0);
      expect(await idem.store.readKey(merchant, 'order-ttl')).toBeNull();
      const fresh = await post('order-ttl', body({ amount: 3333 }));
      expect(fresh.statusCode).toBe(201);
      expect(fresh.headers['idempotent-replayed']).toBe('false');
      expect(fresh.json().id).not.toBe(first.json().id);
    });

    it('a new key is claimed by the payment\'s first write; a key whose row expired unswept is claimed the usual way and runs again', async (ctx) => {
      if (skip()) return ctx.skip();
      // Counts the gate's own claims (it calls the store it was given, this one).
      const claimKey = idem.store.claimKey.bind(idem.store);
      let claims = 0;
      idem.store.claimKey = (...args) => (claims++, claimKey(...args));
      ctx.onTestFinished(() => {
        idem.store.claimKey = claimKey;
      });
      const first = await post('order-expired', body());
      expect(first.statusCode).toBe(201);
      expect(claims).toBe(0);
      const merchant = (await env!.db.query<{ merchant_id: string }>('SELECT merchant_id FROM payments WHERE id = $1', [first.json().id])).rows[0]!.merchant_id;
      const row = (await idem.store.readKey(merchant, 'order-expired'))!;
      // Bound to its payment by the write that claimed it (docs/idempotency.md, claim step 5): no separate binding.
      expect(row).toMatchObject({ state: 'completed', resourceId: first.json().id });
      skipped += 25 * 3600_000;
      if (idem.redis) await idem.redis.del(replayKey(merchant, 'order-expired'));
      // Expired but not swept: the first write finds the row and takes nothing; the claim takes the key.
      const again = await post('order-expired', body({ amount: 3334 }));
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('false');
      expect(again.json().id).not.toBe(first.json().id);
      expect(claims).toBe(1);
      const now = (await idem.store.readKey(merchant, 'order-expired'))!;
      expect(now).toMatchObject({ state: 'completed', resourceId: again.json().id });
      expect(now.fence).toBeGreaterThan(row.fence);
      const { rows } = await env!.db.query('SELECT amount FROM payments WHERE merchant_id = $1 AND idempotency_key = $2 ORDER BY amount', [merchant, 'order-expired']);
      expect(rows.map((r) => Number(r.amount))).toEqual([1000, 3334]);
    });

    it('refuses a write carrying a stale fence after a takeover (SQL level)', async (ctx) => {
      if (skip()) return ctx.skip();
      const store = new SqlStore(env!.db);
      const merchant = (await env!.db.query<{ id: string }>("SELECT id FROM merchants WHERE name = 'A'")).rows[0]!.id;
      const req = { merchantId: merchant, key: 'fence-key', method: 'POST', path: '/v1/payments', fingerprint: 'f'.repeat(64) };
      const t0 = runtime.clock.now();
      const a = await store.claimKey(req, t0, 1000);
      expect(a.kind).toBe('owned');
      // While A's lease runs, B cannot take the key.
      expect((await store.claimKey(req, t0 + 500, 1000)).kind).toBe('existing');
      // A's lease ends without renewal: B takes over with a higher fence.
      const b = await store.claimKey(req, t0 + 1500, 1000);
      if (a.kind !== 'owned' || b.kind !== 'owned') throw new Error('expected both claims to own the key in turn');
      expect(b.fence).toBeGreaterThan(a.fence);
      const response = { status: 201, contentType: 'application/json', body: '{"by":"A"}' };
      // Every write carrying A's fence is refused by the database (the statement matches no row).
      expect(await store.transaction((tx) => tx.guardKey(merchant, 'fence-key', a.fence, t0 + 1600, 1000))).toBe(false);
      expect(await store.transaction((tx) => tx.completeKey(merchant, 'fence-key', a.fence, response, t0 + 1600, 3600_000))).toBe(false);
      expect(await store.transaction((tx) => tx.bindKeyResource(merchant, 'fence-key', a.fence, 'pay_zombie'))).toBe(false);
      expect(await store.renewKey(merchant, 'fence-key', a.fence, t0 + 1600, 1000)).toBe(false);
      expect(await store.forgetKey(merchant, 'fence-key', a.fence)).toBe(false);
      expect(await store.transaction((tx) => tx.completeKey(merchant, 'fence-key', b.fence, { ...response, body: '{"by":"B"}' }, t0 + 1600, 3600_000))).toBe(true);
      const row = await store.readKey(merchant, 'fence-key');
      expect(row?.response?.body).toBe('{"by":"B"}');
    });

    it('takes over a key whose owner stopped renewing and resumes its payment', async (ctx) => {
      if (skip()) return ctx.skip();
      // Simulate a dead owner: a claim that created the payment, then vanished.
      const merchant = (await env!.db.query<{ id: string }>("SELECT id FROM merchants WHERE name = 'A'")).rows[0]!.id;
      const { fingerprint } = await import('../../src/idempotency/fingerprint.js');
      const payload = body({ amount: 4242 });
      const req = { merchantId: merchant, key: 'orphan', method: 'POST', path: '/v1/payments', fingerprint: fingerprint('POST', '/v1/payments', payload) };
      gateway.hold();
      const stale = idem.gate.execute(req, async (claim) => {
        return idem.payments.create(merchant, 'orphan', { amount: 4242, currency: 'EUR', captureMethod: 'manual', token: 'tok_visa' }, claim);
      });
      await gateway.waiting(1);
      // The owner is stuck on the gateway and its lease (30 s) runs out: a retry takes the key
      // over and re-sends the same attempt while the stale owner is still waiting.
      skipped += 31_000;
      const retry = post('orphan', payload);
      await gateway.waiting(2);
      gateway.release();
      const [late, taken] = await Promise.allSettled([stale, retry]);
      if (taken.status === "rejected") throw taken.reason;
      if (late.status === "rejected") throw late.reason;
      const res = (taken as PromiseFulfilledResult<Awaited<typeof retry>>).value;
      expect(res.statusCode).toBe(201);
      expect(res.json().amount).toBe(4242);
      const { rows } = await env!.db.query('SELECT id FROM payments WHERE idempotency_key = $1', ['orphan']);
      expect(rows).toHaveLength(1);
      // One gateway execution: the re-send carried the same gateway key.
      const keys = [...gateway.executed.keys()].filter((k) => k.startsWith(res.json().id));
      expect(keys).toEqual([`${res.json().id}.authorize.1`]);
      // The stale owner's write was refused (fence); it waited for the new owner and got its answer.
      expect(late.status).toBe('fulfilled');
      const lateAnswer = (late as PromiseFulfilledResult<Awaited<typeof stale>>).value;
      expect(lateAnswer.replayed).toBe(true);
      expect(lateAnswer.body).toBe(res.body);
    });
  });
}
