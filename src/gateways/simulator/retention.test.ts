import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../ports/seeded.js';
import type { Timers } from '../../ports/clock.js';
import { createSimulatorConnector } from './connector.js';
import { createProcessor, type SimulatorRequest } from './processor.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const RETENTION = 60_000;

function setup(retentionMs: number | null = RETENTION) {
  const clock = { t: T0, now() { return this.t; } };
  const processor = createProcessor({ clock, random: seededRandom(3), ...(retentionMs === null ? {} : { retentionMs }) });
  return { clock, processor };
}

function authorize(key: string): SimulatorRequest {
  return { operation: 'authorize', idempotencyKey: key, amount: 1000, currency: 'EUR', reference: `pay_${key}`, token: 'tok_visa' };
}

function capture(key: string, authorizationId: string): SimulatorRequest {
  return { operation: 'capture', idempotencyKey: key, amount: 1000, currency: 'EUR', reference: `pay_${key}`, authorizationId };
}

type Page = { data: Array<{ idempotency_key: string }>; next_cursor: string; has_more: boolean };

/** Reads the whole log from `cursor` page by page, as reconciliation does. */
function readAll(processor: ReturnType<typeof setup>['processor'], cursor: string | null, limit = 7): { keys: string[]; cursor: string | null; status: number } {
  const keys: string[] = [];
  for (;;) {
    const answer = processor.transactions(0, cursor === null ? null : Number(cursor), limit);
    if (answer.status !== 200) return { keys, cursor, status: answer.status };
    const page = answer.body as Page;
    keys.push(...page.data.map((e) => e.idempotency_key));
    cursor = page.next_cursor;
    if (!page.has_more) return { keys, cursor, status: 200 };
  }
}

describe('simulated processor: retention window', () => {
  it('drops log entries, their keys and idle authorizations older than the retention, and no sooner', () => {
    const { clock, processor } = setup();
    const first = processor.handle(authorize('a1')).body.authorization_id as string;
    clock.t += RETENTION - 1;
    processor.handle(authorize('a2'));
    expect(processor.held()).toEqual({ entries: 2, keys: 2, authorizations: 2, dropped: 0 });
    expect(processor.status('a1').status).toBe(200);

    clock.t += 2; // a1 is now older than the retention; a2 is not
    expect(processor.held()).toEqual({ entries: 1, keys: 1, authorizations: 1, dropped: 1 });
    expect(processor.log().map((e) => e.idempotency_key)).toEqual(['a2']);
    expect(processor.status('a1').status).toBe(404);
    // The authorization is forgotten too: acting on it declines as unknown.
    expect(processor.handle(capture('c1', first)).body).toMatchObject({ decline_code: 'unknown_authorization' });
  });

  it('keeps an authorization that is still being used, however old its creation', () => {
    const { clock, processor } = setup();
    const auth = processor.handle(authorize('a1')).body.authorization_id as string;
    clock.t += RETENTION - 1_000;
    expect(processor.handle({ ...capture('c1', auth), amount: 400 }).status).toBe(200);
    clock.t += RETENTION - 1_000; // the authorize entry has gone; the capture touched the authorization
    expect(processor.log().map((e) => e.idempotency_key)).toEqual(['c1']);
    expect(processor.handle({ ...capture('c2', auth), amount: 600 }).status).toBe(200);
  });

  it('keeps a reader\'s cursor valid while entries before it leave', () => {
    const { clock, processor } = setup();
    for (let i = 0; i < 20; i++) processor.handle(authorize(`k${i}`));
    const read = readAll(processor, null);
    expect(read.keys).toHaveLength(20);
    expect(read.cursor).toBe('20');

    clock.t += RETENTION / 2;
    for (let i = 20; i < 30; i++) processor.handle(authorize(`k${i}`));
    clock.t += RETENTION / 2 + 1; // the first 20 leave, the next 10 stay
    for (let i = 30; i < 35; i++) processor.handle(authorize(`k${i}`));
    expect(processor.held().dropped).toBe(20);

    const next = readAll(processor, read.cursor);
    expect(next).toEqual({ keys: Array.from({ length: 15 }, (_, i) => `k${i + 20}`), cursor: '35', status: 200 });
  });

  it('refuses a read that would start among dropped entries, instead of skipping them', () => {
    const { clock, processor } = setup();
    for (let i = 0; i < 10; i++) processor.handle(authorize(`k${i}`));
    const page = processor.transactions(0, null, 4);
    expect((page.body as Page).next_cursor).toBe('4');
    clock.t += RETENTION + 1;
    processor.handle(authorize('late'));

    const behind = processor.transactions(0, 4, 100);
    expect(behind.status).toBe(410);
    expect(behind.body).toMatchObject({ error: 'log_expired' });
    expect(String(behind.body.message)).toMatch(/positions? 4 to 9 were dropped/);
    // From the start of time: entries it would have returned are gone, so it is refused too.
    expect(processor.transactions(0, null, 100).status).toBe(410);
    // From after the dropped entries: answered.
    const fresh = processor.transactions(clock.t - 1, null, 100);
    expect(fresh.status).toBe(200);
    expect((fresh.body as Page).data.map((e) => e.idempotency_key)).toEqual(['late']);
    expect((fresh.body as Page).next_cursor).toBe('11');
  });

  it('holds a bounded count at a steady rate, however long it runs', () => {
    const { clock, processor } = setup();
    const perSecond = 50;
    let most = 0;
    for (let s = 0; s < 10 * (RETENTION / 1000); s++) {
      for (let i = 0; i < perSecond; i++) {
        const auth = processor.handle(authorize(`p${s}.${i}.a`)).body.authorization_id as string;
        processor.handle(capture(`p${s}.${i}.c`, auth));
      }
      clock.t += 1000;
      most = Math.max(most, processor.held().entries);
    }
    const held = processor.held();
    // Two entries per payment, for the retention's worth of seconds (plus the one at its edge).
    expect(most).toBeLessThanOrEqual(2 * perSecond * (RETENTION / 1000 + 1));
    expect(held.keys).toBe(held.entries);
    expect(held.authorizations).toBeLessThanOrEqual(perSecond * (RETENTION / 1000 + 1));
    expect(held.dropped).toBeGreaterThan(2 * perSecond * 8 * (RETENTION / 1000));
  });

  it('tells reconciliation, through the in-process connector, why a read behind the window is refused', async () => {
    const { clock, processor } = setup();
    const timers: Timers = { after: (_ms, fn) => { const t = setImmediate(fn); return () => clearImmediate(t); }, every: () => { throw new Error('not used'); } };
    const gateway = createSimulatorConnector({ name: 'sim-a', processor, timers, timeoutMs: 1_000 });
    processor.handle(authorize('k0'));
    processor.handle(authorize('k1'));
    const first = await gateway.transactions!(0, null, 1);
    expect(first).toMatchObject({ ok: true, nextCursor: '1', hasMore: true });
    clock.t += RETENTION + 1;
    processor.handle(authorize('k2'));
    const behind = await gateway.transactions!(0, '1', 10);
    expect(behind).toEqual({ ok: false, reason: expect.stringMatching(/^transaction log answered HTTP 410: entries from position 1 to 1 were dropped after the retention of 60000 ms/) });
  });

  it('keeps everything without a retention (tests, the deterministic simulation, idem gateway-sim)', () => {
    const { clock, processor } = setup(null);
    processor.handle(authorize('a1'));
    clock.t += 365 * 86_400_000;
    expect(processor.status('a1').status).toBe(200);
    expect(processor.transactions(0, null, 10).status).toBe(200);
    expect(processor.held()).toMatchObject({ entries: 1, dropped: 0 });
  });

  it('finds the first entry since a time by position, in time order, whatever the page size', () => {
    const { clock, processor } = setup(null);
    for (let i = 0; i < 100; i++) {
      processor.handle(authorize(`k${i}`));
      clock.t += 10;
    }
    const answer = processor.transactions(T0 + 505, null, 3);
    expect((answer.body as Page).data.map((e) => e.idempotency_key)).toEqual(['k51', 'k52', 'k53']);
    expect((answer.body as Page).next_cursor).toBe('54');
  });

  it('refuses a retention that is not positive', () => {
    expect(() => setup(0)).toThrow(RangeError);
  });
});
