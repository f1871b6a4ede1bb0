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

describe('the delivery worker sends lanes in order', () => {
  it('a payment\'s events go out one after another from one claim; a refusal holds the rest back until its retry, then all in order', async () => {
    let now = Date.UTC(2030, 0, 1);
    const store = await setup(5, now);
    const runtime: Runtime = { clock: { now: () => now }, timers: { after: () => () => {}, every: () => () => {} }, random: { bytes: (k) => new Uint8Array(k), float: () => 0 } };
    const sent: string[] = [];
    let refuse = true;
    const claims: number[] = [];
    const counted = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'claimDeliveries') return (...args: Parameters<MemoryStore['claimDeliveries']>) => (claims.push(1), target.claimDeliveries(...args));
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const worker = startDeliveryWorker({
      store: counted,
      runtime,
      intervalMs: 1000,
      leaseMs: 12_000,
      sendTimeoutMs: 10_000,
      laneSize: 8,
      transport: {
        async send(_url, headers, body): Promise<SendResult> {
          const id = JSON.parse(body).id as string;
          sent.push(`${id}@${headers['webhook-id']}`);
          if (id === 'evt_3' && refuse) {
            refuse = false;
            return { kind: 'answered', status: 503 };
          }
          return { kind: 'answered', status: 204 };
        },
      },
    });
    await worker.drain();
    // One claim: evt_1, evt_2 sent, evt_3 refused; evt_4 and evt_5 not sent, released.
    expect(sent).toEqual(['evt_1@evt_1', 'evt_2@evt_2', 'evt_3@evt_3']);
    expect(claims.length).toBeLessThanOrEqual(2);
    // Not before evt_3's retry is due.
    await worker.drain();
    expect(sent).toHaveLength(3);
    now += 24 * 3600_000;
    await worker.drain();
    expect(sent.slice(3)).toEqual(['evt_3@evt_3', 'evt_4@evt_4', 'evt_5@evt_5']);
    await worker.stop();
  });

  it('a lane stops when one more send would outlast its lease, and what it did not send is claimable at once', async () => {
    let now = Date.UTC(2030, 0, 1);
    const store = await setup(4, now);
    const runtime: Runtime = { clock: { now: () => now }, timers: { after: () => () => {}, every: () => () => {} }, random: { bytes: (k) => new Uint8Array(k), float: () => 0 } };
    const sent: string[] = [];
    const lanes: number[] = [];
    const counted = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'claimDeliveries') {
          return async (...args: Parameters<MemoryStore['claimDeliveries']>) => {
            const work = await target.claimDeliveries(...args);
            if (work.length > 0) lanes.push(work.length);
            return work;
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const worker = startDeliveryWorker({
      store: counted,
      runtime,
      intervalMs: 1000,
      leaseMs: 12_000,
      sendTimeoutMs: 10_000,
      laneSize: 8,
      transport: {
        async send(_url, _headers, body): Promise<SendResult> {
          sent.push(JSON.parse(body).id as string);
          now += 1_500; // a slow receiver: after two sends, a third might not fit in the lease
          return { kind: 'answered', status: 204 };
        },
      },
    });
    await worker.drain();
    // Two sends in the first lane (3 s of 12), then the next lane from a new claim; all in order.
    expect(sent).toEqual(['evt_1', 'evt_2', 'evt_3', 'evt_4']);
    expect(lanes).toEqual([4, 2]);
    const pending = (await store.claimDeliveries(now, 10, 1000, 10, new Map(), 8)).length;
    expect(pending).toBe(0);
    await worker.stop();
  });
});
