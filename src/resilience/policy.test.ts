import { describe, expect, it } from 'vitest';
import { staticPolicy, type NotProcessed } from './policy.js';

const answer = (o: Partial<NotProcessed> = {}): NotProcessed => ({ gateway: 'alpha', operation: 'authorize', reason: '503', ...o });

describe('staticPolicy', () => {
  it('gives 2 tries per gateway, 50 ms doubling between them, never shorter than Retry-After', () => {
    const p = staticPolicy();
    expect(p.triesPerGateway).toBe(2);
    expect([1, 2, 3].map((n) => p.backoff(n, answer()))).toEqual([50, 100, 200]);
    expect(p.backoff(1, answer({ retryAfterMs: 5_000 }))).toBe(5_000);
    expect(staticPolicy({ triesPerGateway: 3, baseMs: 10 }).backoff(2, answer())).toBe(20);
  });

  it('fails over in the order given, and has nowhere to go after the last gateway', () => {
    const p = staticPolicy();
    const order = ['beta', 'alpha', 'gamma'];
    expect(p.nextGateway(answer({ gateway: 'beta' }), order)).toBe('alpha');
    expect(p.nextGateway(answer({ gateway: 'alpha' }), order)).toBe('gamma');
    expect(p.nextGateway(answer({ gateway: 'gamma' }), order)).toBeNull();
  });

  it('defers to the relay for ten times the last backoff, at most 60 s', () => {
    const p = staticPolicy();
    expect(p.deferMs(100)).toBe(1_000);
    expect(p.deferMs(30_000)).toBe(60_000);
  });
});
