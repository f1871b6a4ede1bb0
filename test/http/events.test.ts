/**
 * The event feed and webhook endpoints in-process over the in-memory store (docs/events.md),
 * with webhook receivers on real sockets for what the socket decides: a receiver that hangs,
 * one that answers slowly, one that sends a huge body, one that answers 410. None of them may
 * hold up another endpoint or a payment.
 */
import http from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { Event, NAMED_SCHEMAS, WebhookEndpoint } from '../../src/api/schemas.js';
import { loadConfig } from '../../src/config/config.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { scaled } from '../support/timeScale.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

const payment = { amount: 2500, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } };

describe('event feed and webhook endpoints (API)', () => {
  let idem: Idem;
  let merchant: NewMerchant;
  let other: NewMerchant;

  beforeAll(async () => {
    const store = new MemoryStore();
    // No DNS in tests: example.com is public, localhost is loopback, addresses are themselves.
    const resolveHost = async (host: string) => (host === 'localhost' ? ['127.0.0.1', '::1'] : isIP(host) ? [host] : ['93.184.216.34']);
    idem = await createIdem(loadConfig({ IDEM_EVENTS_INTERVAL_MS: '20' }), { store, relay: false, sweeper: false, resolveHost });
    merchant = await createMerchant(store, cryptoRandom, 'events');
    other = await createMerchant(store, cryptoRandom, 'other');
  });
  afterAll(async () => {
    await idem?.close();
  });

  const as = (m: NewMerchant) => ({ authorization: `Bearer ${m.apiKey}` });
  const post = (url: string, key: string, payload: unknown, m = merchant) => idem.app.inject({ method: 'POST', url, headers: { ...as(m), 'idempotency-key': key }, payload: payload as object });
  const get = (url: string, m = merchant) => idem.app.inject({ method: 'GET', url, headers: as(m) });

  it('refuses endpoint URLs that are not http(s), are over-long, or reach private addresses, with stable codes', async () => {
    const cases: Array<[string, string]> = [
      ['ftp://example.com/hooks', 'WEBHOOK_URL_INVALID'],
      ['not a url', 'WEBHOOK_URL_INVALID'],
      ['https://user:pw@example.com/', 'WEBHOOK_URL_INVALID'],
      [`https://example.com/${'a'.repeat(2100)}`, 'WEBHOOK_URL_INVALID'],
      ['http://127.0.0.1:9/hooks', 'WEBHOOK_URL_PRIVATE'],
      ['http://localhost:9/hooks', 'WEBHOOK_URL_PRIVATE'],
      ['http://[::1]/hooks', 'WEBHOOK_URL_PRIVATE'],
      ['http://169.254.169.254/latest/meta-data', 'WEBHOOK_URL_PRIVATE'],
      ['http://10.0.0.8/hooks', 'WEBHOOK_URL_PRIVATE'],
      ['http://[::ffff:192.168.0.1]/hooks', 'WEBHOOK_URL_PRIVATE'],
    ];
    for (const [i, [url, code]] of cases.entries()) {
      const res = await post('/v1/webhook_endpoints', `bad-${i}`, { url });
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({ code });
    }
    const unknownType = await post('/v1/webhook_endpoints', 'bad-type', { url: 'https://example.com/h', event_types: ['payment.exploded'] });
    expect(unknownType.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await get('/v1/webhook_endpoints')).json()).toEqual({ object: 'list', data: [] });
  });

  it('feed: oldest first, paginated with starting_after and has_more, filtered by type, merchant-scoped', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await post('/v1/payments', `feed-${i}`, payment)).json().id);
    await idem.events!.relay.runOnce();
    const all = (await get('/v1/events?limit=100')).json();
    expect(all.has_more).toBe(false);
    for (const e of all.data) expect(Value.Check(NAMED_SCHEMAS, Event, e)).toBe(true);
    expect(all.data.filter((e: { type: string }) => e.type === 'payment.created').map((e: { payment_id: string }) => e.payment_id)).toEqual(ids);
    const page1 = (await get('/v1/events?limit=2')).json();
    expect(page1).toMatchObject({ has_more: true });
    const page2 = (await get(`/v1/events?limit=2&starting_after=${page1.data[1].id}`)).json();
    expect(page2.data[0].id).toBe(all.data[2].id);
    const created = (await get('/v1/events?type=payment.created,payment.authorized&limit=100')).json();
    expect(new Set(created.data.map((e: { type: string }) => e.type))).toEqual(new Set(['payment.created', 'payment.authorized']));
    expect((await get(`/v1/events/${all.data[0].id}`)).json()).toEqual(all.data[0]);
    expect((await get(`/v1/events/${all.data[0].id}`, other)).json()).toMatchObject({ code: 'EVENT_NOT_FOUND' });
    expect((await get('/v1/events', other)).json().data).toEqual([]);
    expect((await get('/v1/events?starting_after=evt_nope')).json()).toMatchObject({ code: 'EVENT_NOT_FOUND' });
    expect((await get('/v1/events?limit=0')).statusCode).toBe(400);
  });

  it('endpoints: the secret once, list, disable (with an event), enable, rotate, delete; replays are idempotent', async () => {
    const body = { url: 'https://hooks.example.com/idem', event_types: ['payment.captured', 'payment.authorized'] };
    const created = await post('/v1/webhook_endpoints', 'ep-1', body);
    expect(created.statusCode, created.body).toBe(201);
    const ep = created.json();
    expect(Value.Check(NAMED_SCHEMAS, WebhookEndpoint, ep)).toBe(true);
    expect(ep).toMatchObject({ object: 'webhook_endpoint', status: 'enabled', event_types: ['payment.authorized', 'payment.captured'], secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{32}$/) });
    expect((await post('/v1/webhook_endpoints', 'ep-1', body)).body).toBe(created.body);
    const listed = (await get('/v1/webhook_endpoints')).json();
    expect(listed.data).toHaveLength(1);
    expect(listed.data[0].secret).toBeUndefined();
    expect((await get(`/v1/webhook_endpoints/${ep.id}`, other)).json()).toMatchObject({ code: 'WEBHOOK_ENDPOINT_NOT_FOUND' });

    expect((await post(`/v1/webhook_endpoints/${ep.id}/disable`, 'ep-1-off', {})).json()).toMatchObject({ status: 'disabled', disabled_reason: 'disabled by the merchant' });
    await idem.events!.relay.runOnce();
    const disabled = (await get('/v1/events?type=webhook_endpoint.disabled')).json().data;
    expect(disabled).toEqual([expect.objectContaining({ payment_id: null, sequence: null, data: { webhook_endpoint: { id: ep.id, url: body.url }, reason: 'disabled by the merchant' } })]);
    expect((await post(`/v1/webhook_endpoints/${ep.id}/enable`, 'ep-1-on', {})).json()).toMatchObject({ status: 'enabled', disabled_reason: null });
    const rotated = (await post(`/v1/webhook_endpoints/${ep.id}/rotate_secret`, 'ep-1-rot', {})).json();
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(ep.secret);
    expect(Date.parse(rotated.previous_secret_expires_at)).toBeGreaterThan(Date.now() + 23 * 3600_000);
    const replay = await post(`/v1/webhook_endpoints/${ep.id}/replay`, 'ep-1-replay', { from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z' });
    expect(replay.statusCode).toBe(202);
    expect(replay.json()).toMatchObject({ object: 'webhook_replay', queued: 0 });
    expect((await post(`/v1/webhook_endpoints/${ep.id}/replay`, 'ep-1-replay-bad', { from: '2020-01-02T00:00:00Z', to: '2020-01-01T00:00:00Z' })).statusCode).toBe(400);
    expect((await idem.app.inject({ method: 'DELETE', url: `/v1/webhook_endpoints/${ep.id}`, headers: as(merchant) })).json()).toEqual({ id: ep.id, object: 'webhook_endpoint', deleted: true });
    expect((await idem.app.inject({ method: 'DELETE', url: `/v1/webhook_endpoints/${ep.id}`, headers: as(merchant) })).statusCode).toBe(404);
  });
});

describe('receivers that misbehave never hold up other endpoints or payments', () => {
  let idem: Idem;
  let merchant: NewMerchant;
  let good: WebhookReceiver;
  let steps: WebhookReceiver;
  let bad: http.Server;
  let badUrl = '';
  const hanging = new Set<http.ServerResponse>();

  beforeAll(async () => {
    good = await startWebhookReceiver();
    steps = await startWebhookReceiver();
    bad = http.createServer((req, res) => {
      req.resume();
      const path = req.url ?? '';
      if (path.startsWith('/hang')) return void hanging.add(res); // never answers
      if (path.startsWith('/slow')) return void setTimeout(() => res.writeHead(200).end('ok'), 3_000);
      if (path.startsWith('/huge')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 120);
        let sent = 0;
        const pump = () => {
          while (sent < 50 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
          if (sent < 50 * 1024 * 1024 && !res.destroyed) res.once('drain', pump);
          else res.end();
        };
        res.on('close', () => (sent = Infinity));
        return pump();
      }
      if (path.startsWith('/gone')) return void res.writeHead(410).end();
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    badUrl = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
    const store = new MemoryStore();
    idem = await createIdem(loadConfig({ IDEM_WEBHOOK_ALLOW_PRIVATE: '1', IDEM_WEBHOOK_TIMEOUT_MS: '1000', IDEM_EVENTS_INTERVAL_MS: '20', IDEM_WEBHOOK_PER_ENDPOINT: '2' }), { store, relay: false, sweeper: false });
    merchant = await createMerchant(store, cryptoRandom, 'receivers');
  });
  afterAll(async () => {
    for (const res of hanging) res.destroy();
    await idem?.close();
    await good?.close();
    await steps?.close();
    await new Promise((r) => bad?.close(r));
  });

  it('a hanging, a slow, a huge and a gone receiver: the good one gets every merchant-facing event (no attempt.* unless named), payments answer at once', async () => {
    const post = (url: string, key: string, payload: unknown) =>
      idem.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': key }, payload: payload as object });
    for (const kind of ['hang', 'slow', 'huge', 'gone']) expect((await post('/v1/webhook_endpoints', `ep-${kind}`, { url: `${badUrl}/${kind}` })).statusCode).toBe(201);
    // `good` registered without event_types (the merchant-facing events), `steps` naming attempt types.
    const ok = await post('/v1/webhook_endpoints', 'ep-good', { url: good.url });
    good.secret = ok.json().secret;
    const stepsEp = await post('/v1/webhook_endpoints', 'ep-steps', { url: steps.url, event_types: ['attempt.started', 'payment.authorized'] });
    steps.secret = stepsEp.json().secret;

    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await post('/v1/payments', `p-${i}`, payment);
      expect(res.statusCode).toBe(201);
      ids.push(res.json().id);
    }
    // Payments were answered while the hanging receiver held its connections (the delivery worker runs apart).
    expect(hanging.size).toBeGreaterThan(0);
    await idem.events!.relay.runOnce();
    const feed = (await idem.app.inject({ method: 'GET', url: '/v1/events?limit=100', headers: { authorization: `Bearer ${merchant.apiKey}` } })).json().data as Array<{ id: string; type: string; payment_id: string | null }>;
    const paymentEvents = feed.filter((e) => e.payment_id !== null);
    // Driven, not timed: each round claims what is due and waits for every send it started
    // (a hanging receiver's until the 1 s timeout), so a busy machine makes a round slower but
    // never makes the test give up early; the rounds are bounded and say what they waited for.
    const rounds = async (what: string, done: () => boolean | Promise<boolean>) => {
      for (let round = 0; !(await done()); round++) {
        if (round === 30) throw new Error(`gave up after 30 delivery rounds waiting until ${what}`);
        await idem.events!.deliveries.drain();
      }
    };
    const merchantFacing = paymentEvents.filter((e) => !e.type.startsWith('attempt.'));
    const named = paymentEvents.filter((e) => e.type === 'attempt.started' || e.type === 'payment.authorized');
    expect(merchantFacing.length).toBeGreaterThan(0);
    expect(merchantFacing.length).toBeLessThan(paymentEvents.length);
    const received = (r: WebhookReceiver, e: { id: string }) => r.arrivals.some((a) => a.webhookId === e.id && a.status === 200);
    await rounds('the good receiver has every merchant-facing payment event', () => merchantFacing.every((e) => received(good, e)));
    await rounds('the steps receiver has every event of the two types it named', () => named.every((e) => received(steps, e)));
    expect(good.badSignatures).toBe(0);
    // Deliveries are fanned out when events are positioned (above): none other was queued.
    expect(good.arrivals.filter((a) => a.type.startsWith('attempt.'))).toEqual([]);
    expect(new Set(steps.arrivals.map((a) => a.type))).toEqual(new Set(['attempt.started', 'payment.authorized']));
    // The 410 disabled its endpoint, with an event.
    await rounds('the gone endpoint is disabled', async () => {
      const list = (await idem.app.inject({ method: 'GET', url: '/v1/webhook_endpoints', headers: { authorization: `Bearer ${merchant.apiKey}` } })).json().data as Array<{ url: string; status: string }>;
      return list.find((e) => e.url.endsWith('/gone'))?.status === 'disabled';
    });
  }, scaled(120_000));
});

describe('what an endpoint gets, in SQL (PGlite)', () => {
  it('without event_types: payment.* and the rest merchant-facing, no attempt.*; attempt types only when named; replays alike', async () => {
    const idem = await createIdem(loadConfig({ IDEM_DATA_DIR: 'memory://', IDEM_WEBHOOK_ALLOW_PRIVATE: '1' }), { relay: false, sweeper: false });
    try {
      const m = await createMerchant(idem.store, cryptoRandom, 'subscriptions');
      const post = (url: string, key: string, payload: unknown) =>
        idem.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${m.apiKey}`, 'idempotency-key': key }, payload: payload as object });
      // Port 9 (discard): nothing is delivered before the rows are counted.
      const plain = (await post('/v1/webhook_endpoints', 'sub-plain', { url: 'http://127.0.0.1:9/plain' })).json().id as string;
      const named = (await post('/v1/webhook_endpoints', 'sub-named', { url: 'http://127.0.0.1:9/named', event_types: ['attempt.started', 'attempt.succeeded'] })).json().id as string;
      expect((await post('/v1/payments', 'sub-pay', { ...payment, capture_method: 'automatic' })).statusCode).toBe(201);
      await idem.events!.relay.runOnce();
      const types = async (endpoint: string) =>
        (await idem.db!.query<{ type: string }>('SELECT e.type FROM webhook_deliveries d JOIN payment_events e ON e.event_id = d.event_id WHERE d.endpoint_id = $1 ORDER BY d.position', [endpoint])).rows.map((r) => r.type);
      const all = (await idem.db!.query<{ type: string }>('SELECT type FROM payment_events WHERE merchant_id = $1 ORDER BY position', [m.id])).rows.map((r) => r.type);
      const facing = all.filter((t) => !t.startsWith('attempt.'));
      expect(facing).toContain('payment.captured');
      expect(all.length).toBeGreaterThan(facing.length);
      expect(await types(plain)).toEqual(facing);
      expect(new Set(await types(named))).toEqual(new Set(['attempt.started', 'attempt.succeeded']));
      const replay = await post(`/v1/webhook_endpoints/${plain}/replay`, 'sub-replay', { from: '2020-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' });
      expect(replay.json()).toMatchObject({ queued: facing.length });
    } finally {
      await idem.close();
    }
  }, 60_000);
});
