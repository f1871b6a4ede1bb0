import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stepUntil } from '../../test/support/bounded.js';
import { seededRandom } from '../ports/seeded.js';
import { RetryBudget } from './budget.js';
import { RetrySensitivity } from './sensitivity.js';

describe('RetryBudget', () => {
  it('never lets retries exceed the floor plus the ratio of first tries (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 500 })), { maxLength: 400 }), (events) => {
        const b = new RetryBudget(0, 0.2, 3, 10_000);
        let t = 0;
        for (const [first, gap] of events) {
          t += gap;
          if (first) b.recordFirst(t);
          else b.tryRetry(t);
          const u = b.usage(t);
          if (u.retries > u.allowed + 1e-9) return false;
        }
        return true;
      }),
    );
  });

  it('allows the floor on a quiet gateway and a fifth of the traffic on a busy one', () => {
    const quiet = new RetryBudget(0);
    expect([1, 2, 3, 4].map(() => quiet.tryRetry(0))).toEqual([true, true, true, false]);
    const busy = new RetryBudget(0);
    for (let i = 0; i < 100; i++) busy.recordFirst(0);
    let refused = false;
    const granted = stepUntil('the busy budget refuses a retry', () => refused, () => (refused = !busy.tryRetry(0)), 1_000) - 1;
    expect(granted).toBe(23);
  });

  it('refills as time passes', () => {
    const b = new RetryBudget(0);
    let refused = false;
    stepUntil('the budget refuses a retry', () => refused, () => (refused = !b.tryRetry(0)), 1_000);
    expect(b.tryRetry(100)).toBe(false);
    expect(b.tryRetry(30_000)).toBe(true);
  });
});

describe('RetrySensitivity', () => {
  it('learns that one gateway clears in 200 ms and another only after seconds', () => {
    const fast = new RetrySensitivity(0);
    const slow = new RetrySensitivity(0);
    const r = seededRandom(3);
    let t = 0;
    for (let i = 0; i < 300; i++) {
      t += 50;
      // Explore as the policy would: each learner picks its own best delay, then sees the truth.
      const df = fast.bestDelay(0, 20).delayMs;
      fast.observe(t, df, df >= 200 ? r.float() < 0.97 : r.float() < 0.1);
      const ds = slow.bestDelay(0, 20).delayMs;
      slow.observe(t, ds, ds >= 3200 ? r.float() < 0.9 : r.float() < 0.02);
    }
    expect(fast.bestDelay(0, 20).delayMs).toBe(200);
    expect(slow.bestDelay(0, 20).delayMs).toBe(3200);
  });

  it('never picks a delay shorter than Retry-After (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 1, max: 5000 }), (retryAfter, latency) => {
        return new RetrySensitivity(0).bestDelay(retryAfter, latency).delayMs >= retryAfter;
      }),
    );
  });

  it('starts from its prior: the shortest delay, success ½', () => {
    expect(new RetrySensitivity(0).bestDelay(0, 20)).toMatchObject({ delayMs: 25, success: 0.5 });
  });
});
