import { describe, expect, it } from 'vitest';
import { virtualRuntime } from '../../test/support/virtualRuntime.js';
import { MemoryStore } from '../store/memory/index.js';
import { startSweeper } from './sweeper.js';

describe('the key sweeper', () => {
  it('deletes a backlog of expired keys in batches paced to its rate, and only expired keys', async () => {
    const start = Date.UTC(2030, 0, 1);
    const store = new MemoryStore();
    await store.insertMerchant({ id: 'mer_1', name: 'one', keyHash: 'h1', keyPrefix: 'sk_test' });
    const keys = (n: number, prefix: string, ttlMs: number) =>
      Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const key = `${prefix}-${i}`;
          const claim = await store.claimKey({ merchantId: 'mer_1', key, method: 'POST', path: '/v1/payments', fingerprint: 'f' }, start - 10_000, 30_000);
          if (claim.kind !== 'owned') throw new Error('not owned');
          await store.completeKey('mer_1', key, claim.fence, { status: 201, contentType: 'application/json', body: '{}' }, start - 10_000, ttlMs);
          return key;
        }),
      );
    const expired = await keys(1_200, 'old', 1_000);
    const live = await keys(10, 'new', 3_600_000);
    const left = async (ks: string[]) => (await Promise.all(ks.map((k) => store.readKey('mer_1', k)))).filter((r) => r !== null).length;

    const { runtime, advance } = virtualRuntime(start);
    // 500 keys a batch at 1,000 keys/s: a batch every 500 ms while the backlog lasts.
    const stop = startSweeper({ store, runtime, intervalMs: 60_000, ratePerSecond: 1_000, batch: 500 });
    await advance(59_999);
    expect(await left(expired)).toBe(1_200);
    await advance(1);
    expect(await left(expired)).toBe(700);
    await advance(499);
    expect(await left(expired)).toBe(700);
    await advance(1);
    expect(await left(expired)).toBe(200);
    await advance(500);
    expect(await left(expired)).toBe(0);
    expect(await left(live)).toBe(10);
    stop();
  });

  it('stops between batches when stopped', async () => {
    const start = Date.UTC(2030, 0, 1);
    const store = new MemoryStore();
    await store.insertMerchant({ id: 'mer_1', name: 'one', keyHash: 'h1', keyPrefix: 'sk_test' });
    for (let i = 0; i < 30; i++) {
      const claim = await store.claimKey({ merchantId: 'mer_1', key: `k${i}`, method: 'POST', path: '/v1/payments', fingerprint: 'f' }, start - 10_000, 30_000);
      if (claim.kind === 'owned') await store.completeKey('mer_1', `k${i}`, claim.fence, { status: 201, contentType: 'application/json', body: '{}' }, start - 10_000, 1_000);
    }
    const { runtime, advance } = virtualRuntime(start);
    const stop = startSweeper({ store, runtime, intervalMs: 1_000, ratePerSecond: 10, batch: 10 });
    await advance(1_000);
    stop();
    await advance(10_000);
    let n = 0;
    for (let i = 0; i < 30; i++) if (await store.readKey('mer_1', `k${i}`)) n++;
    expect(n).toBe(20);
  });
});
