import { describe, expect, it } from 'vitest';
import type { Runtime } from '../ports/clock.js';
import { MemoryStore } from '../store/memory/index.js';
import { startDeliveryWorker } from './delivery.js';
import type { SendResult } from './webhooks.js';

/** A store with one endpoint and `n` events of one payment, positioned and fanned out. */
async function setup(n: number, at: number) {
  const store = new MemoryStore();
  await store.insertMerchant({ id: 'mer_1', name: 'shop', keyHash: 'h', keyPrefix: 'sk' });
  await store.insertEndpoint({ id: 'we_1', merchantId: 'mer_1', url: 'https://receiver.example/h', eventTypes: null, status: 'enabled', secret: 'whsec_a', createdAt: new Date(at) });
  const p = await store.insertPayment({
    id: 'pay_1', merchant_id: 'mer_1', amount: 1000, currency: 'EUR', capture_method: 'automatic', status: 'processing', token: 'tok_visa',
    reference: null, metadata: {}, preferred_gateway: null, gateway: null, idempotency_key: 'k', created_at: new Date(at), updated_at: new Date(at),
  });
  for (let i = 1; i <= n; i++) {
    await store.insertEvent({ id: `evt_${i}`, type: 'payment.updated', merchantId: 'mer_1', paymentId: p.id, data: { i }, metadata: { merchant_id: 'mer_1' }, createdAt: new Date(at) });
  }
  await store.transaction((tx) => tx.positionEvents(new Date(at), 100));
  return store;
}

/** A clock the test moves, timers that never fire (the test drives the worker), no randomness. */
function manualRuntime(start: number): { runtime: Runtime; now: { t: number } } {
  const now = { t: start };
  return { now, runtime: { clock: { now: () => now.t }, timers: { after: () => () => {}, every: () => () => {} }, random: { bytes: (k) => new Uint8Array(k), float: () => 0 } } };
}

/** The store, with the size of every claim that leased something recorded. */
function countingClaims(store: MemoryStore): { store: MemoryStore; claims: number[] } {
  const claims: number[] = [];
  const counted = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'claimDeliveries') {
        return async (...args: Parameters<MemoryStore['claimDeliveries']>) => {
          const work = await target.claimDeliveries(...args);
          if (work.length > 0) claims.push(work.length);
          return work;
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { store: counted, claims };
}

/** The worker as `idem serve` runs it: lanes of 8, a 10 s send timeout inside a 12 s lease. */
function worker(store: MemoryStore, runtime: Runtime, send: (body: string, headers: Record<string, string>) => SendResult) {
  return startDeliveryWorker({
    store,
    runtime,
    intervalMs: 1000,
    leaseMs: 12_000,
    sendTimeoutMs: 10_000,
    laneSize: 8,
    transport: { send: async (_url, headers, body) => send(body, headers) },
  });
}

describe('the delivery worker sends lanes in order', () => {
  it('a payment\'s events go out one after another from one claim; a refusal holds the rest back until its retry, then all in order', async () => {
    const { runtime, now } = manualRuntime(Date.UTC(2030, 0, 1));
    const counted = countingClaims(await setup(5, now.t));
    const sent: string[] = [];
    let refuse = true;
    const w = worker(counted.store, runtime, (body, headers) => {
      const id = JSON.parse(body).id as string;
      sent.push(`${id}@${headers['webhook-id']}`);
      if (id === 'evt_3' && refuse) {
        refuse = false;
        return { kind: 'answered', status: 503 };
      }
      return { kind: 'answered', status: 204 };
    });
    await w.drain();
    // One claim: evt_1, evt_2 sent, evt_3 refused; evt_4 and evt_5 not sent, released.
    expect(sent).toEqual(['evt_1@evt_1', 'evt_2@evt_2', 'evt_3@evt_3']);
    expect(counted.claims).toEqual([5]);
    // Not before evt_3's retry is due.
    await w.drain();
    expect(sent).toHaveLength(3);
    now.t += 24 * 3600_000;
    await w.drain();
    expect(sent.slice(3)).toEqual(['evt_3@evt_3', 'evt_4@evt_4', 'evt_5@evt_5']);
    await w.stop();
  });

  it('a lane\u2019s successes are one write after the lane; a write lost mid-lane re-sends them as retries with the same webhook-id', async () => {
    const { runtime, now } = manualRuntime(Date.UTC(2030, 0, 1));
    const store = await setup(5, now.t);
    const writes: string[] = [];
    let lose = true;
    const watched = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'succeedDeliveries') {
          return async (...args: Parameters<MemoryStore['succeedDeliveries']>) => {
            writes.push(`succeed×${args[0].length}`);
            // The instance dies before the write lands: the leases stay.
            if (lose) throw new Error('connection lost');
            return target.succeedDeliveries(...args);
          };
        }
        if (prop === 'finishDelivery') writes.push('finish');
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const sent: string[] = [];
    const w = worker(watched, runtime, (body, headers) => {
      sent.push(`${JSON.parse(body).id as string}@${headers['webhook-id']}`);
      return { kind: 'answered', status: 204 };
    });
    await w.drain();
    expect(writes).toEqual(['succeed×5']);
    expect(sent).toHaveLength(5);
    // Nothing is claimable while the lane's leases last; after they end, all five again, in order, same ids.
    lose = false;
    await w.drain();
    expect(sent).toHaveLength(5);
    now.t += 12_001;
    await w.drain();
    expect(sent.slice(5)).toEqual(sent.slice(0, 5));
    expect(writes).toEqual(['succeed×5', 'succeed×5']);
    const rows = await store.listDeliveries('mer_1', { paymentId: 'pay_1' }, 10);
    expect(rows.map((r) => [r.state, r.attempts])).toEqual(Array.from({ length: 5 }, () => ['succeeded', 1]));
    await w.stop();
  });

  it('a lane stops when one more send would outlast its lease, and what it did not send is claimable at once', async () => {
    const { runtime, now } = manualRuntime(Date.UTC(2030, 0, 1));
    const store = await setup(4, now.t);
    const counted = countingClaims(store);
    const sent: string[] = [];
    const w = worker(counted.store, runtime, (body) => {
      sent.push(JSON.parse(body).id as string);
      now.t += 1_500; // a slow receiver: after two sends, a third might not fit in the lease
      return { kind: 'answered', status: 204 };
    });
    await w.drain();
    // Two sends in the first lane (3 s of 12), then the rest from a new claim; all in order.
    expect(sent).toEqual(['evt_1', 'evt_2', 'evt_3', 'evt_4']);
    expect(counted.claims).toEqual([4, 2]);
    expect(await store.claimDeliveries(now.t, 10, 1000, 10, new Map(), 8)).toEqual([]);
    await w.stop();
  });
});
