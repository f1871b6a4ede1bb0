import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../ports/seeded.js';
import { createProcessor, type SimulatorFaults, type SimulatorRequest } from './processor.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

function setup(faults: Partial<SimulatorFaults> = {}, seed = 1) {
  const clock = { t: T0, now() { return this.t; } };
  const processor = createProcessor({ clock, random: seededRandom(seed), faults });
  return { clock, processor };
}

function authorize(key: string, amount = 1000, extra: Partial<SimulatorRequest> = {}): SimulatorRequest {
  return { operation: 'authorize', idempotencyKey: key, amount, currency: 'EUR', reference: 'pay_1', token: 'tok_visa', ...extra };
}

function follow(operation: 'capture' | 'void' | 'refund', key: string, authorizationId: string, amount: number): SimulatorRequest {
  return { operation, idempotencyKey: key, amount, currency: 'EUR', reference: 'pay_1', authorizationId };
}

function authorized(processor: ReturnType<typeof setup>['processor'], key = 'pay_1.authorize.1', amount = 1000): string {
  const a = processor.handle(authorize(key, amount));
  expect(a.status).toBe(200);
  return a.body.authorization_id as string;
}

describe('processor: authorize', () => {
  it('creates an authorization and logs one succeeded entry', () => {
    const { processor } = setup();
    const a = processor.handle(authorize('k1'));
    expect(a).toMatchObject({ status: 200, answer: 'send' });
    expect(a.body.id).toMatch(/^txn_/);
    expect(a.body.authorization_id).toMatch(/^auth_/);
    expect(processor.log()).toEqual([
      {
        id: a.body.id,
        idempotency_key: 'k1',
        operation: 'authorize',
        amount: 1000,
        currency: 'EUR',
        reference: 'pay_1',
        authorization_id: a.body.authorization_id,
        status: 'succeeded',
        created_at: '2030-01-01T00:00:00.000Z',
      },
    ]);
  });

  it('declines tok_decline_<code> with that code, and logs the decline', () => {
    const { processor } = setup();
    const a = processor.handle(authorize('k1', 1000, { token: 'tok_decline_insufficient_funds' }));
    expect(a.status).toBe(402);
    expect(a.body).toMatchObject({ error: 'declined', decline_code: 'insufficient_funds', authorization_id: null });
    expect(processor.log()).toMatchObject([{ status: 'declined', decline_code: 'insufficient_funds' }]);
  });

  it('declines every authorization at declineRate 1 and none at 0', () => {
    const all = setup({ declineRate: 1 }).processor;
    const none = setup({ declineRate: 0 }).processor;
    for (let i = 0; i < 20; i++) {
      expect(all.handle(authorize(`k${i}`)).body.decline_code).toBe('card_declined');
      expect(none.handle(authorize(`k${i}`)).status).toBe(200);
    }
  });

  it('refuses a malformed request with 400 without executing', () => {
    const { processor } = setup();
    expect(processor.handle(authorize('k1', 0)).status).toBe(400);
    expect(processor.handle(authorize('k2', 10, { currency: 'eur' })).status).toBe(400);
    expect(processor.handle({ ...follow('capture', 'k3', '', 10) }).status).toBe(400);
    expect(processor.log()).toEqual([]);
    expect(processor.stats().invalid).toBe(3);
  });
});

describe('processor: idempotency', () => {
  it('executes a key once: the second request replays the stored answer', () => {
    const { processor } = setup();
    const first = processor.handle(authorize('k1'));
    const second = processor.handle(authorize('k1'));
    expect(second.status).toBe(first.status);
    expect(second.body).toEqual(first.body);
    expect(second.headers).toEqual({ 'idempotent-replayed': 'true' });
    expect(processor.log()).toHaveLength(1);
    expect(processor.stats()).toMatchObject({ received: 2, executed: 1, replayed: 1 });
    expect(processor.stats().byOperation.authorize).toEqual({ received: 2, executed: 1, replayed: 1 });
  });

  it('replays a stored decline too', () => {
    const { processor } = setup();
    const req = authorize('k1', 1000, { token: 'tok_decline_card_blocked' });
    processor.handle(req);
    expect(processor.handle(req)).toMatchObject({ status: 402, body: { decline_code: 'card_blocked' } });
    expect(processor.log()).toHaveLength(1);
  });

  it.each([
    ['amount', { amount: 999 }],
    ['reference', { reference: 'pay_2' }],
    ['currency', { currency: 'USD' }],
    ['token', { token: 'tok_other' }],
  ])('refuses the same key with a different %s (422 idempotency_key_reused)', (_field, change) => {
    const { processor } = setup();
    processor.handle(authorize('k1'));
    const reused = processor.handle(authorize('k1', 1000, change));
    expect(reused.status).toBe(422);
    expect(reused.body).toMatchObject({ error: 'idempotency_key_reused', decline_code: 'idempotency_key_reused' });
    expect(processor.log()).toHaveLength(1);
    expect(processor.stats().keyReused).toBe(1);
  });

  it('refuses the same key for a different operation', () => {
    const { processor } = setup();
    const auth = authorized(processor, 'k1');
    expect(processor.handle(follow('capture', 'k1', auth, 1000)).body.error).toBe('idempotency_key_reused');
  });
});

describe('processor: capture, void, refund', () => {
  it('captures partially, then refuses more than what remains', () => {
    const { processor } = setup();
    const auth = authorized(processor);
    expect(processor.handle(follow('capture', 'c1', auth, 600)).status).toBe(200);
    const over = processor.handle(follow('capture', 'c2', auth, 401));
    expect(over).toMatchObject({ status: 422, body: { decline_code: 'amount_exceeds_available' } });
    expect(processor.handle(follow('capture', 'c3', auth, 400)).status).toBe(200);
    expect(processor.log().map((e) => [e.operation, e.status, e.amount])).toEqual([
      ['authorize', 'succeeded', 1000],
      ['capture', 'succeeded', 600],
      ['capture', 'declined', 401],
      ['capture', 'succeeded', 400],
    ]);
  });

  it('declines an unknown authorization', () => {
    const { processor } = setup();
    const r = processor.handle(follow('capture', 'c1', 'auth_nope', 10));
    expect(r).toMatchObject({ status: 422, body: { decline_code: 'unknown_authorization' } });
    expect(processor.log()).toMatchObject([{ status: 'declined', authorization_id: 'auth_nope' }]);
  });

  it('voids an untouched authorization once; capture after void is invalid_state', () => {
    const { processor } = setup();
    const auth = authorized(processor);
    const v = processor.handle(follow('void', 'v1', auth, 1000));
    expect(v.status).toBe(200);
    expect(v.body.amount).toBe(1000);
    expect(processor.handle(follow('void', 'v2', auth, 1000))).toMatchObject({ status: 409, body: { decline_code: 'invalid_state' } });
    expect(processor.handle(follow('capture', 'c1', auth, 1))).toMatchObject({ status: 409, body: { decline_code: 'invalid_state' } });
  });

  it('refuses to void once anything is captured', () => {
    const { processor } = setup();
    const auth = authorized(processor);
    processor.handle(follow('capture', 'c1', auth, 1));
    expect(processor.handle(follow('void', 'v1', auth, 1000)).body.decline_code).toBe('invalid_state');
  });

  it('refunds at most captured minus refunded', () => {
    const { processor } = setup();
    const auth = authorized(processor);
    expect(processor.handle(follow('refund', 'r0', auth, 1)).body.decline_code).toBe('amount_exceeds_available');
    processor.handle(follow('capture', 'c1', auth, 700));
    expect(processor.handle(follow('refund', 'r1', auth, 500)).status).toBe(200);
    expect(processor.handle(follow('refund', 'r2', auth, 201)).body.decline_code).toBe('amount_exceeds_available');
    expect(processor.handle(follow('refund', 'r3', auth, 200)).status).toBe(200);
  });

  it('declines a capture in another currency', () => {
    const { processor } = setup();
    const auth = authorized(processor);
    expect(processor.handle({ ...follow('capture', 'c1', auth, 10), currency: 'USD' }).body.decline_code).toBe('currency_mismatch');
  });
});

describe('processor: status and transactions', () => {
  it('reports the stored answer by key, 404 when never processed', () => {
    const { processor } = setup();
    const a = processor.handle(authorize('k1'));
    expect(processor.status('k1')).toMatchObject({ status: 200, body: a.body });
    expect(processor.status('k2')).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(processor.stats().statusQueries).toBe(2);
  });

  it('lists log entries created at or after since', () => {
    const { processor, clock } = setup();
    processor.handle(authorize('k1'));
    clock.t = T0 + 1000;
    processor.handle(authorize('k2'));
    const keys = (since: number) =>
      (processor.transactions(since).body.data as { idempotency_key: string }[]).map((e) => e.idempotency_key);
    expect(keys(T0)).toEqual(['k1', 'k2']);
    expect(keys(T0 + 1)).toEqual(['k2']);
    expect(keys(T0 + 1000)).toEqual(['k2']);
    expect(keys(T0 + 1001)).toEqual([]);
  });
});

describe('processor: keyless log entries and the merchant', () => {
  type Listed = { id: string; idempotency_key?: string; merchant_id?: string };
  const listed = (processor: ReturnType<typeof setup>['processor']) => processor.transactions(0).body.data as Listed[];

  it('lists a share of its entries without their key, drawn from the seed; the answer, the status lookup and log() keep it', () => {
    const { processor } = setup({ keylessRecordRate: 0.3 }, 7);
    for (let i = 0; i < 200; i++) processor.handle(authorize(`k${i}`, 1000, { reference: `pay_${i}` }));
    const entries = listed(processor);
    const keyless = entries.filter((e) => e.idempotency_key === undefined);
    expect(keyless.length).toBeGreaterThan(200 * 0.2);
    expect(keyless.length).toBeLessThan(200 * 0.4);
    expect(processor.log().every((e) => e.idempotency_key.startsWith('k'))).toBe(true);
    const k = processor.log().find((e) => e.id === keyless[0]!.id)!.idempotency_key;
    expect(processor.status(k).body).toMatchObject({ idempotency_key: k });
    // The same seed lists the same entries without their key.
    const again = setup({ keylessRecordRate: 0.3 }, 7).processor;
    for (let i = 0; i < 200; i++) again.handle(authorize(`k${i}`, 1000, { reference: `pay_${i}` }));
    expect(listed(again)).toEqual(entries);
  });

  it('draws the keyless share from its listing source: changing it changes no id, outcome or latency', () => {
    const run = (keylessRecordRate: number) => {
      const clock = { t: T0, now: () => T0 };
      const faults = { keylessRecordRate, declineRate: 0.3, timeoutAfterProcessingRate: 0.2, latency: { minMs: 0, maxMs: 50 } };
      const processor = createProcessor({ clock, random: seededRandom(11), listingRandom: seededRandom(99), faults });
      const answers = Array.from({ length: 50 }, (_, i) => processor.handle(authorize(`k${i}`)));
      return { answers, log: processor.log(), keyless: listed(processor).filter((e) => e.idempotency_key === undefined).length };
    };
    const [none, half] = [run(0), run(0.5)];
    expect({ ...half, keyless: 0 }).toEqual(none);
    expect(half.keyless).toBeGreaterThan(0);
    const all = setup({ keylessRecordRate: 1 }).processor;
    all.handle(authorize('k1'));
    expect(listed(all)[0]).not.toHaveProperty('idempotency_key');
  });

  it('logs the merchant a request names, outside the request\'s identity', () => {
    const { processor } = setup();
    const a = processor.handle(authorize('k1', 1000, { merchantId: 'mer_a' }));
    expect(listed(processor)[0]).toMatchObject({ id: a.body.id, idempotency_key: 'k1', merchant_id: 'mer_a' });
    expect(a.body).not.toHaveProperty('merchant_id');
    // A re-send naming no merchant is the same request: the first answer again, nothing executed.
    expect(processor.handle(authorize('k1')).body).toEqual(a.body);
    expect(processor.stats().executed).toBe(1);
  });
});

describe('processor: faults', () => {
  it('error before processing: 503 processed:false with Retry-After, nothing executed or logged', () => {
    const { processor } = setup({ errorBeforeProcessingRate: 1, retryAfterSeconds: 3 });
    const r = processor.handle(authorize('k1'));
    expect(r).toMatchObject({ status: 503, body: { error: 'unavailable', processed: false }, headers: { 'retry-after': '3' } });
    expect(processor.log()).toEqual([]);
    expect(processor.status('k1').status).toBe(404);
    expect(processor.stats()).toMatchObject({ executed: 0, unavailable: 1 });
  });

  it('timeout after processing: executes and logs, the answer is dropped, status shows it', () => {
    const { processor } = setup({ timeoutAfterProcessingRate: 1 });
    const r = processor.handle(authorize('k1'));
    expect(r.answer).toBe('drop');
    expect(processor.log()).toHaveLength(1);
    expect(processor.status('k1').status).toBe(200);
  });

  it('ambiguous error: executes and logs, answers 500', () => {
    const { processor } = setup({ ambiguousErrorRate: 1 });
    const r = processor.handle(authorize('k1'));
    expect(r).toMatchObject({ status: 500, answer: 'send' });
    expect(processor.log()).toHaveLength(1);
  });

  it('outage switch: every request, status included, gets 503 processed:false', () => {
    const { processor } = setup();
    processor.handle(authorize('k1'));
    processor.setFaults({ outage: true });
    expect(processor.handle(authorize('k2')).status).toBe(503);
    expect(processor.status('k1')).toMatchObject({ status: 503, body: { processed: false } });
    expect(processor.transactions(0).status).toBe(503);
    expect(processor.log()).toHaveLength(1);
    processor.setFaults({ outage: false });
    expect(processor.handle(authorize('k2')).status).toBe(200);
  });

  it('outage windows apply only inside [start, end), Retry-After counts to the end', () => {
    const { processor, clock } = setup({
      outages: [{ start: new Date(T0 + 1000).toISOString(), end: new Date(T0 + 6000).toISOString() }],
    });
    expect(processor.handle(authorize('k1')).status).toBe(200);
    clock.t = T0 + 1000;
    expect(processor.handle(authorize('k2'))).toMatchObject({ status: 503, headers: { 'retry-after': '5' } });
    clock.t = T0 + 6000;
    expect(processor.handle(authorize('k2')).status).toBe(200);
  });

  it('latency is uniform in [minMs, maxMs]; degraded windows add to it', () => {
    const { processor, clock } = setup({
      latency: { minMs: 10, maxMs: 20 },
      degraded: [{ start: new Date(T0 + 1000).toISOString(), end: new Date(T0 + 2000).toISOString(), latencyMs: 500 }],
    });
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(processor.handle(authorize(`k${i}`)).latencyMs);
    expect(Math.min(...seen)).toBe(10);
    expect(Math.max(...seen)).toBe(20);
    expect(seen.size).toBe(11);
    clock.t = T0 + 1500;
    const slow = processor.handle(authorize('slow')).latencyMs;
    expect(slow).toBeGreaterThanOrEqual(510);
    expect(slow).toBeLessThanOrEqual(520);
  });

  it('refuses invalid fault settings and keeps the old ones', () => {
    const { processor } = setup({ declineRate: 0.25 });
    expect(() => processor.setFaults({ declineRate: 1.5 })).toThrow(RangeError);
    expect(() => processor.setFaults({ latency: { minMs: 5, maxMs: 1 } })).toThrow(RangeError);
    expect(() => processor.setFaults({ outages: [{ start: 'soon', end: 'later' }] })).toThrow(RangeError);
    expect(processor.faults().declineRate).toBe(0.25);
    expect(processor.setFaults({ ambiguousErrorRate: 0.5 })).toMatchObject({ declineRate: 0.25, ambiguousErrorRate: 0.5 });
  });

  it('replays every fault, answer, id and log entry from the same seed', () => {
    const faults: Partial<SimulatorFaults> = {
      latency: { minMs: 0, maxMs: 100 },
      declineRate: 0.2,
      errorBeforeProcessingRate: 0.2,
      timeoutAfterProcessingRate: 0.2,
      ambiguousErrorRate: 0.2,
    };
    const run = (seed: number) => {
      const { processor } = setup(faults, seed);
      const answers = [];
      for (let i = 0; i < 60; i++) answers.push(processor.handle(authorize(`k${i % 40}`)));
      return { answers, log: processor.log(), stats: processor.stats() };
    };
    const a = run(42);
    expect(run(42)).toEqual(a);
    expect(run(43)).not.toEqual(a);
    // The mix really exercised the faults, so the comparison is meaningful.
    expect(new Set(a.answers.map((x) => `${x.status}/${x.answer}`)).size).toBeGreaterThanOrEqual(4);
  });
});
