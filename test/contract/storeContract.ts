import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayOperation } from '../../src/gateways/port.js';
import type { KeyRequest } from '../../src/idempotency/store.js';
import { StaleWriteError, toView, type AttemptRow, type PaymentRow } from '../../src/payments/rows.js';
import type { NewPaymentEvent } from '../../src/events/model.js';
import { applyWrites } from '../../src/payments/batch.js';
import { planRound, type RoundContext, type Snapshot } from '../../src/payments/round.js';
import { seededRandom } from '../../src/ports/seeded.js';
import { staticPolicy } from '../../src/resilience/policy.js';
import type { NewPayment } from '../../src/payments/rows.js';
import type { BatchWrite } from '../../src/payments/store.js';
import type { Store } from '../../src/store/port.js';
import type { GatewayRecord, MatchEvidence } from '../../src/reconciliation/records.js';

export interface OpenedStore {
  store: Store;
  cleanup: () => Promise<void>;
}

const LEASE = 30_000;
const TTL = 3_600_000;

/**
 * The storage port's contract (src/store/port.ts), one suite for every store: PostgreSQL,
 * PGlite and the in-memory store must agree on each case. The store is shared by the file,
 * so each test has its own merchant, ids and era of time: eras go backwards from test to test,
 * so rows an earlier test left (later in time) are never due, expired or claimable in a later one.
 */
export function storeContract(name: string, open: () => Promise<OpenedStore | null>) {
  describe(`store contract (${name})`, () => {
    let env: OpenedStore | null = null;
    let seq = 0;
    let era = Date.UTC(2040, 0, 1);

    beforeAll(async () => {
      env = await open();
    });
    afterAll(async () => {
      await env?.cleanup();
    });

    /** Runs a case with its own store handle, time base and merchant. */
    const test = (title: string, body: (c: Case) => Promise<void>) =>
      it(title, async (ctx) => {
        if (!env) return ctx.skip();
        era -= 10 * 24 * 3600_000;
        const c = new Case(env.store, era, ++seq);
        await c.init();
        await body(c);
      });

    describe('idempotency keys', () => {
      test('claims a new key with a lease and no resource', async (c) => {
        const claim = await c.store.claimKey(c.req('k'), c.t(0), LEASE);
        expect(claim).toEqual({ kind: 'owned', fence: expect.any(Number), resourceId: null, takenOver: false });
        expect(await c.store.readKey(c.merchant, 'k')).toEqual({
          merchantId: c.merchant,
          key: 'k',
          fingerprint: 'fp-1',
          method: 'POST',
          path: '/v1/payments',
          state: 'in_progress',
          fence: claim.kind === 'owned' ? claim.fence : -1,
          leaseUntil: c.t(LEASE),
          resourceId: null,
          response: null,
          expiresAt: null,
        });
        expect(await c.store.readKey(c.merchant, 'other')).toBeNull();
      });

      test('stores the request kind with the key; a fresh claim of an expired key replaces it', async (c) => {
        const first = c.owned(await c.store.claimKey({ ...c.req('k'), operation: 'create' }, c.t(0), LEASE));
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ operation: 'create', fence: first.fence });
        const held = await c.store.claimKey({ ...c.req('k'), operation: 'create' }, c.t(1), LEASE);
        expect(held.kind === 'existing' && held.row.operation).toBe('create');
        const taken = c.owned(await c.store.claimKey({ ...c.req('k'), operation: 'create' }, c.t(LEASE), LEASE));
        const response = { status: 201, contentType: 'application/json', body: '{}' };
        expect(await c.store.completeKey(c.merchant, 'k', taken.fence, response, c.t(LEASE), TTL)).toBe(true);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ operation: 'create', state: 'completed' });
        c.owned(await c.store.claimKey({ ...c.req('k', 'fp-2', '/v1/payments/x/refunds'), operation: 'refund' }, c.t(LEASE + TTL), LEASE));
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ operation: 'refund', path: '/v1/payments/x/refunds' });
        // A key claimed without a kind has none.
        c.owned(await c.store.claimKey(c.req('plain'), c.t(0), LEASE));
        expect((await c.store.readKey(c.merchant, 'plain'))?.operation).toBeUndefined();
      });

      test('an in-progress key with a live lease comes back as it is, until the lease ends', async (c) => {
        const first = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        const held = await c.store.claimKey(c.req('k'), c.t(LEASE - 1), LEASE);
        expect(held.kind).toBe('existing');
        if (held.kind === 'existing') expect(held.row).toMatchObject({ state: 'in_progress', fence: first.fence, leaseUntil: c.t(LEASE) });
        const taken = c.owned(await c.store.claimKey(c.req('k'), c.t(LEASE), LEASE));
        expect(taken.fence).toBeGreaterThan(first.fence);
      });

      test('a takeover after the lease ends gets a higher fence and keeps the resource', async (c) => {
        const first = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        expect(await c.store.bindKeyResource(c.merchant, 'k', first.fence, 'pay_1')).toBe(true);
        const second = c.owned(await c.store.claimKey(c.req('k'), c.t(LEASE + 5), LEASE));
        expect(second).toEqual({ kind: 'owned', fence: expect.any(Number), resourceId: 'pay_1', takenOver: true });
        expect(second.fence).toBeGreaterThan(first.fence);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ fence: second.fence, leaseUntil: c.t(2 * LEASE + 5), resourceId: 'pay_1' });
      });

      test('a takeover of a key without a resource is not reported as taken over', async (c) => {
        const first = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        const second = c.owned(await c.store.claimKey(c.req('k'), c.t(LEASE), LEASE));
        expect(second).toMatchObject({ resourceId: null, takenOver: false });
        expect(second.fence).toBeGreaterThan(first.fence);
      });

      test('an in-progress key is never taken over by another fingerprint, even after its lease', async (c) => {
        const first = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        const other = await c.store.claimKey(c.req('k', 'fp-2'), c.t(LEASE * 10), LEASE);
        expect(other.kind).toBe('existing');
        if (other.kind === 'existing') expect(other.row).toMatchObject({ fingerprint: 'fp-1', fence: first.fence, state: 'in_progress' });
      });

      test('complete stores the response and expiry; the key replays until it expires, then starts afresh', async (c) => {
        const first = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        await c.store.bindKeyResource(c.merchant, 'k', first.fence, 'pay_1');
        const response = { status: 201, contentType: 'application/json', body: '{"id":"pay_1"}' };
        expect(await c.store.completeKey(c.merchant, 'k', first.fence, response, c.t(10), TTL)).toBe(true);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({
          state: 'completed',
          response,
          expiresAt: c.t(10 + TTL),
          leaseUntil: null,
          resourceId: 'pay_1',
        });
        const replay = await c.store.claimKey(c.req('k'), c.t(10 + TTL - 1), LEASE);
        expect(replay.kind === 'existing' && replay.row.response).toEqual(response);
        // Past expiry any request owns it afresh, even with another fingerprint.
        const fresh = c.owned(await c.store.claimKey(c.req('k', 'fp-2', '/v1/payments/x/capture'), c.t(10 + TTL), LEASE));
        expect(fresh).toMatchObject({ resourceId: null, takenOver: false });
        expect(fresh.fence).toBeGreaterThan(first.fence);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({
          state: 'in_progress',
          fingerprint: 'fp-2',
          path: '/v1/payments/x/capture',
          response: null,
          expiresAt: null,
          resourceId: null,
          leaseUntil: c.t(10 + TTL + LEASE),
        });
      });

      test('after a takeover every write with the old fence is refused', async (c) => {
        const old = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        await c.store.bindKeyResource(c.merchant, 'k', old.fence, 'pay_1');
        const now = c.owned(await c.store.claimKey(c.req('k'), c.t(LEASE), LEASE));
        const response = { status: 200, contentType: 'application/json', body: '{}' };
        expect(await c.store.renewKey(c.merchant, 'k', old.fence, c.t(LEASE + 1), LEASE * 10)).toBe(false);
        expect(await c.store.transaction((tx) => tx.guardKey(c.merchant, 'k', old.fence, c.t(LEASE + 1), LEASE * 10))).toBe(false);
        expect(await c.store.bindKeyResource(c.merchant, 'k', old.fence, 'pay_2')).toBe(false);
        expect(await c.store.completeKey(c.merchant, 'k', old.fence, response, c.t(LEASE + 1), TTL)).toBe(false);
        expect(await c.store.forgetKey(c.merchant, 'k', old.fence)).toBe(false);
        await c.store.endKeyLease(c.merchant, 'k', old.fence, c.t(LEASE + 1));
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({
          state: 'in_progress',
          fence: now.fence,
          leaseUntil: c.t(2 * LEASE),
          resourceId: 'pay_1',
          response: null,
        });
        // The holder's writes go through.
        expect(await c.store.renewKey(c.merchant, 'k', now.fence, c.t(LEASE + 2), LEASE)).toBe(true);
        expect(await c.store.transaction((tx) => tx.guardKey(c.merchant, 'k', now.fence, c.t(LEASE + 3), LEASE))).toBe(true);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ leaseUntil: c.t(2 * LEASE + 3) });
        expect(await c.store.completeKey(c.merchant, 'k', now.fence, response, c.t(LEASE + 4), TTL)).toBe(true);
      });

      test('a completed key takes no more fenced writes, even with its own fence', async (c) => {
        const own = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        const response = { status: 200, contentType: 'application/json', body: '{}' };
        expect(await c.store.completeKey(c.merchant, 'k', own.fence, response, c.t(1), TTL)).toBe(true);
        expect(await c.store.renewKey(c.merchant, 'k', own.fence, c.t(2), LEASE)).toBe(false);
        expect(await c.store.bindKeyResource(c.merchant, 'k', own.fence, 'pay_9')).toBe(false);
        expect(await c.store.completeKey(c.merchant, 'k', own.fence, { ...response, body: '{"x":1}' }, c.t(2), TTL)).toBe(false);
        expect(await c.store.forgetKey(c.merchant, 'k', own.fence)).toBe(false);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ state: 'completed', response, resourceId: null, expiresAt: c.t(1 + TTL) });
      });

      test('forget deletes an in-progress key only while it has no resource', async (c) => {
        const a = c.owned(await c.store.claimKey(c.req('a'), c.t(0), LEASE));
        expect(await c.store.forgetKey(c.merchant, 'a', a.fence)).toBe(true);
        expect(await c.store.readKey(c.merchant, 'a')).toBeNull();
        const b = c.owned(await c.store.claimKey(c.req('b'), c.t(0), LEASE));
        await c.store.bindKeyResource(c.merchant, 'b', b.fence, 'pay_1');
        expect(await c.store.forgetKey(c.merchant, 'b', b.fence)).toBe(false);
        expect(await c.store.readKey(c.merchant, 'b')).toMatchObject({ resourceId: 'pay_1', state: 'in_progress' });
        // A forgotten key is new again.
        expect(await c.store.claimKey(c.req('a', 'fp-2'), c.t(1), LEASE)).toMatchObject({ kind: 'owned', takenOver: false });
      });

      test('endKeyLease lets the next claim take the key over at once', async (c) => {
        const a = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        await c.store.endKeyLease(c.merchant, 'k', a.fence, c.t(5));
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ leaseUntil: c.t(5), state: 'in_progress' });
        const b = c.owned(await c.store.claimKey(c.req('k'), c.t(5), LEASE));
        expect(b.fence).toBeGreaterThan(a.fence);
      });

      test('sweep deletes only completed keys past their expiry, up to the limit', async (c) => {
        const response = { status: 200, contentType: 'application/json', body: '{}' };
        for (const [k, ttl] of [['x1', 10], ['x2', 20], ['x3', 30], ['live', TTL]] as const) {
          const own = c.owned(await c.store.claimKey(c.req(k), c.t(0), LEASE));
          await c.store.completeKey(c.merchant, k, own.fence, response, c.t(0), ttl);
        }
        c.owned(await c.store.claimKey(c.req('open'), c.t(0), 1)); // lease long over, never swept
        expect(await c.store.sweepKeys(c.t(25), 1)).toBe(1);
        expect(await c.store.sweepKeys(c.t(25), 100)).toBe(1);
        expect(await c.store.sweepKeys(c.t(25), 100)).toBe(0);
        expect(await c.store.readKey(c.merchant, 'x1')).toBeNull();
        expect(await c.store.readKey(c.merchant, 'x2')).toBeNull();
        expect(await c.store.readKey(c.merchant, 'x3')).not.toBeNull();
        expect(await c.store.readKey(c.merchant, 'live')).not.toBeNull();
        expect(await c.store.readKey(c.merchant, 'open')).not.toBeNull();
        expect(await c.store.sweepKeys(c.t(30), 100)).toBe(1);
      });

      test('keys are scoped by merchant', async (c) => {
        const other = await c.newMerchant();
        const a = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        const b = c.owned(await c.store.claimKey({ ...c.req('k', 'fp-other'), merchantId: other }, c.t(0), LEASE));
        expect(b.fence).not.toBe(a.fence);
        expect(await c.store.readKey(other, 'k')).toMatchObject({ fingerprint: 'fp-other' });
      });

      test('two concurrent claims of a new key: exactly one owns it', async (c) => {
        const claims = await Promise.all([1, 2, 3].map(() => c.store.claimKey(c.req('race'), c.t(0), LEASE)));
        expect(claims.filter((x) => x.kind === 'owned')).toHaveLength(1);
        expect(claims.filter((x) => x.kind === 'existing')).toHaveLength(2);
      });
    });

    describe('transactions', () => {
      test('a throw rolls every write back', async (c) => {
        const boom = new Error('boom');
        await expect(
          c.store.transaction(async (tx) => {
            const own = c.owned(await tx.claimKey(c.req('k'), c.t(0), LEASE));
            await tx.bindKeyResource(c.merchant, 'k', own.fence, 'pay_x');
            const p = await tx.insertPayment(c.newPayment('pay_x'));
            await tx.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
            await tx.insertEvent(c.event(p, 'payment.created', {}, 0));
            await tx.postEntry(p.id, 'EUR', { kind: 'authorize', amount: 100 }, c.date(0));
            expect(await tx.findPayment(c.merchant, c.id('pay_x'))).not.toBeNull(); // its own writes
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await c.store.readKey(c.merchant, 'k')).toBeNull();
        expect(await c.store.findPayment(c.merchant, c.id('pay_x'))).toBeNull();
        expect(await c.store.claimDueWork(c.t(0), 10, LEASE)).toEqual([]);
        // Nothing left behind to collide with.
        const p = await c.store.insertPayment(c.newPayment('pay_x'));
        await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
        await c.store.postEntry(p.id, 'EUR', { kind: 'authorize', amount: 100 }, c.date(0));
        expect(await c.store.listEvents(p.id)).toEqual([]);
      });

      test('a committed transaction shows all its writes; a concurrent reader never sees half of one', async (c) => {
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let inserted!: () => void;
        const half = new Promise<void>((r) => (inserted = r));
        const tx = c.store.transaction(async (tx) => {
          const p = await tx.insertPayment(c.newPayment('pay_a'));
          inserted();
          await gate;
          await tx.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
          return p.id;
        });
        await half;
        const reader = c.store.loadView(c.merchant, c.id('pay_a'));
        release();
        const [id, seen] = await Promise.all([tx, reader]);
        expect(id).toBe(c.id('pay_a'));
        if (seen !== null) expect(seen.attempts).toHaveLength(1);
        expect((await c.store.loadView(c.merchant, c.id('pay_a')))?.attempts).toHaveLength(1);
      });

      test('a statement that fails inside a transaction aborts it: nothing commits', async (c) => {
        await c.store.insertPayment(c.newPayment('pay_dup'));
        let later: unknown = 'not run';
        const outcome = await c.store
          .transaction(async (tx) => {
            await tx.claimKey(c.req('k'), c.t(0), LEASE);
            await tx.insertPayment(c.newPayment('pay_dup')).catch(() => {});
            later = await tx.readKey(c.merchant, 'k').then(
              () => 'ran',
              () => 'refused',
            );
            return 'resolved';
          })
          .catch(() => 'rejected');
        expect(later).toBe('refused');
        expect(['resolved', 'rejected']).toContain(outcome);
        expect(await c.store.readKey(c.merchant, 'k')).toBeNull();
      });
    });

    describe('payments', () => {
      test('insert returns the full row; find is scoped by merchant; rows are copies', async (c) => {
        const input = c.newPayment('pay_1', { metadata: { order: '42' }, reference: 'ref-1' });
        const p = await c.store.insertPayment(input);
        expect(p).toEqual({
          ...input,
          authorization_id: null,
          amount_authorized: 0,
          amount_captured: 0,
          amount_refunded: 0,
          amount_voided: 0,
          amount_requested: null,
          decline_code: null,
          version: 0,
        });
        expect(p.created_at).toBeInstanceOf(Date);
        input.metadata.order = 'changed';
        p.metadata.order = 'changed too';
        p.amount = 1;
        const found = await c.store.findPayment(c.merchant, c.id('pay_1'));
        expect(found).toMatchObject({ amount: 1000, metadata: { order: '42' } });
        expect(await c.store.transaction((tx) => tx.findPayment(c.merchant, c.id('pay_1'), true))).toEqual(found);
        const other = await c.newMerchant();
        expect(await c.store.findPayment(other, c.id('pay_1'))).toBeNull();
        expect(await c.store.findPayment(c.merchant, c.id('pay_none'))).toBeNull();
      });

      test('refuses a duplicate id and a non-positive amount', async (c) => {
        await c.store.insertPayment(c.newPayment('pay_1'));
        await expect(c.store.insertPayment(c.newPayment('pay_1'))).rejects.toThrow();
        await expect(c.store.insertPayment(c.newPayment('pay_2', { amount: 0 }))).rejects.toThrow();
        await expect(c.store.insertPayment(c.newPayment('pay_3', { amount: -5 }))).rejects.toThrow();
        expect(await c.store.findPayment(c.merchant, c.id('pay_2'))).toBeNull();
      });

      test('update is compare-and-set on the version', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const q = await c.store.updatePayment(p, { status: 'authorized', amount_authorized: 1000, gateway: 'sim-a', authorization_id: 'auth_1' }, c.date(5));
        expect(q).toMatchObject({ version: 1, status: 'authorized', amount_authorized: 1000, gateway: 'sim-a', authorization_id: 'auth_1' });
        expect(q.updated_at.getTime()).toBe(c.t(5));
        expect(q.created_at.getTime()).toBe(p.created_at.getTime());
        await expect(c.store.updatePayment(p, { status: 'declined' }, c.date(6))).rejects.toBeInstanceOf(StaleWriteError);
        const r = await c.store.updatePayment(q, { status: 'capturing', amount_requested: 400 }, c.date(7));
        expect(r).toMatchObject({ version: 2, status: 'capturing', amount_requested: 400 });
        expect(await c.store.findPayment(c.merchant, c.id('pay_1'))).toEqual(r);
        // Inside a transaction the stale write fails it as a whole.
        await expect(
          c.store.transaction(async (tx) => {
            await tx.insertEvent(c.event(p, 'x', {}, 8));
            await tx.updatePayment(q, { status: 'voiding' }, c.date(8));
          }),
        ).rejects.toBeInstanceOf(StaleWriteError);
        expect(await c.store.listEvents(p.id)).toEqual([]);
      });

      test('refuses captured above authorized and refunded above captured', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await expect(c.store.updatePayment(p, { amount_captured: 10 }, c.date(1))).rejects.toThrow();
        const q = await c.store.updatePayment(p, { amount_authorized: 100, amount_captured: 100 }, c.date(1));
        await expect(c.store.updatePayment(q, { amount_refunded: 101 }, c.date(2))).rejects.toThrow();
        expect(await c.store.findPayment(c.merchant, c.id('pay_1'))).toMatchObject({ version: 1, amount_refunded: 0 });
      });
    });

    describe('the first write (openPayment)', () => {
      test('writes payment, attempt, outbox row, events and the binding; returns the rows as stored', async (c) => {
        const claim = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        const payment = c.newPayment('pay_1', { metadata: { order: '42' }, reference: 'ref-1', gateway: 'sim-a' });
        const attempt = c.newAttempt({ ...payment, version: 0 } as PaymentRow, 'authorize', 1);
        const events = [c.event(payment, 'payment.created', { n: 1 }), c.event(payment, 'attempt.started', { n: 2 })];
        const key = { merchantId: c.merchant, key: 'k', fence: claim.fence, now: c.t(5), leaseMs: LEASE };
        const opened = await c.store.openPayment({ key, payment, attempt, runAfter: c.date(30_000), events });
        expect(opened).not.toBeNull();
        expect(opened!.payment).toEqual(await c.store.findPayment(c.merchant, payment.id));
        const open = await c.store.findOpenAttempt(payment.id);
        expect(open).toMatchObject(opened!.attempt);
        expect(await c.store.loadView(c.merchant, payment.id)).toEqual(await c.store.loadView(c.merchant, opened!.payment.id));
        expect((await c.store.listEvents(payment.id)).map((e) => [e.id, e.type, e.seq, e.data])).toEqual([
          [events[0]!.id, 'payment.created', 1, { n: 1 }],
          [events[1]!.id, 'attempt.started', 2, { n: 2 }],
        ]);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ resourceId: payment.id, leaseUntil: c.t(5 + LEASE), state: 'in_progress' });
        // Its outbox row is due at runAfter, not before.
        expect((await c.store.claimDueWork(c.t(29_999), 10, LEASE)).filter((w) => w.payment_id === payment.id)).toEqual([]);
        expect((await c.store.claimDueWork(c.t(30_000), 10, LEASE)).filter((w) => w.payment_id === payment.id)).toHaveLength(1);
      });

      test('a lost fence writes nothing', async (c) => {
        const first = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        // Taken over once the lease ended: the first owner's fence is stale.
        const second = c.owned(await c.store.claimKey(c.req('k'), c.t(LEASE + 1), LEASE));
        expect(second.fence).not.toBe(first.fence);
        const payment = c.newPayment('pay_1');
        const attempt = c.newAttempt({ ...payment, version: 0 } as PaymentRow, 'authorize', 1);
        const key = { merchantId: c.merchant, key: 'k', fence: first.fence, now: c.t(LEASE + 2), leaseMs: LEASE };
        expect(await c.store.openPayment({ key, payment, attempt, runAfter: c.date(0), events: [c.event(payment, 'payment.created')] })).toBeNull();
        expect(await c.store.findPayment(c.merchant, payment.id)).toBeNull();
        expect(await c.store.listEvents(payment.id)).toEqual([]);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ resourceId: null, fence: second.fence });
      });

      test('claims a new key itself (docs/idempotency.md, claim step 5): the key in progress, bound to the payment, under a fence higher than any before', async (c) => {
        const before = c.owned(await c.store.claimKey(c.req('other'), c.t(0), LEASE));
        const payment = c.newPayment('pay_1');
        const attempt = c.newAttempt({ ...payment, version: 0 } as PaymentRow, 'authorize', 1);
        const key = { merchantId: c.merchant, key: 'k', claim: c.req('k'), now: c.t(5), leaseMs: LEASE };
        const opened = await c.store.openPayment({ key, payment, attempt, runAfter: c.date(30_000), events: [c.event(payment, 'payment.created')] });
        expect(opened).not.toBeNull();
        expect(opened!.fence).toBeGreaterThan(before.fence);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({
          state: 'in_progress',
          fence: opened!.fence,
          resourceId: payment.id,
          leaseUntil: c.t(5 + LEASE),
          fingerprint: c.req('k').fingerprint,
        });
        expect(await c.store.findPayment(c.merchant, payment.id)).toEqual(opened!.payment);
        // The fence it returned holds the key: the next round's guard passes with it.
        expect(await c.store.guardKey(c.merchant, 'k', opened!.fence, c.t(6), LEASE)).toBe(true);
      });

      test('a key to claim that has a row already, in any state, writes nothing', async (c) => {
        const held = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        const done = c.owned(await c.store.claimKey(c.req('done'), c.t(0), LEASE));
        expect(await c.store.completeKey(c.merchant, 'done', done.fence, { status: 201, contentType: 'application/json', body: '{}' }, c.t(1), 1)).toBe(true);
        // 'done' has expired by then and 'k' has lost its lease: claimKey would take both; the first write takes neither.
        for (const name of ['k', 'done']) {
          const payment = c.newPayment(`pay_${name}`);
          const attempt = c.newAttempt({ ...payment, version: 0 } as PaymentRow, 'authorize', 1);
          const key = { merchantId: c.merchant, key: name, claim: c.req(name), now: c.t(LEASE + 10), leaseMs: LEASE };
          expect(await c.store.openPayment({ key, payment, attempt, runAfter: c.date(0), events: [c.event(payment, 'payment.created')] })).toBeNull();
          expect(await c.store.findPayment(c.merchant, payment.id)).toBeNull();
          expect(await c.store.listEvents(payment.id)).toEqual([]);
        }
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ state: 'in_progress', fence: held.fence, resourceId: null });
        expect(await c.store.readKey(c.merchant, 'done')).toMatchObject({ state: 'completed', fence: done.fence });
      });

      test('two first writes claiming one key at once: exactly one writes', async (c) => {
        const write = (n: number) => {
          const payment = c.newPayment(`pay_${n}`);
          const attempt = c.newAttempt({ ...payment, version: 0 } as PaymentRow, 'authorize', 1);
          const key = { merchantId: c.merchant, key: 'k', claim: c.req('k'), now: c.t(1), leaseMs: LEASE };
          return c.store.openPayment({ key, payment, attempt, runAfter: c.date(0), events: [c.event(payment, 'payment.created')] });
        };
        const results = await Promise.all([1, 2, 3, 4].map(write));
        const won = results.filter((r) => r !== null);
        expect(won).toHaveLength(1);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ fence: won[0]!.fence, resourceId: won[0]!.payment.id });
        const found = await Promise.all([1, 2, 3, 4].map((n) => c.store.findPayment(c.merchant, c.id(`pay_${n}`))));
        expect(found.filter((p) => p !== null)).toHaveLength(1);
      });
    });

    describe('a round as one batch (writeBatch)', () => {
      /** A claimed key and a payment opened under it, as the pipeline's first write leaves them. */
      const opened = async (c: Case, captureMethod: 'automatic' | 'manual') => {
        const claim = c.owned(await c.store.claimKey(c.req('k'), c.t(0), LEASE));
        const payment = c.newPayment('pay_1', { gateway: 'sim-a', capture_method: captureMethod });
        const attempt = c.newAttempt({ ...payment, version: 0 } as PaymentRow, 'authorize', 1);
        const key = { merchantId: c.merchant, key: 'k', fence: claim.fence, now: c.t(1), leaseMs: LEASE };
        const o = (await c.store.openPayment({ key, payment, attempt, runAfter: c.date(30_000), events: [c.event(payment, 'payment.created')] }))!;
        expect(o.attempts).toEqual([o.attempt]);
        return { fence: claim.fence, snapshot: { payment: o.payment, attempts: o.attempts! } };
      };
      /**
       * The authorization answered, planned as the pipeline plans it (src/payments/round.ts):
       * recorded, the payment authorized with its journal entry, then a capture opened
       * (automatic capture) or the key completed (manual); the claim's guard first, at 10 ms.
       */
      const authorized = (c: Case, fence: number, snapshot: Snapshot) => {
        const context: RoundContext = {
          request: 'create',
          requestId: undefined,
          meta: {},
          now: c.date(10),
          policy: staticPolicy(),
          candidates: () => ['sim-a'],
          // Each case's ids its own: the stores may be shared between cases.
          random: seededRandom(1_000 + c.n),
          relayDelayMs: 30_000,
          render: (r) => ({ status: 201, contentType: 'application/json', body: JSON.stringify(r.payment) }),
          complete: (response) => ({ op: 'completeKey', merchantId: c.merchant, key: 'k', fence, response, now: c.t(10), ttlMs: TTL }),
        };
        const planned = planRound(context, snapshot, snapshot.attempts[0]!, { class: 'success', transactionId: 'gw-ref-1' });
        if (planned.kind !== 'plan') throw new Error(planned.reason);
        const guard: BatchWrite = { op: 'guardKey', merchantId: c.merchant, key: 'k', fence, now: c.t(10), leaseMs: LEASE };
        return { plan: planned.plan, writes: [guard, ...planned.plan.writes] };
      };

      test('every write lands, and the plan’s picture of the rows is what the store then holds', async (c) => {
        const { fence, snapshot } = await opened(c, 'automatic');
        const { plan, writes } = authorized(c, fence, snapshot);
        expect(await c.store.writeBatch(writes)).toBe(true);
        const id = c.id('pay_1');
        expect(plan.response).toBeNull();
        expect(plan.next!.payment).toEqual(await c.store.findPayment(c.merchant, id));
        expect(toView(plan.after.payment, plan.after.attempts)).toEqual(await c.store.loadView(c.merchant, id));
        expect(plan.after.attempts.map((a) => [a.operation, a.status])).toEqual([['authorize', 'succeeded'], ['capture', 'pending']]);
        expect(await c.store.findOpenAttempt(id)).toMatchObject(plan.next!.attempt);
        expect((await c.store.listEvents(id)).map((e) => [e.type, e.seq])).toEqual([['payment.created', 1], ['attempt.succeeded', 2], ['attempt.started', 3]]);
        expect((await c.store.listEntries(id)).map((e) => e.event)).toEqual(['authorize']);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ state: 'in_progress', leaseUntil: c.t(10 + LEASE) });
        // The authorization's outbox row is done; the capture's is due 30 s after the round.
        expect((await c.store.claimDueWork(c.t(30_009), 10, LEASE)).filter((w) => w.payment_id === id)).toEqual([]);
        expect((await c.store.claimDueWork(c.t(30_010), 10, LEASE)).filter((w) => w.payment_id === id)).toHaveLength(1);
      });

      test('a final round completes the key with its response, the view as the store then holds it', async (c) => {
        const { fence, snapshot } = await opened(c, 'manual');
        const { plan, writes } = authorized(c, fence, snapshot);
        expect(await c.store.writeBatch(writes)).toBe(true);
        const view = await c.store.loadView(c.merchant, c.id('pay_1'));
        expect(view).toMatchObject({ status: 'authorized', amount_authorized: 1000 });
        expect(plan.response).toEqual({ status: 201, contentType: 'application/json', body: JSON.stringify(view) });
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ state: 'completed', response: plan.response });
        expect((await c.store.listEvents(c.id('pay_1'))).map((e) => e.type)).toEqual(['payment.created', 'attempt.succeeded', 'payment.authorized']);
      });

      /** Nothing of the round was written: the payment, its attempt, events, journal and key as opened. */
      const untouched = async (c: Case, version = 0) => {
        const id = c.id('pay_1');
        expect(await c.store.findPayment(c.merchant, id)).toMatchObject({ status: 'processing', version });
        expect(await c.store.findOpenAttempt(id)).toMatchObject({ operation: 'authorize', status: 'pending' });
        expect((await c.store.listEvents(id)).map((e) => e.type)).toEqual(['payment.created']);
        expect(await c.store.listEntries(id)).toEqual([]);
      };

      test('a lost fence writes nothing', async (c) => {
        const { fence, snapshot } = await opened(c, 'manual');
        const second = c.owned(await c.store.claimKey(c.req('k'), c.t(LEASE + 2), LEASE));
        expect(await c.store.writeBatch(authorized(c, fence, snapshot).writes)).toBe(false);
        await untouched(c);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ state: 'in_progress', fence: second.fence });
      });

      test('a payment changed since the snapshot writes nothing', async (c) => {
        const { fence, snapshot } = await opened(c, 'manual');
        await c.store.updatePayment(snapshot.payment, { gateway: 'sim-b' }, c.date(5));
        expect(await c.store.writeBatch(authorized(c, fence, snapshot).writes)).toBe(false);
        await untouched(c, 1);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ state: 'in_progress' });
      });

      test('an attempt recorded since the snapshot writes nothing', async (c) => {
        const { fence, snapshot } = await opened(c, 'manual');
        await c.store.recordAttempt(snapshot.attempts[0]!, { status: 'declined', declineCode: 'do_not_honor' }, c.date(5));
        // The snapshot still shows it pending, so the plan is sent; the store refuses it.
        expect(await c.store.writeBatch(authorized(c, fence, snapshot).writes)).toBe(false);
        expect(await c.store.findPayment(c.merchant, c.id('pay_1'))).toMatchObject({ status: 'processing', version: 0 });
        expect(await c.store.listEntries(c.id('pay_1'))).toEqual([]);
        expect(await c.store.readKey(c.merchant, 'k')).toMatchObject({ state: 'in_progress' });
      });

      test('inside a transaction that read the snapshot, the same plan lands the same way', async (c) => {
        const { fence, snapshot } = await opened(c, 'automatic');
        const plan = await c.store.transaction(async (tx) => {
          expect(await tx.guardKey(c.merchant, 'k', fence, c.t(10), LEASE)).toBe(true);
          const read = { payment: (await tx.findPayment(c.merchant, c.id('pay_1'), true))!, attempts: await tx.listAttempts(c.id('pay_1')) };
          expect(toView(read.payment, read.attempts)).toEqual(toView(snapshot.payment, snapshot.attempts));
          const { plan } = authorized(c, fence, read);
          await applyWrites(tx, plan.writes);
          return plan;
        });
        expect(toView(plan.after.payment, plan.after.attempts)).toEqual(await c.store.loadView(c.merchant, c.id('pay_1')));
        expect((await c.store.listEvents(c.id('pay_1'))).map((e) => e.type)).toEqual(['payment.created', 'attempt.succeeded', 'attempt.started']);
      });
    });

    describe('attempts and their outbox rows', () => {
      test('an attempt is inserted pending with an outbox row due at runAfter', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const input = c.newAttempt(p, 'authorize', 1);
        const a = await c.store.insertAttempt(input, c.date(100));
        expect(a).toMatchObject({ ...input, status: 'pending', gateway_reference: null, decline_code: null, completed_at: null });
        expect(await c.store.claimDueWork(c.t(99), 10, LEASE)).toEqual([]);
        const [work] = await c.store.claimDueWork(c.t(100), 10, LEASE);
        expect(work).toEqual({ id: expect.any(Number), payment_id: p.id, merchant_id: c.merchant, idempotency_key: 'idem-1', tries: 0, fence: expect.any(Number) });
      });

      test('lists a payment\'s attempts in the order the view shows them', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await c.store.insertAttempt({ ...c.newAttempt(p, 'capture', 1), created_at: c.date(5) }, c.date(0));
        await c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 2), created_at: c.date(1) }, c.date(0));
        await c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 1), created_at: c.date(1) }, c.date(0));
        const other = await c.store.insertPayment(c.newPayment('pay_2'));
        await c.store.insertAttempt(c.newAttempt(other, 'authorize', 1), c.date(0));
        const listed = await c.store.listAttempts(p.id);
        expect(listed.map((a) => [a.operation, a.attempt_no])).toEqual([['authorize', 1], ['authorize', 2], ['capture', 1]]);
        expect((await c.store.loadView(c.merchant, p.id))!.attempts.map((a) => a.id)).toEqual(listed.map((a) => a.id));
        expect(await c.store.listAttempts('pay_none')).toEqual([]);
      });

      test('gateway keys are unique, and so is (payment, operation, attempt_no)', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
        await expect(c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 2), gateway_key: `${p.id}:authorize:1` }, c.date(0))).rejects.toThrow();
        await expect(c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 1), id: 'att_other', gateway_key: 'gk_other' }, c.date(0))).rejects.toThrow();
        await c.store.insertAttempt(c.newAttempt(p, 'capture', 1), c.date(0));
        expect(await c.store.lastAttemptNo(p.id, 'authorize')).toBe(1);
        expect(await c.store.countAttempts(p.id, 'authorize', 'sim-a')).toBe(1);
        expect(await c.store.claimDueWork(c.t(0), 10, LEASE)).toHaveLength(2);
      });

      test('lastAttemptNo and countAttempts', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        expect(await c.store.lastAttemptNo(p.id, 'authorize')).toBe(0);
        await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
        await c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 3), gateway: 'sim-b' }, c.date(1));
        await c.store.insertAttempt(c.newAttempt(p, 'capture', 7), c.date(2));
        expect(await c.store.lastAttemptNo(p.id, 'authorize')).toBe(3);
        expect(await c.store.lastAttemptNo(p.id, 'capture')).toBe(7);
        expect(await c.store.lastAttemptNo(p.id, 'refund')).toBe(0);
        expect(await c.store.countAttempts(p.id, 'authorize', 'sim-a')).toBe(1);
        expect(await c.store.countAttempts(p.id, 'authorize', 'sim-b')).toBe(1);
        expect(await c.store.countAttempts(p.id, 'void', 'sim-a')).toBe(0);
      });

      test('findOpenAttempt is the newest pending or unknown attempt (created_at, then attempt_no)', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        expect(await c.store.findOpenAttempt(p.id)).toBeNull();
        const a1 = await c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 1), created_at: c.date(10) }, c.date(10));
        const a2 = await c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 2), created_at: c.date(10) }, c.date(10));
        const a3 = await c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 3), created_at: c.date(5) }, c.date(5));
        expect((await c.store.findOpenAttempt(p.id))?.id).toBe(a2.id);
        await c.store.recordAttempt(a2, { status: 'not_processed', error: 'refused' }, c.date(11));
        expect((await c.store.findOpenAttempt(p.id))?.id).toBe(a1.id);
        await c.store.recordAttempt(a1, { status: 'unknown' }, c.date(12));
        expect(await c.store.findOpenAttempt(p.id)).toMatchObject({ id: a1.id, status: 'unknown', completed_at: null });
        await c.store.recordAttempt({ ...a1, status: 'unknown' }, { status: 'declined', declineCode: 'card_declined' }, c.date(13));
        expect((await c.store.findOpenAttempt(p.id))?.id).toBe(a3.id);
        await c.store.recordAttempt(a3, { status: 'succeeded', gatewayReference: 'ref' }, c.date(14));
        expect(await c.store.findOpenAttempt(p.id)).toBeNull();
      });

      test('recordAttempt is compare-and-set; a final answer closes the outbox row', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const a = await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
        await c.store.recordAttempt(a, { status: 'succeeded', gatewayReference: 'gw_ref_1' }, c.date(3));
        await expect(c.store.recordAttempt(a, { status: 'declined' }, c.date(4))).rejects.toBeInstanceOf(StaleWriteError);
        const view = await c.store.loadView(c.merchant, p.id);
        expect(view?.attempts[0]).toMatchObject({ status: 'succeeded', completed_at: c.date(3).toISOString() });
        expect(await c.store.claimDueWork(c.t(1_000_000), 10, LEASE)).toEqual([]);
      });

      test('an unknown answer leaves the attempt open and its outbox row due now, one try more', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const a = await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(1_000));
        await c.store.recordAttempt(a, { status: 'unknown', error: 'timeout' }, c.date(50));
        const [work] = await c.store.claimDueWork(c.t(50), 10, LEASE);
        expect(work).toMatchObject({ payment_id: p.id, tries: 1 });
        // A definitive answer later closes it.
        await c.store.recordAttempt({ ...a, status: 'unknown' }, { status: 'succeeded' }, c.date(60));
        expect(await c.store.claimDueWork(c.t(50 + LEASE), 10, LEASE)).toEqual([]);
      });

      test('recording in a transaction that throws leaves the attempt and its outbox row as they were', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const a = await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
        await expect(
          c.store.transaction(async (tx) => {
            await tx.recordAttempt(a, { status: 'succeeded' }, c.date(1));
            throw new Error('crash before commit');
          }),
        ).rejects.toThrow('crash before commit');
        expect(await c.store.findOpenAttempt(p.id)).toMatchObject({ id: a.id, status: 'pending' });
        expect(await c.store.claimDueWork(c.t(0), 10, LEASE)).toHaveLength(1);
      });
    });

    describe('events and views', () => {
      test('events come back in insertion order with their data as objects', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await c.store.insertEvent(c.event(p, 'payment.created', { amount: 1000, nested: { a: [1, 2] } }, 1));
        await c.store.insertEvent(c.event(p, 'payment.authorized', {}, 0));
        const events = await c.store.listEvents(p.id);
        expect(events.map((e) => [e.type, e.data, e.createdAt.toISOString(), e.seq, e.position])).toEqual([
          ['payment.created', { amount: 1000, nested: { a: [1, 2] } }, c.date(1).toISOString(), 1, null],
          ['payment.authorized', {}, c.date(0).toISOString(), 2, null],
        ]);
        await c.store.transaction((tx) => tx.positionEvents(c.date(0), 1000));
      });

      test('loadView shows the payment and its attempts (created_at, operation, attempt_no) with ISO times', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1', { metadata: { k: 'v' } }));
        await c.store.insertAttempt({ ...c.newAttempt(p, 'capture', 1), created_at: c.date(20) }, c.date(20));
        await c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 2), created_at: c.date(10) }, c.date(10));
        await c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 1), created_at: c.date(10) }, c.date(10));
        const view = await c.store.loadView(c.merchant, p.id);
        expect(view).toMatchObject({
          id: p.id,
          object: 'payment',
          amount: 1000,
          metadata: { k: 'v' },
          payment_method: { type: 'card', token: 'tok_visa' },
          created_at: c.date(0).toISOString(),
          updated_at: c.date(0).toISOString(),
        });
        expect(view?.attempts.map((a) => `${a.operation}#${a.attempt_no}`)).toEqual(['authorize#1', 'authorize#2', 'capture#1']);
        expect(view?.attempts[0]).toEqual({
          id: `att_${p.id}_authorize_1`,
          operation: 'authorize',
          attempt_no: 1,
          gateway: 'sim-a',
          gateway_key: `${p.id}:authorize:1`,
          amount: 1000,
          status: 'pending',
          decline_code: null,
          created_at: c.date(10).toISOString(),
          completed_at: null,
        });
        expect(await c.store.loadView(await c.newMerchant(), p.id)).toBeNull();
      });

      test('listViews: newest first by (created_at, id), strictly after the cursor', async (c) => {
        for (const [id, at] of [['pay_a', 1], ['pay_b', 2], ['pay_c', 2], ['pay_d', 3], ['pay_e', 0]] as const) {
          await c.store.insertPayment(c.newPayment(`${id}_${c.n}`, { created_at: c.date(at), updated_at: c.date(at) }));
        }
        await c.store.insertPayment({ ...c.newPayment(`pay_z_${c.n}`), merchant_id: await c.newMerchant() });
        const ids = (views: { id: string }[]) => views.map((v) => v.id.slice(4, 5));
        const all = await c.store.listViews(c.merchant, 10, null);
        expect(ids(all)).toEqual(['d', 'c', 'b', 'a', 'e']);
        const first = await c.store.listViews(c.merchant, 2, null);
        expect(ids(first)).toEqual(['d', 'c']);
        const last = first.at(-1)!;
        const next = await c.store.listViews(c.merchant, 2, { createdAt: last.created_at, id: last.id });
        expect(ids(next)).toEqual(['b', 'a']);
        const end = await c.store.listViews(c.merchant, 2, { createdAt: next.at(-1)!.created_at, id: next.at(-1)!.id });
        expect(ids(end)).toEqual(['e']);
        expect(await c.store.listViews(c.merchant, 2, { createdAt: end[0]!.created_at, id: end[0]!.id })).toEqual([]);
      });
    });

    describe('ledger', () => {
      test('one entry per (payment, event name); a second one throws and rolls its transaction back', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await c.store.postEntry(p.id, 'EUR', { kind: 'authorize', amount: 1000 }, c.date(1));
        await expect(c.store.postEntry(p.id, 'EUR', { kind: 'authorize', amount: 1000 }, c.date(2))).rejects.toThrow();
        await c.store.postEntry(p.id, 'EUR', { kind: 'capture', authorized: 1000, captured: 400, attemptId: 'att_1' }, c.date(3));
        await c.store.postEntry(p.id, 'EUR', { kind: 'capture', authorized: 0, captured: 600, attemptId: 'att_2' }, c.date(3));
        await c.store.postEntry(p.id, 'EUR', { kind: 'refund', amount: 100, attemptId: 'att_3' }, c.date(4));
        const journal = await c.store.listEntries(p.id);
        expect(journal.map((e) => e.event)).toEqual(['authorize', 'capture:att_1', 'capture:att_2', 'refund:att_3']);
        expect(journal[1]).toEqual({
          event: 'capture:att_1',
          currency: 'EUR',
          postings: [
            { account: 'gateway_holds', amount: -1000 },
            { account: 'gateway_receivable', amount: 400 },
            { account: 'holds_outstanding', amount: 1000 },
            { account: 'merchant_payable', amount: -400 },
          ],
        });
        // Zero postings are not written: the second capture released no hold.
        expect(journal[2]!.postings.map((x) => x.account)).toEqual(['gateway_receivable', 'merchant_payable']);
        await expect(
          c.store.transaction(async (tx) => {
            const q = await tx.updatePayment(p, { status: 'refunding' }, c.date(5));
            await tx.postEntry(q.id, 'EUR', { kind: 'refund', amount: 100, attemptId: 'att_3' }, c.date(5));
          }),
        ).rejects.toThrow();
        expect(await c.store.findPayment(c.merchant, p.id)).toMatchObject({ version: 0, status: 'processing' });
        expect(await c.store.listEntries(p.id)).toHaveLength(4);
        expect(await c.store.listEntries('pay_none')).toEqual([]);
      });
    });

    describe('the books', () => {
      test('every payment with its balances by id, each currency\'s total, no entry left unbalanced', async (c) => {
        const before = await c.store.summarizeBooks();
        const a = await c.store.insertPayment(c.newPayment('pay_b'));
        const b = await c.store.insertPayment(c.newPayment('pay_a', { currency: 'USD', amount: 500 }));
        await c.store.transaction(async (tx) => {
          await tx.updatePayment(a, { status: 'authorized', amount_authorized: 1000 }, c.date(1));
          await tx.postEntry(a.id, 'EUR', { kind: 'authorize', amount: 1000 }, c.date(1));
        });
        await c.store.postEntry(a.id, 'EUR', { kind: 'capture', authorized: 0, captured: 600, attemptId: 'att_1' }, c.date(2));
        await c.store.postEntry(b.id, 'USD', { kind: 'authorize', amount: 500 }, c.date(1));
        const books = await c.store.summarizeBooks();
        expect(books.entries).toBe(before.entries + 3);
        expect(books.unbalancedEntries).toEqual([]);
        expect(books.currencyTotals.map((t) => t.currency)).toEqual(expect.arrayContaining(['EUR', 'USD']));
        expect(books.currencyTotals.map((t) => t.currency)).toEqual(books.currencyTotals.map((t) => t.currency).sort());
        expect(books.currencyTotals.every((t) => t.total === 0)).toBe(true);
        const ids = books.payments.map((p) => p.id);
        expect(ids).toEqual([...ids].sort());
        const money = { amount_captured: 0, amount_refunded: 0, amount_voided: 0 };
        expect(books.payments.filter((p) => p.id === a.id || p.id === b.id)).toEqual([
          { id: b.id, status: 'processing', amount: 500, amount_authorized: 0, ...money, holds: 500, receivable: 0 },
          { id: a.id, status: 'authorized', amount: 1000, amount_authorized: 1000, ...money, holds: 1000, receivable: 600 },
        ]);
        // Inside a transaction the summary sees the transaction's own writes.
        await c.store.transaction(async (tx) => {
          await tx.postEntry(a.id, 'EUR', { kind: 'refund', amount: 100, attemptId: 'att_2' }, c.date(3));
          const inside = await tx.summarizeBooks();
          expect(inside.payments.find((p) => p.id === a.id)).toMatchObject({ receivable: 500 });
        });
      });
    });

    describe('outbox claims', () => {
      test('claims due rows only, oldest due first, up to the limit', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const due = [30, 10, 20, 99];
        for (const [i, at] of due.entries()) await c.store.insertAttempt(c.newAttempt(p, 'authorize', i + 1), c.date(at));
        const first = await c.store.claimDueWork(c.t(50), 2, LEASE);
        const second = await c.store.claimDueWork(c.t(50), 10, LEASE);
        expect(first).toHaveLength(2);
        expect(second).toHaveLength(1);
        // Oldest due first: the rows of attempts 2 (due 10) and 3 (due 20), then 1 (due 30).
        const ids = [...first, ...second].map((w) => w.id);
        expect(ids[0]).toBeGreaterThan(ids[2]!);
        expect(ids[1]).toBeGreaterThan(ids[0]!);
        expect(await c.store.claimDueWork(c.t(99), 10, LEASE)).toHaveLength(1);
      });

      test('a leased row is not handed out again until its lease ends; each claim gets a higher fence', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
        const [w1] = await c.store.claimDueWork(c.t(0), 10, LEASE);
        expect(await c.store.claimDueWork(c.t(0), 10, LEASE)).toEqual([]);
        expect(await c.store.claimDueWork(c.t(LEASE - 1), 10, LEASE)).toEqual([]);
        const [w2] = await c.store.claimDueWork(c.t(LEASE), 10, LEASE);
        expect(w2).toMatchObject({ id: w1!.id, tries: 1 });
        expect(w2!.fence).toBeGreaterThan(w1!.fence);
      });

      test('concurrent claims never hand one row to two claimers', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        for (let i = 1; i <= 6; i++) await c.store.insertAttempt(c.newAttempt(p, 'authorize', i), c.date(i));
        const claims = await Promise.all([1, 2, 3, 4].map(() => c.store.claimDueWork(c.t(10), 2, LEASE)));
        const ids = claims.flat().map((w) => w.id);
        expect(ids).toHaveLength(6);
        expect(new Set(ids).size).toBe(6);
      });

      test('fences for keys and outbox rows come from one increasing sequence', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
        const k1 = c.owned(await c.store.claimKey(c.req('k1'), c.t(0), LEASE));
        const [w] = await c.store.claimDueWork(c.t(0), 10, LEASE);
        const k2 = c.owned(await c.store.claimKey(c.req('k2'), c.t(0), LEASE));
        expect(w!.fence).toBeGreaterThan(k1.fence);
        expect(k2.fence).toBeGreaterThan(w!.fence);
      });

      test('rescheduleWork is fenced: it sets the next due time and frees the lease', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
        const [w1] = await c.store.claimDueWork(c.t(0), 10, LEASE);
        const [w2] = await c.store.claimDueWork(c.t(LEASE), 10, LEASE);
        // The first claimer lost the row: its reschedule does nothing.
        await c.store.rescheduleWork(w1!.id, w1!.fence, c.t(LEASE + 1));
        expect(await c.store.claimDueWork(c.t(LEASE + 1), 10, LEASE)).toEqual([]);
        await c.store.rescheduleWork(w2!.id, w2!.fence, c.t(LEASE + 100));
        expect(await c.store.claimDueWork(c.t(LEASE + 99), 10, LEASE)).toEqual([]);
        const [w3] = await c.store.claimDueWork(c.t(LEASE + 100), 10, LEASE);
        expect(w3).toMatchObject({ id: w1!.id, tries: 2 });
      });

      test('guardWork is fenced: it extends the holder lease and refuses a lost one', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await c.store.insertAttempt(c.newAttempt(p, 'authorize', 1), c.date(0));
        const [w1] = await c.store.claimDueWork(c.t(0), 10, LEASE);
        expect(await c.store.transaction((tx) => tx.guardWork(w1!.id, w1!.fence, c.t(LEASE * 3)))).toBe(true);
        expect(await c.store.claimDueWork(c.t(LEASE), 10, LEASE)).toEqual([]);
        const [w2] = await c.store.claimDueWork(c.t(LEASE * 3), 10, LEASE);
        expect(await c.store.guardWork(w1!.id, w1!.fence, c.t(LEASE * 10))).toBe(false);
        expect(await c.store.guardWork(w2!.id, w2!.fence, c.t(LEASE * 4))).toBe(true);
      });
    });

    describe('reconciliation', () => {
      const record = (c: Case, gateway: string, id: string, over: Partial<GatewayRecord> = {}): GatewayRecord => ({
        id,
        gateway,
        operation: 'authorize',
        status: 'succeeded',
        amount: 1000,
        currency: 'EUR',
        at: c.t(0),
        gatewayKey: `key-${id}`,
        transactionId: id,
        authorizationId: `auth-${id}`,
        reference: `ref-${id}`,
        ...over,
      });

      test('a gateway window is leased to one pass at a time, fenced; only its holder moves the cursor', async (c) => {
        const g = `gw${c.n}`;
        const w1 = await c.store.claimReconcileWindow(g, 'a', c.t(0), LEASE, c.t(-5));
        expect(w1).toMatchObject({ gateway: g, cursor: null, sinceAt: c.t(-5) });
        expect(await c.store.claimReconcileWindow(g, 'b', c.t(LEASE - 1), LEASE, 0)).toBeNull();
        expect(await c.store.renewReconcileWindow(g, w1!.fence, c.t(LEASE * 2))).toBe(true);
        expect(await c.store.claimReconcileWindow(g, 'b', c.t(LEASE), LEASE, 0)).toBeNull();
        const w2 = await c.store.claimReconcileWindow(g, 'b', c.t(LEASE * 2), LEASE, 0);
        expect(w2!.fence).toBeGreaterThan(w1!.fence);
        expect(await c.store.closeReconcileWindow(g, w1!.fence, '7', null, c.t(LEASE * 2))).toBe(false);
        expect(await c.store.closeReconcileWindow(g, w2!.fence, '7', 'log down', c.t(LEASE * 2))).toBe(true);
        const w3 = await c.store.claimReconcileWindow(g, 'a', c.t(LEASE * 2), LEASE, 0);
        expect(w3).toMatchObject({ cursor: '7', sinceAt: c.t(-5) });
        // Undefined keeps the cursor; the error is recorded for the operator.
        expect(await c.store.closeReconcileWindow(g, w3!.fence, undefined, null, c.t(LEASE * 3))).toBe(true);
        const cursors = (await c.store.listReconcileCursors()).filter((x) => x.gateway === g);
        expect(cursors).toEqual([{ gateway: g, cursor: '7', passes: 2, lastError: null, updatedAt: c.t(LEASE * 3) }]);
      });

      test('stages records once under their own ids; settles each once', async (c) => {
        const g = `gw${c.n}`;
        const r1 = record(c, g, `t1_${c.n}`, { at: c.t(20) });
        const r2 = record(c, g, `t2_${c.n}`, { at: c.t(10), operation: 'capture', gatewayKey: undefined as never, reference: undefined as never });
        delete (r2 as Partial<GatewayRecord>).gatewayKey;
        delete (r2 as Partial<GatewayRecord>).reference;
        expect(await c.store.stageRecords([r1, r2], [{ raw: 1 }, { raw: 2 }], 1, c.t(30))).toBe(2);
        expect(await c.store.stageRecords([{ ...r1, amount: 5 }], [{}], 2, c.t(31))).toBe(0);
        const unsettled = await c.store.unsettledRecords(g, 10);
        expect(unsettled).toEqual([
          { ...r2, verdict: null, verdictDetail: null, matchedAttemptId: null, matchEvidence: null },
          { ...r1, verdict: null, verdictDetail: null, matchedAttemptId: null, matchEvidence: null },
        ]);
        expect(await c.store.settleRecord(g, r1.id, 'consistent', 'gateway_key', c.t(40))).toBe(true);
        expect(await c.store.settleRecord(g, r1.id, 'void', null, c.t(41))).toBe(false);
        expect((await c.store.unsettledRecords(g, 10)).map((r) => r.id)).toEqual([r2.id]);
        expect((await c.store.listStagedRecords(g)).map((r) => [r.id, r.verdict])).toEqual([
          [r2.id, null],
          [r1.id, 'consistent'],
        ]);
        expect((await c.store.listStagedRecords(g, c.t(15), c.t(25))).map((r) => r.id)).toEqual([r1.id]);
      });

      test('one gateway operation is one staged record: its keyed and keyless views, in one batch or one after the other, stage once, the first kept', async (c) => {
        const g = `gw${c.n}`;
        const keyed = record(c, g, `v1_${c.n}`, { at: c.t(1) });
        const { gatewayKey: _k, reference: _r, ...keyless } = keyed;
        expect(await c.store.stageRecords([keyless, keyed], [{ view: 'file' }, { view: 'api' }], 1, c.t(2))).toBe(1);
        expect(await c.store.stageRecords([keyed], [{ view: 'api' }], 2, c.t(3))).toBe(0);
        const staged = (await c.store.listStagedRecords(g)).filter((r) => r.id === keyed.id);
        expect(staged).toHaveLength(1);
        expect(staged[0]!.gatewayKey).toBeUndefined();
        // Settled once: a later view of the same operation can never bring a second decision.
        expect(await c.store.settleRecord(g, keyed.id, 'void', null, c.t(4))).toBe(true);
        expect(await c.store.stageRecords([keyed], [{}], 3, c.t(5))).toBe(0);
        expect(await c.store.settleRecord(g, keyed.id, 'consistent', null, c.t(6))).toBe(false);
        expect(await c.store.unsettledRecords(g, 10)).toEqual([]);
      });

      test('keeps the merchant the gateway reported on a staged record, and none when it said none', async (c) => {
        const g = `gw${c.n}`;
        const told = record(c, g, `m1_${c.n}`, { at: c.t(1), merchantId: 'mer_told' });
        const silent = record(c, g, `m2_${c.n}`, { at: c.t(2) });
        expect(await c.store.stageRecords([told, silent], [{}, {}], 1, c.t(3))).toBe(2);
        const staged = await c.store.unsettledRecords(g, 10);
        expect(staged.map((r) => [r.id, r.merchantId])).toEqual([
          [told.id, 'mer_told'],
          [silent.id, undefined],
        ]);
        expect('merchantId' in staged[1]!).toBe(false);
        expect(await c.store.settleRecord(g, told.id, 'consistent', null, c.t(4))).toBe(true);
        expect((await c.store.listStagedRecords(g)).find((r) => r.id === told.id)).toMatchObject({ merchantId: 'mer_told', verdict: 'consistent' });
      });

      test('keeps one match model per name, the last written, as written', async (c) => {
        const name = `model${c.n}`;
        expect(await c.store.loadMatchModel(name)).toBeNull();
        const counts = { m: [[1.5, 0.25], [2, 0, 0.125]], u: [[0.5, 1], [1, 1, 1]], matches: 3.75, pairs: 12 };
        await c.store.saveMatchModel(name, counts, c.t(5));
        expect(await c.store.loadMatchModel(name)).toEqual({ counts, updatedAt: c.t(5) });
        const later = { ...counts, matches: 4.5, pairs: 20 };
        await c.store.saveMatchModel(name, later, c.t(9));
        expect(await c.store.loadMatchModel(name)).toEqual({ counts: later, updatedAt: c.t(9) });
        expect(await c.store.loadMatchModel(`${name}_other`)).toBeNull();
        // A rolled-back transaction leaves the model as it was.
        await expect(
          c.store.transaction(async (tx) => {
            await tx.saveMatchModel(name, counts, c.t(12));
            throw new Error('roll back');
          }),
        ).rejects.toThrow('roll back');
        expect((await c.store.loadMatchModel(name))!.updatedAt).toBe(c.t(9));
      });

      test('keeps the attempt and the evidence of the match a record was settled on; an attempt matched so is seen at the gateway', async (c) => {
        const g = `gw${c.n}`;
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const attempt = async (n: number) => {
          const a = await c.store.insertAttempt({ ...c.newAttempt(p, 'capture', n), gateway: g }, c.date(0));
          await c.store.recordAttempt(a, { status: 'succeeded', gatewayReference: `txn_never_logged_${n}` }, c.date(1));
          return a;
        };
        const [a1, a2] = [await attempt(1), await attempt(2)];
        expect((await c.store.unseenSucceededAttempts(g, c.t(10), 10)).map((a) => a.id)).toEqual([a1.id, a2.id]);
        // Settlement-file lines: neither carries an attempt's key or transaction id.
        const r1 = record(c, g, `e1_${c.n}`, { at: c.t(1), operation: 'capture' });
        const r2 = record(c, g, `e2_${c.n}`, { at: c.t(2), operation: 'capture' });
        delete (r1 as Partial<GatewayRecord>).gatewayKey;
        delete (r2 as Partial<GatewayRecord>).gatewayKey;
        await c.store.stageRecords([r1, r2], [{}, {}], 1, c.t(3));
        const evidence: MatchEvidence = {
          rule: 'scored',
          probability: 0.99971,
          margin: 8.25,
          features: { amount: { value: -31, weight: 1.5 }, time: { value: 120_000, weight: 0.75 }, reference: { value: 'truncated', weight: 6.5 }, merchant: { value: 'missing', weight: 0 } },
        };
        expect(await c.store.settleRecord(g, r1.id, 'consistent', `scored → ${a1.id}`, c.t(4), { attemptId: a1.id, evidence })).toBe(true);
        expect(await c.store.settleRecord(g, r2.id, 'case', 'in review', c.t(4))).toBe(true);
        // A second settle changes nothing, the match included.
        expect(await c.store.settleRecord(g, r1.id, 'consistent', null, c.t(5), { attemptId: a2.id, evidence: { rule: 'gateway_key', probability: 1 } })).toBe(false);
        const staged = await c.store.listStagedRecords(g);
        expect(staged.map((r) => [r.id, r.matchedAttemptId, r.matchEvidence])).toEqual([
          [r1.id, a1.id, evidence],
          [r2.id, null, null],
        ]);
        expect((await c.store.unseenSucceededAttempts(g, c.t(10), 10)).map((a) => a.id)).toEqual([a2.id]);
      });

      test('settles many records in one write, each once, with their details and matches', async (c) => {
        const g = `gw_many_${c.n}`;
        const rs = [1, 2, 3].map((i) => record(c, g, `m${i}_${c.n}`, { at: c.t(i) }));
        await c.store.stageRecords(rs, rs.map(() => ({})), 1, c.t(4));
        expect(await c.store.settleRecord(g, rs[1]!.id, 'void', 'settled before', c.t(5))).toBe(true);
        const evidence: MatchEvidence = { rule: 'gateway_key', probability: 1 };
        const settled = await c.store.settleRecords(
          g,
          [
            { recordId: rs[0]!.id, verdict: 'consistent', detail: 'gateway_key → att_1', match: { attemptId: 'att_1', evidence } },
            { recordId: rs[1]!.id, verdict: 'known', detail: 'again', match: null },
            { recordId: rs[2]!.id, verdict: 'no_effect', detail: null, match: null },
          ],
          c.t(6),
        );
        expect([...settled].sort()).toEqual([rs[0]!.id, rs[2]!.id].sort());
        expect(await c.store.settleRecords(g, [{ recordId: rs[2]!.id, verdict: 'known', detail: 'twice', match: null }], c.t(7))).toEqual([]);
        expect(await c.store.settleRecords(g, [], c.t(7))).toEqual([]);
        const staged = await c.store.listStagedRecords(g);
        expect(staged.map((r) => [r.id, r.verdict, r.verdictDetail, r.matchedAttemptId, r.matchEvidence])).toEqual([
          [rs[0]!.id, 'consistent', 'gateway_key → att_1', 'att_1', evidence],
          [rs[1]!.id, 'void', 'settled before', null, null],
          [rs[2]!.id, 'no_effect', null, null, null],
        ]);
        expect(await c.store.unsettledRecords(g, 10)).toEqual([]);
      });

      test("finds Idem's side by reference, by authorization and by attempt key, with every attempt", async (c) => {
        const p1 = await c.store.insertPayment(c.newPayment('pay_1'));
        const p2 = await c.store.insertPayment(c.newPayment('pay_2'));
        const p3 = await c.store.insertPayment(c.newPayment('pay_3'));
        await c.store.insertPayment(c.newPayment('pay_4'));
        const p2v = await c.store.updatePayment(p2, { status: 'authorized', authorization_id: `auth_${c.n}` }, c.date(1));
        const a3 = await c.store.insertAttempt(c.newAttempt(p3, 'authorize', 1), c.date(0));
        await c.store.insertAttempt(c.newAttempt(p3, 'capture', 1), c.date(0));
        const facts = await c.store.reconciliationFacts({ references: [p1.id, 'nobody'], authorizationIds: [`auth_${c.n}`], gatewayKeys: [a3.gateway_key] });
        expect(facts.payments.map((p) => p.id).sort()).toEqual([p1.id, p2v.id, p3.id].sort());
        expect(facts.attempts.map((a) => `${a.payment_id}:${a.operation}`).sort()).toEqual([`${p3.id}:authorize`, `${p3.id}:capture`]);
      });

      test("finds the payments with an attempt at a gateway within a time range, for records that lost their keys", async (c) => {
        const gw = `gw${c.n}`;
        const at = (p: PaymentRow, ms: number, gateway = gw) => c.store.insertAttempt({ ...c.newAttempt(p, 'authorize', 1), gateway, created_at: c.date(ms) }, c.date(ms));
        const before = await c.store.insertPayment(c.newPayment('pay_before'));
        const first = await c.store.insertPayment(c.newPayment('pay_first'));
        const last = await c.store.insertPayment(c.newPayment('pay_last'));
        const after = await c.store.insertPayment(c.newPayment('pay_after'));
        const elsewhere = await c.store.insertPayment(c.newPayment('pay_elsewhere'));
        await at(before, 999);
        await at(first, 1_000);
        await at(last, 2_000);
        await at(after, 2_001);
        await at(elsewhere, 1_500, `${gw}-other`);
        await c.store.insertAttempt(c.newAttempt(last, 'capture', 1), c.date(5_000));
        const facts = await c.store.reconciliationFacts({ references: [], authorizationIds: [], gatewayKeys: [], attemptsAt: { gateway: gw, from: c.t(1_000), to: c.t(2_000) } });
        expect(facts.payments.map((p) => p.id).sort()).toEqual([first.id, last.id].sort());
        // With all their attempts, whenever made.
        expect(facts.attempts.map((a) => `${a.payment_id}:${a.operation}`).sort()).toEqual([`${first.id}:authorize`, `${last.id}:authorize`, `${last.id}:capture`].sort());
        expect((await c.store.reconciliationFacts({ references: [], authorizationIds: [], gatewayKeys: [] })).payments).toEqual([]);
      });

      test('a remediation is written once per gateway key and claimed by one holder at a time, fenced', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const key = `recon.void.gw${c.n}.auth_x`;
        const row = {
          gateway: `gw${c.n}`,
          action: 'void' as const,
          reason: 'duplicate_authorization' as const,
          gateway_key: key,
          authorization_id: 'auth_x',
          record_id: 'txn_x',
          amount: 1000,
          currency: 'EUR',
          reference: p.id,
          payment_id: p.id,
          merchant_id: c.merchant,
          run_after: c.t(0),
          created_at: c.t(0),
        };
        expect(await c.store.insertRemediation(row)).toBe(true);
        expect(await c.store.insertRemediation({ ...row, record_id: 'txn_y' })).toBe(false);
        await c.store.insertRemediation({ ...row, gateway_key: `${key}2`, payment_id: null, merchant_id: null, reason: 'orphaned_authorization' });
        const claims = await Promise.all([1, 2, 3].map(() => c.store.claimDueRemediations(c.t(0), 1, LEASE)));
        expect(claims.flat().map((r) => r.gateway_key).sort()).toEqual([key, `${key}2`]);
        const first = claims.flat().find((r) => r.gateway_key === key)!;
        expect(first).toMatchObject({ state: 'pending', tries: 0, record_id: 'txn_x', payment_id: p.id });
        expect(await c.store.claimDueRemediations(c.t(LEASE - 1), 10, LEASE)).toEqual([]);
        expect(await c.store.guardRemediation(first.id, first.fence, c.t(LEASE * 2))).toBe(true);
        const [again] = (await c.store.claimDueRemediations(c.t(LEASE * 2), 10, LEASE)).filter((r) => r.gateway_key === key);
        expect(again!.fence).toBeGreaterThan(first.fence);
        expect(again!.tries).toBe(1);
        expect(await c.store.finishRemediation(first.id, first.fence, 'done', 'txn_v', c.t(LEASE * 2), c.t(LEASE * 2))).toBe(false);
        expect(await c.store.finishRemediation(again!.id, again!.fence, 'done', 'txn_v', c.t(LEASE * 2), c.t(LEASE * 2))).toBe(true);
        expect(await c.store.finishRemediation(again!.id, again!.fence, 'failed', null, c.t(LEASE * 2), c.t(LEASE * 2))).toBe(false);
        expect((await c.store.findRemediations([key]))[0]).toMatchObject({ state: 'done', result: 'txn_v', done_at: c.t(LEASE * 2) });
      });

      test('a case opens once per finding and is resolved once; listed per merchant and status', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const other = await c.newMerchant();
        const base = {
          gateway: `gw${c.n}`,
          class: 'unrequested_operation' as const,
          team: 'support' as const,
          evidence: { why: 'a capture made outside Idem', record: { id: 'txn_1' } },
          action: 'adopted',
          action_result: null,
          opened_at: c.t(0),
        };
        const opened = await c.store.openCase({ ...base, id: `case_${c.n}_1`, dedupe_key: `d${c.n}1`, merchant_id: c.merchant, payment_id: p.id });
        expect(opened).toMatchObject({ status: 'open', resolution: null, resolved_at: null, evidence: base.evidence });
        expect(await c.store.openCase({ ...base, id: `case_${c.n}_2`, dedupe_key: `d${c.n}1`, merchant_id: c.merchant, payment_id: p.id })).toBeNull();
        await c.store.openCase({ ...base, id: `case_${c.n}_3`, dedupe_key: `d${c.n}3`, merchant_id: other, payment_id: null, opened_at: c.t(1) });
        await c.store.openCase({ ...base, id: `case_${c.n}_4`, dedupe_key: `d${c.n}4`, merchant_id: null, payment_id: null, opened_at: c.t(2) });
        expect((await c.store.listCases({ merchantId: c.merchant })).map((x) => x.id)).toEqual([`case_${c.n}_1`]);
        expect((await c.store.listCases({ gateway: `gw${c.n}` })).map((x) => x.id)).toEqual([`case_${c.n}_1`, `case_${c.n}_3`, `case_${c.n}_4`]);
        const resolved = await c.store.resolveCase(`case_${c.n}_1`, 'confirmed', c.t(5));
        expect(resolved).toMatchObject({ status: 'resolved', resolution: 'confirmed', resolved_at: c.t(5) });
        expect(await c.store.resolveCase(`case_${c.n}_1`, 'again', c.t(6))).toBeNull();
        expect((await c.store.listCases({ merchantId: c.merchant, status: 'open' })).length).toBe(0);
        expect(await c.store.findCase(`case_${c.n}_1`)).toEqual(resolved);
      });
    });

    describe('merchants', () => {
      test('resolves an API key hash to its merchant; unknown hashes to null', async (c) => {
        const before = await c.store.countMerchants();
        await c.store.insertMerchant({ id: `mer_x_${c.n}`, name: 'X', keyHash: `hash_x_${c.n}`, keyPrefix: 'sk_abcd' });
        expect(await c.store.countMerchants()).toBe(before + 1);
        expect(await c.store.merchantForKeyHash(`hash_x_${c.n}`)).toBe(`mer_x_${c.n}`);
        expect(await c.store.merchantForKeyHash(`hash_none_${c.n}`)).toBeNull();
        await expect(c.store.insertMerchant({ id: `mer_x_${c.n}`, name: 'Y', keyHash: `hash_y_${c.n}`, keyPrefix: 'sk_efgh' })).rejects.toThrow();
        expect(await c.store.merchantForKeyHash(`hash_y_${c.n}`)).toBeNull();
      });

      test('adds, lists and revokes API keys by prefix; a revoked key resolves to no merchant', async (c) => {
        expect(await c.store.merchantExists(c.merchant)).toBe(true);
        expect(await c.store.merchantExists(`mer_none_${c.n}`)).toBe(false);
        expect(await c.store.insertApiKey(`mer_none_${c.n}`, `hash_k0_${c.n}`, 'sk_none', c.date(0))).toBe(false);
        expect(await c.store.insertApiKey(c.merchant, `hash_k1_${c.n}`, 'sk_k1xx', c.date(1000))).toBe(true);
        expect((await c.store.listApiKeys(c.merchant)).map((k) => [k.prefix, k.revokedAt])).toEqual([
          ['sk_test', null],
          ['sk_k1xx', null],
        ]);
        expect(await c.store.transaction((tx) => tx.revokeApiKeys(c.merchant, 'sk_test', c.date(2000)))).toBe(1);
        expect(await c.store.revokeApiKeys(c.merchant, 'sk_test', c.date(3000))).toBe(0);
        expect(await c.store.merchantForKeyHash(`hash_${c.merchant}`)).toBeNull();
        expect(await c.store.merchantForKeyHash(`hash_k1_${c.n}`)).toBe(c.merchant);
        const listed = await c.store.listApiKeys(c.merchant);
        expect(listed[0]!.revokedAt?.getTime()).toBe(c.t(2000));
        expect(listed[1]!.createdAt.getTime()).toBe(c.t(1000));
      });
    });

    describe('the event feed and webhooks', () => {
      const position = (c: Case) => c.store.transaction((tx) => tx.positionEvents(c.date(0), 10_000));

      test('payment events number 1, 2, 3 per payment; system events have none; ids are unique', async (c) => {
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const q = await c.store.insertPayment(c.newPayment('pay_2'));
        await c.store.transaction(async (tx) => {
          await tx.insertEvent(c.event(p, 'payment.created'));
          await tx.insertEvent(c.event(q, 'payment.created'));
          await tx.insertEvent(c.event(p, 'attempt.started'));
          await tx.insertSystemEvent({ id: `evt_sys_${c.n}`, type: 'gateway.down', merchantId: null, data: { gateway: 'g1' }, metadata: { gateway: 'g1' }, createdAt: c.date(1) });
          await tx.insertSystemEvent({ id: `evt_mer_${c.n}`, type: 'webhook_endpoint.disabled', merchantId: c.merchant, data: {}, metadata: { merchant_id: c.merchant }, createdAt: c.date(1) });
        });
        expect((await c.store.listEvents(p.id)).map((e) => [e.type, e.seq, e.metadata])).toEqual([
          ['payment.created', 1, { merchant_id: c.merchant, payment_id: p.id, idempotency_key: 'idem-1' }],
          ['attempt.started', 2, { merchant_id: c.merchant, payment_id: p.id, idempotency_key: 'idem-1' }],
        ]);
        expect((await c.store.listEvents(q.id)).map((e) => e.seq)).toEqual([1]);
        const dup = { ...c.event(p, 'payment.authorized'), id: (await c.store.listEvents(p.id))[0]!.id };
        await expect(c.store.insertEvent(dup)).rejects.toMatchObject({ code: '23505' });
        await position(c);
        const mine = await c.store.findEvent(c.merchant, `evt_mer_${c.n}`);
        expect(mine).toMatchObject({ paymentId: null, seq: null, merchantId: c.merchant, type: 'webhook_endpoint.disabled' });
        expect(await c.store.findEvent(c.merchant, `evt_sys_${c.n}`)).toBeNull(); // no merchant's
        const all = await c.store.listFeed(null, mine!.position! - 10, 100);
        expect(all.some((e) => e.id === `evt_sys_${c.n}`)).toBe(true);
      });

      test('a gateway health change is reported once, however many instances report it, and again only when it changes', async (c) => {
        const gw = `gw_${c.n}`;
        const ev = (id: string, type: string) => ({ id: `evt_${id}_${c.n}`, type, merchantId: null, data: { gateway: gw }, metadata: { gateway: gw }, createdAt: c.date(1) });
        // Two instances learned the same change at once.
        const both = await Promise.all([
          c.store.transaction((tx) => tx.reportGatewayHealth(gw, 'authorize', 'down', ev('d1', 'gateway.down'))),
          c.store.transaction((tx) => tx.reportGatewayHealth(gw, 'authorize', 'down', ev('d2', 'gateway.down'))),
        ]);
        expect(both.filter(Boolean)).toHaveLength(1);
        expect(await c.store.transaction((tx) => tx.reportGatewayHealth(gw, 'authorize', 'down', ev('d3', 'gateway.down')))).toBe(false);
        // Another operation of the same gateway is its own.
        expect(await c.store.transaction((tx) => tx.reportGatewayHealth(gw, 'capture', 'down', ev('c1', 'gateway.down')))).toBe(true);
        expect(await c.store.transaction((tx) => tx.reportGatewayHealth(gw, 'authorize', 'recovering', ev('r1', 'gateway.recovering')))).toBe(true);
        // A report rolled back with its transaction leaves the state as it was.
        await expect(
          c.store.transaction(async (tx) => {
            await tx.reportGatewayHealth(gw, 'authorize', 'healthy', ev('h0', 'gateway.recovered'));
            throw new Error('rolled back');
          }),
        ).rejects.toThrow('rolled back');
        expect(await c.store.transaction((tx) => tx.reportGatewayHealth(gw, 'authorize', 'healthy', ev('h1', 'gateway.recovered')))).toBe(true);
        await position(c);
        const mine = (await c.store.listFeed(null, 0, 10_000)).filter((e) => e.data['gateway'] === gw);
        expect(mine.map((e) => [e.type, e.merchantId, e.paymentId])).toEqual([
          ['gateway.down', null, null],
          ['gateway.down', null, null],
          ['gateway.recovering', null, null],
          ['gateway.recovered', null, null],
        ]);
      });

      test('the feed shows positioned events only, in write order, per merchant, after a position, by type', async (c) => {
        const other = await c.newMerchant();
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const o = await c.store.insertPayment(c.newPayment('pay_2', { merchant_id: other }));
        await c.store.insertEvent(c.event(p, 'payment.created'));
        await c.store.insertEvent(c.event(o, 'payment.created'));
        await c.store.insertEvent(c.event(p, 'attempt.started'));
        expect(await c.store.listFeed(c.merchant, 0, 100)).toEqual([]);
        expect(await c.store.findEvent(c.merchant, (await c.store.listEvents(p.id))[0]!.id)).toMatchObject({ position: null });
        await position(c);
        const feed = await c.store.listFeed(c.merchant, 0, 100);
        expect(feed.map((e) => e.type)).toEqual(['payment.created', 'attempt.started']);
        expect(feed[1]!.position).toBeGreaterThan(feed[0]!.position!);
        expect((await c.store.listFeed(c.merchant, feed[0]!.position!, 100)).map((e) => e.type)).toEqual(['attempt.started']);
        expect((await c.store.listFeed(c.merchant, 0, 1)).length).toBe(1);
        expect((await c.store.listFeed(c.merchant, 0, 100, ['attempt.started'])).map((e) => e.type)).toEqual(['attempt.started']);
        expect((await c.store.listFeed(other, 0, 100)).map((e) => e.paymentId)).toEqual([o.id]);
        expect(await c.store.findEvent(other, feed[0]!.id)).toBeNull();
        // Positioned once: a second pass finds nothing to do.
        expect((await position(c)).positioned).toBe(0);
        expect((await c.store.listFeed(c.merchant, 0, 100)).map((e) => e.position)).toEqual(feed.map((e) => e.position));
      });

      test('concurrent positioning passes never give an event two positions or skip one', async (c) => {
        // Each payment's events are written one after another (the pipeline holds the payment's row); payments run at once.
        const ps = await Promise.all([1, 2, 3, 4].map((i) => c.store.insertPayment(c.newPayment(`pay_${i}`))));
        const writes = ps.map(async (p) => {
          for (let i = 0; i < 5; i++) await c.store.insertEvent(c.event(p, 'attempt.started', { i }));
        });
        const passes = Array.from({ length: 6 }, () => c.store.transaction((tx) => tx.positionEvents(c.date(0), 3)));
        await Promise.all([...writes, ...passes]);
        while ((await position(c)).positioned > 0);
        const feed = await c.store.listFeed(c.merchant, 0, 100);
        expect(feed).toHaveLength(20);
        expect(new Set(feed.map((e) => e.position)).size).toBe(20);
        // Per payment, feed order is sequence order.
        for (const p of ps) expect(feed.filter((e) => e.paymentId === p.id).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      });

      test('endpoints: create, list, find (own merchant only), disable, enable, rotate, delete', async (c) => {
        const other = await c.newMerchant();
        const e = await c.store.insertEndpoint({ id: `we_1_${c.n}`, merchantId: c.merchant, url: 'https://example.com/h', eventTypes: ['payment.captured'], status: 'enabled', secret: 'whsec_a', createdAt: c.date(0) });
        expect(e).toMatchObject({ eventTypes: ['payment.captured'], failingSince: null, previousSecret: null, disabledReason: null });
        await c.store.insertEndpoint({ id: `we_2_${c.n}`, merchantId: c.merchant, url: 'https://example.com/all', eventTypes: null, status: 'enabled', secret: 'whsec_b', createdAt: c.date(1) });
        expect((await c.store.listEndpoints(c.merchant)).map((w) => w.id)).toEqual([`we_1_${c.n}`, `we_2_${c.n}`]);
        expect(await c.store.findEndpoint(other, e.id)).toBeNull();
        expect(await c.store.setEndpointStatus(other, e.id, 'disabled', 'x', c.date(2))).toBeNull();
        expect(await c.store.setEndpointStatus(c.merchant, e.id, 'disabled', 'by the merchant', c.date(2))).toMatchObject({ changed: true, endpoint: { status: 'disabled', disabledReason: 'by the merchant' } });
        expect((await c.store.setEndpointStatus(c.merchant, e.id, 'disabled', 'again', c.date(2)))!.changed).toBe(false);
        expect(await c.store.setEndpointStatus(c.merchant, e.id, 'enabled', null, c.date(3))).toMatchObject({ changed: true, endpoint: { status: 'enabled', disabledReason: null } });
        const r = await c.store.rotateEndpointSecret(c.merchant, e.id, 'whsec_c', c.date(100), c.date(4));
        expect(r).toMatchObject({ secret: 'whsec_c', previousSecret: 'whsec_a' });
        expect(r!.previousSecretUntil!.getTime()).toBe(c.t(100));
        expect(await c.store.deleteEndpoint(other, e.id)).toBe(false);
        expect(await c.store.deleteEndpoint(c.merchant, e.id)).toBe(true);
        expect(await c.store.findEndpoint(c.merchant, e.id)).toBeNull();
      });

      test('positioning fans events out to subscribed enabled endpoints; claims keep per-payment order and fences', async (c) => {
        const all = await c.store.insertEndpoint({ id: `we_all_${c.n}`, merchantId: c.merchant, url: 'https://a.example/h', eventTypes: null, status: 'enabled', secret: 'whsec_a', createdAt: c.date(0) });
        await c.store.insertEndpoint({ id: `we_cap_${c.n}`, merchantId: c.merchant, url: 'https://b.example/h', eventTypes: ['payment.captured'], status: 'enabled', secret: 'whsec_b', createdAt: c.date(0) });
        await c.store.insertEndpoint({ id: `we_off_${c.n}`, merchantId: c.merchant, url: 'https://c.example/h', eventTypes: null, status: 'disabled', secret: 'whsec_c', createdAt: c.date(0) });
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const q = await c.store.insertPayment(c.newPayment('pay_2'));
        for (const t of ['payment.created', 'attempt.started', 'payment.captured']) await c.store.insertEvent(c.event(p, t));
        await c.store.insertEvent(c.event(q, 'payment.created'));
        // No event_types: the merchant-facing events only (attempt.* are opt-in by name, docs/events.md).
        expect(await position(c)).toMatchObject({ positioned: 4, deliveries: 4 });
        // First round: the head of each (endpoint, payment) queue only.
        const first = await c.store.claimDeliveries(c.t(0), 100, 30_000, 10, new Map());
        expect(first.map((d) => [d.endpointId, JSON.parse(d.body).type, JSON.parse(d.body).payment_id]).sort()).toEqual(
          [
            [all.id, 'payment.created', p.id],
            [all.id, 'payment.created', q.id],
            [`we_cap_${c.n}`, 'payment.captured', p.id],
          ].sort(),
        );
        const d0 = first.find((d) => d.endpointId === all.id && d.paymentId === p.id)!;
        expect(d0).toMatchObject({ secrets: ['whsec_a'], attempts: 0, merchantId: c.merchant, eventId: JSON.parse(d0.body).id });
        expect(JSON.parse(d0.body)).toMatchObject({ object: 'event', sequence: 1, metadata: { payment_id: p.id } });
        // Leased: nothing more for that queue until it is finished.
        expect(await c.store.claimDeliveries(c.t(0), 100, 30_000, 10, new Map())).toEqual([]);
        // A retry keeps the queue blocked; success lets the next one through.
        expect(await c.store.finishDelivery(d0.id, d0.fence, { state: 'pending', nextAttemptAt: c.date(10), status: 503, error: 'HTTP 503' }, c.date(0))).toBe(true);
        expect(await c.store.finishDelivery(d0.id, d0.fence, { state: 'succeeded', nextAttemptAt: null, status: 200, error: null }, c.date(0))).toBe(false);
        expect(await c.store.claimDeliveries(c.t(5), 100, 30_000, 10, new Map())).toEqual([]);
        const again = await c.store.claimDeliveries(c.t(10), 100, 30_000, 10, new Map([[`we_cap_${c.n}`, 10]]));
        expect(again.map((d) => [d.id, d.attempts])).toEqual([[d0.id, 1]]);
        expect(await c.store.finishDelivery(again[0]!.id, d0.fence, { state: 'succeeded', nextAttemptAt: null, status: 200, error: null }, c.date(10))).toBe(false);
        expect(await c.store.finishDelivery(again[0]!.id, again[0]!.fence, { state: 'succeeded', nextAttemptAt: null, status: 200, error: null }, c.date(10))).toBe(true);
        const next = await c.store.claimDeliveries(c.t(10), 100, 30_000, 10, new Map());
        expect(next.map((d) => JSON.parse(d.body).type)).toEqual(['payment.captured']);
        // A disabled endpoint's deliveries wait; deleting an endpoint deletes its deliveries.
        await c.store.setEndpointStatus(c.merchant, all.id, 'disabled', null, c.date(11));
        expect(await c.store.claimDeliveries(c.t(60_000), 100, 30_000, 10, new Map([[`we_cap_${c.n}`, 10]]))).toEqual([]);
        expect(await c.store.deleteEndpoint(c.merchant, all.id)).toBe(true);
      });

      test('lanes: a payment\'s next due deliveries come with the first, in order; released ones are claimable at once', async (c) => {
        const w = await c.store.insertEndpoint({ id: `we_1_${c.n}`, merchantId: c.merchant, url: 'https://a.example/h', eventTypes: ['payment.created', 'attempt.started', 'attempt.succeeded', 'payment.authorized'], status: 'enabled', secret: 'whsec_a', createdAt: c.date(0) });
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const q = await c.store.insertPayment(c.newPayment('pay_2'));
        for (const t of ['payment.created', 'attempt.started', 'attempt.succeeded', 'payment.authorized']) await c.store.insertEvent(c.event(p, t));
        await c.store.insertEvent(c.event(q, 'payment.created'));
        await position(c);
        const got = await c.store.claimDeliveries(c.t(0), 100, 1000, 10, new Map(), 3);
        const lanes = new Map<number, string[]>();
        for (const d of got) lanes.set(d.lane, [...(lanes.get(d.lane) ?? []), `${d.paymentId}:${JSON.parse(d.body).type}`]);
        expect([...lanes.values()].sort()).toEqual(
          [[`${p.id}:payment.created`, `${p.id}:attempt.started`, `${p.id}:attempt.succeeded`], [`${q.id}:payment.created`]].sort(),
        );
        for (const lane of lanes.keys()) expect(got.find((d) => d.lane === lane)!.id).toBe(lane);
        // The fourth waits for its lane to end: not first in its queue.
        expect(await c.store.claimDeliveries(c.t(0), 100, 1000, 10, new Map(), 3)).toEqual([]);
        // The lane's first is retried: the rest are released but stay behind it.
        const [first, second, third] = got.filter((d) => d.paymentId === p.id);
        expect(await c.store.finishDelivery(first!.id, first!.fence, { state: 'pending', nextAttemptAt: c.date(50), status: 503, error: 'HTTP 503' }, c.date(0))).toBe(true);
        await c.store.releaseDeliveries([second!, third!].map((d) => ({ id: d.id, fence: d.fence })));
        expect(await c.store.claimDeliveries(c.t(10), 100, 1000, 10, new Map(), 3)).toEqual([]);
        const again = await c.store.claimDeliveries(c.t(50), 100, 1000, 10, new Map(), 8);
        expect(again.map((d) => JSON.parse(d.body).type)).toEqual(['payment.created', 'attempt.started', 'attempt.succeeded', 'payment.authorized']);
        expect(new Set(again.map((d) => d.lane))).toEqual(new Set([first!.id]));
        // A release with a stale fence changes nothing.
        await c.store.releaseDeliveries([{ id: second!.id, fence: second!.fence }]);
        expect(await c.store.claimDeliveries(c.t(50), 100, 1000, 10, new Map(), 8)).toEqual([]);
        void w;
      });

      test('a lane\u2019s successes are written in one statement: fenced, the endpoint healthy, the queue moves on', async (c) => {
        const w = await c.store.insertEndpoint({ id: `we_1_${c.n}`, merchantId: c.merchant, url: 'https://a.example/h', eventTypes: null, status: 'enabled', secret: 'whsec_a', createdAt: c.date(0) });
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const q = await c.store.insertPayment(c.newPayment('pay_2'));
        for (const t of ['payment.created', 'payment.authorized', 'payment.captured']) await c.store.insertEvent(c.event(p, t));
        await c.store.insertEvent(c.event(q, 'payment.created'));
        await position(c);
        expect(await c.store.noteEndpointResult(w.id, false, c.date(0))).toEqual(c.date(0));
        const got = await c.store.claimDeliveries(c.t(0), 100, 1000, 10, new Map(), 2);
        const lane = got.filter((d) => d.paymentId === p.id);
        const other = got.find((d) => d.paymentId === q.id)!;
        expect(lane.map((d) => JSON.parse(d.body).type)).toEqual(['payment.created', 'payment.authorized']);
        expect(await c.store.succeedDeliveries([], c.date(1))).toEqual([]);
        // A stale fence is left out; the others are written, whatever lane they came from.
        const written = await c.store.succeedDeliveries(
          [...lane.map((d) => ({ id: d.id, fence: d.fence, status: 200 })), { id: other.id, fence: other.fence + 1_000, status: 204 }],
          c.date(2),
        );
        expect(written.sort((a, b) => a - b)).toEqual(lane.map((d) => d.id).sort((a, b) => a - b));
        expect(await c.store.succeedDeliveries([{ id: lane[0]!.id, fence: lane[0]!.fence, status: 200 }], c.date(3))).toEqual([]);
        expect((await c.store.findEndpoint(c.merchant, w.id))!.failingSince).toBeNull();
        const listed = await c.store.listDeliveries(c.merchant, { paymentId: p.id }, 10);
        expect(listed.filter((d) => d.state === 'succeeded').map((d) => [d.attempts, d.lastStatus, d.completedAt])).toEqual([
          [1, 200, c.date(2)],
          [1, 200, c.date(2)],
        ]);
        // The payment's next event is first in its queue now; the stale one is still leased.
        expect((await c.store.claimDeliveries(c.t(10), 100, 1000, 10, new Map(), 2)).map((d) => JSON.parse(d.body).type)).toEqual(['payment.captured']);
      });

      test('no endpoint gets more than its room in one claim', async (c) => {
        const w = await c.store.insertEndpoint({ id: `we_1_${c.n}`, merchantId: c.merchant, url: 'https://a.example/h', eventTypes: null, status: 'enabled', secret: 'whsec_a', createdAt: c.date(0) });
        const v = await c.store.insertEndpoint({ id: `we_2_${c.n}`, merchantId: c.merchant, url: 'https://b.example/h', eventTypes: null, status: 'enabled', secret: 'whsec_b', createdAt: c.date(0) });
        for (let i = 1; i <= 4; i++) await c.store.insertEvent(c.event(await c.store.insertPayment(c.newPayment(`pay_${i}`)), 'payment.created'));
        await position(c);
        const got = await c.store.claimDeliveries(c.t(0), 100, 1000, 3, new Map([[w.id, 2]]));
        expect(got.filter((d) => d.endpointId === w.id)).toHaveLength(1);
        expect(got.filter((d) => d.endpointId === v.id)).toHaveLength(3);
        expect((await c.store.claimDeliveries(c.t(0), 100, 1000, 3, new Map([[v.id, 3]]))).map((d) => d.endpointId)).toEqual([w.id, w.id, w.id]);
        const rest = await c.store.claimDeliveries(c.t(1000), 1, 1000, 10, new Map());
        expect(rest).toHaveLength(1);
      });

      test('failing since, replay of a time range, and rotated secrets within their window', async (c) => {
        const w = await c.store.insertEndpoint({ id: `we_1_${c.n}`, merchantId: c.merchant, url: 'https://a.example/h', eventTypes: null, status: 'enabled', secret: 'whsec_a', createdAt: c.date(0) });
        expect(await c.store.noteEndpointResult(w.id, false, c.date(5))).toEqual(c.date(5));
        expect(await c.store.noteEndpointResult(w.id, false, c.date(9))).toEqual(c.date(5));
        expect(await c.store.noteEndpointResult(w.id, true, c.date(10))).toBeNull();
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        await c.store.insertEvent(c.event(p, 'payment.created', {}, 100));
        await c.store.insertEvent(c.event(p, 'payment.authorized', {}, 200));
        await position(c);
        const first = await c.store.claimDeliveries(c.t(0), 10, 1000, 10, new Map());
        // A failing endpoint stops failing when a delivery succeeds, in the same write.
        expect(await c.store.noteEndpointResult(w.id, false, c.date(0))).toEqual(c.date(0));
        await c.store.finishDelivery(first[0]!.id, first[0]!.fence, { state: 'succeeded', nextAttemptAt: null, status: 200, error: null }, c.date(0));
        expect((await c.store.findEndpoint(c.merchant, w.id))!.failingSince).toBeNull();
        const second = await c.store.claimDeliveries(c.t(0), 10, 1000, 10, new Map());
        await c.store.finishDelivery(second[0]!.id, second[0]!.fence, { state: 'failed', nextAttemptAt: null, status: 500, error: 'HTTP 500' }, c.date(0));
        expect(await c.store.claimDeliveries(c.t(0), 10, 1000, 10, new Map())).toEqual([]);
        expect(await c.store.replayDeliveries(c.merchant, w.id, c.date(150), c.date(300), c.date(1), 100)).toBe(1);
        expect(await c.store.replayDeliveries(await c.newMerchant(), w.id, c.date(0), c.date(300), c.date(1), 100)).toBe(0);
        await c.store.rotateEndpointSecret(c.merchant, w.id, 'whsec_b', c.date(50), c.date(1));
        const replayed = await c.store.claimDeliveries(c.t(1), 10, 1000, 10, new Map());
        expect(replayed.map((d) => [JSON.parse(d.body).type, d.eventId, d.secrets])).toEqual([['payment.authorized', second[0]!.eventId, ['whsec_b', 'whsec_a']]]);
        await c.store.finishDelivery(replayed[0]!.id, replayed[0]!.fence, { state: 'pending', nextAttemptAt: c.date(60), status: null, error: 'timeout' }, c.date(1));
        expect((await c.store.claimDeliveries(c.t(60), 10, 1000, 10, new Map()))[0]!.secrets).toEqual(['whsec_b']);
      });

      test('the dashboard\u2019s reads: deliveries per endpoint and per payment, events per minute and type, merchants', async (c) => {
        const w = await c.store.insertEndpoint({ id: `we_1_${c.n}`, merchantId: c.merchant, url: 'https://a.example/h', eventTypes: null, status: 'enabled', secret: 'whsec_a', createdAt: c.date(0) });
        const p = await c.store.insertPayment(c.newPayment('pay_1'));
        const created = c.event(p, 'payment.created', {}, 100);
        const authorized = c.event(p, 'payment.authorized', {}, 61_000);
        await c.store.insertEvent(created);
        await c.store.insertEvent(authorized);
        await position(c);
        const [first] = await c.store.claimDeliveries(c.t(0), 1, 1000, 10, new Map());
        await c.store.finishDelivery(first!.id, first!.fence, { state: 'succeeded', nextAttemptAt: null, status: 200, error: null }, c.date(400));
        const listed = await c.store.listDeliveries(c.merchant, { endpointId: w.id }, 10);
        expect(listed.map((d) => [d.eventId, d.eventType, d.paymentId, d.state, d.attempts, d.lastStatus])).toEqual([
          [authorized.id, 'payment.authorized', p.id, 'pending', 0, null],
          [created.id, 'payment.created', p.id, 'succeeded', 1, 200],
        ]);
        expect(listed[1]!.completedAt).toEqual(c.date(400));
        expect((await c.store.listDeliveries(c.merchant, { paymentId: p.id }, 1)).map((d) => d.eventId)).toEqual([authorized.id]);
        expect(await c.store.listDeliveries(c.merchant, { paymentId: 'pay_nobody' }, 10)).toEqual([]);
        expect(await c.store.listDeliveries(await c.newMerchant(), { endpointId: w.id }, 10)).toEqual([]);
        expect(await c.store.eventActivity(c.merchant, c.t(0))).toEqual({
          buckets: [
            { minute: c.t(0), type: 'payment.created', count: 1 },
            { minute: c.t(60_000), type: 'payment.authorized', count: 1 },
          ],
          lastEventId: authorized.id,
        });
        expect((await c.store.eventActivity(c.merchant, c.t(60_000))).buckets).toEqual([{ minute: c.t(60_000), type: 'payment.authorized', count: 1 }]);
        expect(await c.store.eventActivity(await c.newMerchant(), c.t(0))).toEqual({ buckets: [], lastEventId: null });
        expect((await c.store.listMerchants()).filter((m) => m.id === c.merchant)).toEqual([{ id: c.merchant, name: `Merchant ${c.merchant}` }]);
      });

      test('a publisher cursor is leased and fenced', async (c) => {
        const name = `nats_${c.n}`;
        const a = await c.store.claimPublisher(name, c.t(0), 1000);
        expect(a).toEqual({ position: 0, fence: expect.any(Number) });
        expect(await c.store.claimPublisher(name, c.t(500), 1000)).toBeNull();
        expect(await c.store.advancePublisher(name, a!.fence, 42, c.t(1500))).toBe(true);
        expect(await c.store.claimPublisher(name, c.t(1400), 1000)).toBeNull();
        const b = await c.store.claimPublisher(name, c.t(1500), 1000);
        expect(b).toEqual({ position: 42, fence: expect.any(Number) });
        expect(b!.fence).toBeGreaterThan(a!.fence);
        expect(await c.store.advancePublisher(name, a!.fence, 99, c.t(3000))).toBe(false);
        expect(await c.store.advancePublisher(name, b!.fence, 10, c.t(3000))).toBe(true);
        expect((await c.store.claimPublisher(name, c.t(3000), 1000))!.position).toBe(42);
      });
    });
  });
}

/** One test's world: its merchant, its ids, its time. */
class Case {
  merchant = '';
  private merchants = 0;

  constructor(
    readonly store: Store,
    private readonly base: number,
    readonly n: number,
  ) {}

  async init() {
    this.merchant = await this.newMerchant();
  }

  async newMerchant(): Promise<string> {
    const id = `mer_${this.n}_${++this.merchants}`;
    await this.store.insertMerchant({ id, name: `Merchant ${id}`, keyHash: `hash_${id}`, keyPrefix: 'sk_test' });
    return id;
  }

  t(offset: number): number {
    return this.base + offset;
  }

  date(offset: number): Date {
    return new Date(this.base + offset);
  }

  req(key: string, fingerprint = 'fp-1', path = '/v1/payments'): KeyRequest {
    return { merchantId: this.merchant, key, method: 'POST', path, fingerprint };
  }

  owned(claim: Awaited<ReturnType<Store['claimKey']>>) {
    if (claim.kind !== 'owned') throw new Error(`expected to own the key, got ${JSON.stringify(claim)}`);
    return claim;
  }

  /** An id unique to this test. */
  id(base: string): string {
    return base.endsWith(`_${this.n}`) ? base : `${base}_${this.n}`;
  }

  private events = 0;

  /** A payment event with a unique id and its metadata. */
  event(p: { id: string; merchant_id: string }, type: string, data: Record<string, unknown> = {}, at = 0): NewPaymentEvent {
    return {
      id: `evt_${this.n}_${++this.events}`,
      type,
      merchantId: p.merchant_id,
      paymentId: p.id,
      data,
      metadata: { merchant_id: p.merchant_id, payment_id: p.id, idempotency_key: 'idem-1' },
      createdAt: this.date(at),
    };
  }

  newPayment(id: string, over: Partial<NewPayment> = {}): NewPayment {
    return {
      id: this.id(id),
      merchant_id: this.merchant,
      amount: 1000,
      currency: 'EUR',
      capture_method: 'manual',
      status: 'processing',
      token: 'tok_visa',
      reference: null,
      metadata: {},
      preferred_gateway: null,
      gateway: null,
      idempotency_key: 'idem-1',
      created_at: this.date(0),
      updated_at: this.date(0),
      ...over,
    };
  }

  newAttempt(p: PaymentRow, operation: GatewayOperation, attemptNo: number): Omit<AttemptRow, 'gateway_reference' | 'decline_code' | 'completed_at' | 'status'> {
    return {
      id: `att_${p.id}_${operation}_${attemptNo}`,
      payment_id: p.id,
      operation,
      attempt_no: attemptNo,
      gateway: 'sim-a',
      gateway_key: `${p.id}:${operation}:${attemptNo}`,
      amount: 1000,
      idempotency_key: 'idem-1',
      created_at: this.date(0),
    };
  }
}
